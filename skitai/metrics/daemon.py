"""``skitai.metrics.daemon:main(ctx)``: a Prometheus exporter (``prometheus_client``) of
what the master knows, on its own port, bound to 127.0.0.1 unless told otherwise.

Each scrape asks the master for its status over the daemon's channel (``ctx.ask``): the
master reads the shared memory (per process: requests served, open connections) and
psutil (RSS, CPU seconds) and adds what it supervises (state, restarts).  The daemons'
own status lines (``ctx.status``: smtpda's and the spooler's queue depths) become
``skitai_daemon_info{role, key}`` gauges, and each ``skitai.addlu()`` key's age a
``skitai_lu_age_seconds{key}`` gauge.  The exporter is one more daemon on the public
interface: nothing in the master knows it.

Options: ``port`` (9100), ``address`` (127.0.0.1).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from skitai.config import parse
from skitai.daemons.context import DaemonContext, MasterGone

STATES = ("STARTING", "RUNNING", "BACKOFF", "STOPPING", "EXITED", "FATAL", "STOPPED")


class MasterCollector:
    def __init__(self, ctx: DaemonContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        try:
            data = self.ctx.ask({"op": "status"}, timeout=5.0)
        except MasterGone:
            return
        labels = ["role", "slot", "pid"]
        requests = CounterMetricFamily("skitai_process_requests", "Requests started", labels=labels)
        conns = GaugeMetricFamily("skitai_process_connections", "Open connections", labels=labels)
        rss = GaugeMetricFamily("skitai_process_rss_bytes", "Resident memory", labels=labels)
        cpu = CounterMetricFamily("skitai_process_cpu_seconds", "CPU time (user + system)",
                                  labels=labels)
        restarts = CounterMetricFamily("skitai_process_restarts", "Restarts of this place",
                                       labels=["role", "slot"])
        state = GaugeMetricFamily("skitai_process_state", "1 for the state the process is in",
                                  labels=["role", "slot", "state"])
        info = GaugeMetricFamily("skitai_daemon_info", "Numbers a daemon reports (queue depths)",
                                 labels=["role", "slot", "key"])
        for row in data.get("processes", []):
            slot = "" if row.get("slot") is None else str(row["slot"])
            role, pid = str(row.get("role")), str(row.get("pid") or "")
            requests.add_metric([role, slot, pid], float(row.get("requests") or 0))
            conns.add_metric([role, slot, pid], float(row.get("connections") or 0))
            rss.add_metric([role, slot, pid], float(row.get("rss") or 0))
            cpu.add_metric([role, slot, pid], float(row.get("cpu") or 0))
            restarts.add_metric([role, slot], float(row.get("restarts") or 0))
            for name in STATES:
                state.add_metric([role, slot, name], 1.0 if row.get("state") == name else 0.0)
            extra = row.get("info")
            if isinstance(extra, dict):
                for key, value in extra.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        info.add_metric([role, slot, str(key)], float(value))
        yield from (requests, conns, rss, cpu, restarts, state, info)
        keys = getattr(self.ctx.server_config, "lu_keys", ())
        if keys:
            age = GaugeMetricFamily("skitai_lu_age_seconds", "Seconds since was.setlu(key)",
                                    labels=["key"])
            now = time.time()
            for key in keys:
                age.add_metric([key], max(0.0, now - self.ctx.getlu(key)))
            yield age


def main(ctx: DaemonContext) -> int:
    from prometheus_client import CollectorRegistry, start_http_server

    port = parse.port(ctx.config.get("port", 9100))
    address = str(ctx.config.get("address", "127.0.0.1"))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MasterCollector(ctx))
    server, thread = start_http_server(port, addr=address, registry=registry)
    ctx.log.info("metrics: serving http://%s:%d/metrics", address, server.server_port)
    ctx.status(f"http://{address}:{server.server_port}/metrics")
    ctx.wait()
    server.shutdown()
    thread.join(5.0)
    return 0
