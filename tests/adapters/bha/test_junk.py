"""Property-based: structured junk thrown at the bha adapter is only ever refused cleanly."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError
from adapters.bha import BhaAdapter
from tests.adapters.bha.samples import CSV_ROWS, part2_record, to_csv
from tests.adapters.kit import convert_all

ADAPTER = BhaAdapter()
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.just("x" * 20_001),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(part2_record())


def _refused_cleanly(payload: bytes, media_type: str) -> None:
    try:
        convert_all(ADAPTER, payload, media_type)
    except AdapterError as exc:
        assert exc.message and str(exc)


@SETTINGS
@given(value=json_values)
def test_any_json_value(value: Any) -> None:
    _refused_cleanly(json.dumps(value).encode(), "application/json")
    _refused_cleanly(json.dumps({"records": [value]}).encode(), "application/json")


@SETTINGS
@given(path=st.sampled_from(PATHS), value=json_values, remove=st.booleans())
def test_a_real_record_with_one_field_broken(
    path: tuple[Any, ...], value: Any, remove: bool
) -> None:
    rec = part2_record()
    node: Any = rec
    for key in path[:-1]:
        node = node[key]
    if remove:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    _refused_cleanly(json.dumps(rec).encode(), "application/json")


@SETTINGS
@given(
    index=st.integers(0, len(CSV_ROWS) - 1),
    column=st.sampled_from(sorted({k for r in CSV_ROWS for k in r})),
    text=st.text(max_size=200),
)
def test_a_csv_with_one_cell_replaced(index: int, column: str, text: str) -> None:
    rows = [dict(r) for r in CSV_ROWS]
    rows[index][column] = text
    with contextlib.suppress(UnicodeEncodeError):
        _refused_cleanly(to_csv(*rows), "text/csv")
