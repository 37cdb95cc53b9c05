"""The searchable copy of each event: an ``AuditEvent`` resource in the FHIR store.

The leaf in ``audit_leaf`` is the record; the copy only serves ``GET /fhir/AuditEvent``. It is made
by the sequencer, in the transaction that gives the event its log index, for a whole batch at a
time, so a request pays for its leaf only (one INSERT) and the copy follows within a sequencing
interval. The rows are those ``gateway.fhir.repository.ResourceRepository`` writes for a create
(``insert``, ``add_version``, ``replace_index``), batched, without the index DELETEs a new resource
never needs; the index values come from ``gateway.fhir.indexing.extract``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from gateway.audit.events import instant
from gateway.db.tables import (
    DateIndex,
    QuantityIndex,
    ReferenceIndex,
    ResourceRow,
    ResourceVersionRow,
    StringIndex,
    TokenIndex,
)
from gateway.fhir import indexing

RESOURCE = ResourceRow.__table__  # type: ignore[attr-defined]
VERSION = ResourceVersionRow.__table__  # type: ignore[attr-defined]
RTYPE = "AuditEvent"


def insert_copies(session: Session, bodies: Sequence[bytes], fhir_base: str = "") -> None:
    """Store each canonical event in ``bodies`` as an AuditEvent resource with its index rows."""
    if not bodies:
        return
    now = time.time()
    stamp = instant(datetime.fromtimestamp(now, UTC))
    docs = []
    for body in bodies:
        doc = orjson.loads(body)
        doc["meta"] = {"versionId": "1", "lastUpdated": stamp}
        docs.append(doc)
    contents = [orjson.dumps(doc).decode() for doc in docs]
    ids = [str(doc["id"]) for doc in docs]
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        pks = list(session.execute(_PG_NEXT_PKS, {"n": len(docs)}).scalars())
        rows = [("AuditEvent", rid, 1, False, now, c) for rid, c in zip(ids, contents, strict=True)]
        _pg_copy(session, "fhir_resource", ("pk", *_RESOURCE_COLUMNS), pks, rows)
    else:
        values = [
            dict(zip(_RESOURCE_COLUMNS, ("AuditEvent", rid, 1, False, now, c), strict=True))
            for rid, c in zip(ids, contents, strict=True)
        ]
        pks = list(
            session.execute(
                insert(RESOURCE).returning(RESOURCE.c.pk, sort_by_parameter_order=True), values
            ).scalars()
        )
    versions = [
        ("AuditEvent", rid, 1, "POST", False, now, c) for rid, c in zip(ids, contents, strict=True)
    ]
    index: dict[str, list[tuple[Any, ...]]] = {name: [] for name, _ in _INDEXES}
    index_pks: dict[str, list[int]] = {name: [] for name, _ in _INDEXES}
    for pk, doc in zip(pks, docs, strict=True):
        found = indexing.extract(doc, fhir_base)
        groups = (found.tokens, found.strings, found.dates, found.references, found.quantities)
        for (name, _columns), group in zip(_INDEXES, groups, strict=True):
            index[name].extend(("AuditEvent", *row) for row in group)
            index_pks[name].extend([pk] * len(group))
    if postgres:
        _pg_copy(session, "fhir_resource_version", ("res_pk", *_VERSION_COLUMNS), pks, versions)
        for name, columns in _INDEXES:
            _pg_copy(session, name, ("res_pk", "rtype", *columns), index_pks[name], index[name])
        return
    session.execute(
        insert(VERSION),
        [
            dict(zip(("res_pk", *_VERSION_COLUMNS), (pk, *v), strict=True))
            for pk, v in zip(pks, versions, strict=True)
        ],
    )
    for name, columns in _INDEXES:
        if index[name]:
            keys = ("res_pk", "rtype", *columns)
            params = [
                dict(zip(keys, (pk, *r), strict=True))
                for pk, r in zip(index_pks[name], index[name], strict=True)
            ]
            session.execute(insert(_TABLES[name]), params)


def _pg_copy(
    session: Session,
    table: str,
    columns: tuple[str, ...],
    pks: Sequence[int],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """COPY rows into ``table`` on the session's own connection (same transaction)."""
    if not rows:
        return
    raw = session.connection().connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):  # type: ignore[union-attr]
        for pk, row in zip(pks, rows, strict=True):
            copy.write_row((pk, *row))


_RESOURCE_COLUMNS = ("rtype", "res_id", "version", "deleted", "last_updated", "content")
_VERSION_COLUMNS = ("rtype", "res_id", "version", "method", "deleted", "last_updated", "content")
_INDEXES = (
    ("idx_token", ("param", "system", "code")),
    ("idx_string", ("param", "norm", "exact")),
    ("idx_date", ("param", "low", "high")),
    ("idx_reference", ("param", "target_type", "target_id", "url")),
    ("idx_quantity", ("param", "value", "system", "code")),
)
_TABLES = {
    "idx_token": TokenIndex.__table__,  # type: ignore[attr-defined]
    "idx_string": StringIndex.__table__,  # type: ignore[attr-defined]
    "idx_date": DateIndex.__table__,  # type: ignore[attr-defined]
    "idx_reference": ReferenceIndex.__table__,  # type: ignore[attr-defined]
    "idx_quantity": QuantityIndex.__table__,  # type: ignore[attr-defined]
}
_PG_NEXT_PKS = text(
    "SELECT nextval(pg_get_serial_sequence('fhir_resource', 'pk')) FROM generate_series(1, :n)"
)
