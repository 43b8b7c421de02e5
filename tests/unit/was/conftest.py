from __future__ import annotations

from collections.abc import Iterator

import pytest

import skitai
from skitai import api
from skitai.was import process, rcache, targets


@pytest.fixture(autouse=True)
def fresh_was() -> Iterator[None]:
    """Each test declares its own aliases; the result cache starts empty."""
    api.reset()
    targets.configure(None)
    rcache.get_cache().clear()
    yield
    api.reset()
    process.reset()
    rcache.get_cache().clear()


@pytest.fixture
def alias():
    return skitai.alias
