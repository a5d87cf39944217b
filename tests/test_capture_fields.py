"""``_fields.loads``: msgspec where it can, and always exactly what ``json.loads`` gives."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spendtag.capture._fields import loads

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_same_as_json_loads_for_any_document(value: object) -> None:
    raw = json.dumps(value)
    assert loads(raw.encode()) == json.loads(raw) and loads(raw) == json.loads(raw)


@pytest.mark.parametrize("raw", [b'{"a":NaN}', b'{"a":1.5e400}', b'{"a":"\\ud800"}', b'\xef\xbb\xbf{"a":1}',
                                 '{"a":1}'.encode("utf-16")])
def test_what_msgspec_refuses_json_loads_decides(raw: bytes) -> None:
    got, want = loads(raw), json.loads(raw)
    if isinstance(want["a"], float) and math.isnan(want["a"]):
        assert math.isnan(got["a"])
    else:
        assert got == want


@pytest.mark.parametrize("raw", [b'{"a":1} x', b"[1,]", b'{"a":"x\ny"}', b"\xff"])
def test_malformed_is_the_error_json_loads_raises(raw: bytes) -> None:
    with pytest.raises(ValueError) as want:
        json.loads(raw)
    with pytest.raises(type(want.value)):
        loads(raw)
