from __future__ import annotations

import pytest

from skitai.saddle.params import Binder, ParameterError


def episode(was, id, topic="none"):  # noqa: ANN001, ANN201
    return id


def form(was, name, **form):  # noqa: ANN001, ANN003, ANN201
    return name


def test_url_and_query() -> None:
    b = Binder(episode, ["id"])
    assert b.bind({"id": 1}, None, None) == {"id": 1}
    assert b.bind({"id": 1}, {"topic": "py"}, None) == {"id": 1, "topic": "py"}
    with pytest.raises(ParameterError, match="unexpected query parameter.*other"):
        b.bind({"id": 1}, {"other": "x"}, None)


def test_body_fields_by_name_or_karg() -> None:
    b = Binder(form, [])
    assert b.bind({}, None, {"name": "a", "c": 1}) == {"name": "a", "c": 1}
    with pytest.raises(ParameterError, match="missing parameter.*name"):
        b.bind({}, None, {"c": 1})
    e = Binder(episode, ["id"])
    assert e.bind({"id": 1}, None, {"topic": "t", "ignored": 1}) == {"id": 1, "topic": "t"}


def test_url_parameter_the_view_does_not_take() -> None:
    with pytest.raises(TypeError, match="does not take the URL parameter"):
        Binder(lambda was, name: name, ["id"])


def test_build_args_positional_in_order() -> None:
    assert Binder(episode, ["id"]).build_args((7, "x"), {}) == {"id": 7, "topic": "x"}
    with pytest.raises(TypeError):
        Binder(episode, ["id"]).build_args((7,), {"id": 8})
