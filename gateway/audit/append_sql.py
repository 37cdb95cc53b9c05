"""One round trip per append on PostgreSQL: the leaf and its patient links in one statement of
data-modifying CTEs (each runs exactly once, whether or not the final query reads it). A read's
append sends the same statement on the raw psycopg connection, in one pipeline with its COMMIT."""

from __future__ import annotations

import re
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


@cache
def psycopg_statement(patients: int) -> str:
    """:func:`_statement` with psycopg's ``%(name)s`` placeholders, for the raw connection."""
    return re.sub(r":(\w+)", r"%(\1)s", str(_statement(patients)))


def append_statement(body: bytes, fields: LeafFields) -> tuple[TextClause, dict[str, Any]]:
    """The single PostgreSQL statement for one append, and its parameters."""
    params: dict[str, Any] = {"body": body, **fields.columns()}
    for i, patient in enumerate(fields.patients):
        params[f"p{i}"] = patient
    return _statement(len(fields.patients)), params
