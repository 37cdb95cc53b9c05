"""One round trip per append on PostgreSQL: the leaf and its patient links in one statement of
data-modifying CTEs (each runs exactly once, whether or not the final query reads it); and the same
for psycopg directly (:data:`BATCH_SQL`, any number of events, the rows passed as arrays), which a
read's append sends in one pipeline with its COMMIT."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import TextClause, text

from gateway.audit.fields import LeafFields

_LEAF_COLUMNS = (
    "event_id",
    "recorded",
    "body",
    "kind",
    "action",
    "outcome",
    "agency",
    "client_id",
    "username",
    "purpose",
    "disclosure",
    "recipient",
    "what",
)


@cache
def _statement(patients: int) -> TextClause:
    values = ", ".join(f":{c}" for c in _LEAF_COLUMNS)
    leaf = f"INSERT INTO audit_leaf ({', '.join(_LEAF_COLUMNS)}) VALUES ({values})"
    if not patients:
        return text(leaf)
    links = ", ".join(f"(CAST(:p{i} AS text))" for i in range(patients))
    return text(
        f"WITH l AS ({leaf} RETURNING seq) INSERT INTO audit_patient (seq, patient) "
        f"SELECT l.seq, x.p FROM l, (VALUES {links}) AS x(p)"
    )


def append_statement(body: bytes, fields: LeafFields) -> tuple[TextClause, dict[str, Any]]:
    """The single PostgreSQL statement for one append, and its parameters."""
    params: dict[str, Any] = {"body": body, **fields.columns()}
    for i, patient in enumerate(fields.patients):
        params[f"p{i}"] = patient
    return _statement(len(fields.patients)), params


_TYPES = ("text", "float8", "bytea", "text", "text", "text", "text", "text", "text", "text")
_TYPES += ("bool", "text", "text")
_BATCH_COLUMNS = (
    "event_id",
    "recorded",
    "body",
    "kind",
    "action",
    "outcome",
    "agency",
    "client_id",
    "username",
    "purpose",
    "disclosure",
    "recipient",
    "what",
)
# psycopg placeholders: the leaves' columns as arrays, then the (event id, patient) links.
BATCH_SQL = (
    f"WITH l AS (INSERT INTO audit_leaf ({', '.join(_BATCH_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"%s::{t}[]" for t in _TYPES)
    + ") RETURNING seq, event_id) INSERT INTO audit_patient (seq, patient) "
    "SELECT l.seq, x.p FROM l JOIN unnest(%s::text[], %s::text[]) AS x(e, p) ON x.e = l.event_id"
)


def batch_params(items: list[tuple[bytes, LeafFields]]) -> list[Any]:
    """The parameters of :data:`BATCH_SQL` for ``items`` (one array per column)."""
    rows = [{"body": body, **fields.columns()} for body, fields in items]
    params: list[Any] = [[row[c] for row in rows] for c in _BATCH_COLUMNS]
    links = [(fields.event_id, p) for _, fields in items for p in fields.patients]
    params.append([e for e, _ in links])
    params.append([p for _, p in links])
    return params
