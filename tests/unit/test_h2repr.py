"""skitai.h2repr: hyperframe's payload repr, the same string at a fraction of the cost."""

from __future__ import annotations

import hyperframe.frame
import pytest
from hyperframe.frame import DataFrame

from skitai import h2repr


@pytest.mark.parametrize("data", [b"", b"a", b"0123456789", b"0123456789a", b"0123456789ab",
                                  b"\x00\xff" * 8192, bytes(range(256))])
def test_same_string_as_hyperframes_own(data: bytes) -> None:
    assert h2repr._original is not None  # the hyperframe this project pins has it
    assert h2repr.raw_data_repr(data) == h2repr._original(data)


def test_installed_for_frame_reprs() -> None:
    assert hyperframe.frame._raw_data_repr is h2repr.raw_data_repr
    frame = DataFrame(1, b"x" * 16384)
    assert repr(frame).endswith("<hex:78787878787878787878...>")
