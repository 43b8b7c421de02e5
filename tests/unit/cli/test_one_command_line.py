"""Issue 10 item 12: one command-line library (click) behind ``python app.py``, ``skitai``,
smtpda and cron; one spelling of the config option (``-f/--config``) everywhere; one
status line format; plain usage for ``python app.py --help``."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from skitai import cli
from skitai.cron import main as cron_main
from skitai.smtpda import main as smtpda_main


def _help(command: click.Command, name: str) -> str:
    with click.Context(command, info_name=name) as ctx:
        return command.get_help(ctx)


def test_app_help_is_plain_usage() -> None:
    text = cli.app_help()
    assert text.startswith("Usage: python app.py [OPTIONS] [COMMAND [ARGS]]")
    assert "``" not in text and ".. " not in text  # no raw reStructuredText
    assert "-f, --config FILE" in text and "daemon NAME start|stop|restart|status" in text


@pytest.mark.parametrize("command", [smtpda_main._command(), cron_main._command(),
                                     cli.build_cli().commands["daemon"],
                                     cli.build_cli().commands["status"]],
                         ids=["smtpda", "cron", "daemon", "status"])
def test_every_command_spells_the_config_option_the_same(command: click.Command) -> None:
    text = _help(command, "x")
    assert "-f, --config FILE" in text
    assert "--conf " not in text and "CONFIG" not in text and "CONF " not in text


def test_the_skitai_group_lists_the_daemon_command() -> None:
    result = CliRunner().invoke(cli.build_cli(), ["--help"])
    assert result.exit_code == 0
    for name in ("daemon", "smtpda", "cron", "status", "start"):
        assert f"  {name}" in result.output


def test_one_status_line_format() -> None:
    assert cli.status_line("cron", "RUNNING", 12) == "cron: running (pid 12)"
    assert cli.status_line("smtpda", "STOPPED", None, "exit 0") == "smtpda: stopped, last exit 0"
    assert cli.status_line("ticker", "FATAL", None) == "ticker: fatal"


def test_smtpda_and_cron_parsers_report_usage_errors_with_code_2() -> None:
    assert smtpda_main.cli_main(["bogus"]) == 2
    assert cron_main.cli_main(["--nope"]) == 2
