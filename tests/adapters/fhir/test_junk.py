"""Property-based: junk pushed as FHIR is only ever refused with an AdapterError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.base import AdapterError
from adapters.fhir import FhirAdapter
from tests.adapters.fhir.samples import transaction
from tests.adapters.kit import convert_all

ADAPTER = FhirAdapter()
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["Patient", "Bundle", "transaction", "urn:uuid:x", "Patient/1", "PUT", "#a"]),
    st.just("x" * 20_001),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["resourceType", "id", "reference", "entry", "resource", "meta", "type"]
            )
            | st.text(max_size=8),
            inner,
            max_size=4,
        )
    ),
    max_leaves=25,
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


PATHS = _paths(transaction())


def _refused_cleanly(payload: bytes) -> None:
    try:
        convert_all(ADAPTER, payload, "application/fhir+json")
    except AdapterError as exc:
        assert exc.message and str(exc)


@SETTINGS
@given(value=json_values)
def test_any_json_value(value: Any) -> None:
    _refused_cleanly(json.dumps(value).encode())
    _refused_cleanly(
        json.dumps({"resourceType": "Bundle", "type": "batch", "entry": value}).encode()
    )


@SETTINGS
@given(path=st.sampled_from(PATHS), value=json_values, remove=st.booleans())
def test_a_real_push_with_one_field_broken(path: tuple[Any, ...], value: Any, remove: bool) -> None:
    bundle = transaction()
    node: Any = bundle
    for key in path[:-1]:
        node = node[key]
    if remove:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    _refused_cleanly(json.dumps(bundle).encode())


def test_deep_nesting_is_refused_or_converted_without_recursion_errors() -> None:
    depth = 450
    deep = '{"extension": [' * depth + '{"reference": "Patient/1"}' + "]}" * depth
    resource = (
        '{"resourceType": "Basic", "meta": {"lastUpdated": "2024-01-01T00:00:00Z"}, "x": '
        + deep
        + "}"
    )
    _refused_cleanly(resource.encode())
    _refused_cleanly(b"[" * 100_000 + b"]" * 100_000)
