"""What a pushed record may ask of the store: the conditional parts of an ingest transaction
(``ifNoneExist``, conditional references ``Type?search``; FHIR R4 http.html#cond-update,
bundle.html#references) match the sending agency's own records only.

An ingest transaction is written beneath the sharing rules (the sender's registration and scopes are
checked before it). Matched against the whole store, a POST whose ``ifNoneExist`` names another
agency's 42 CFR Part 2 record came back ``200 OK`` with that record's id, a conditional reference
resolved to it (and the sender could read the id back from its own record), and several matches
came back as a 412: each told the sender that a record it may not see exists. Matched against the
sender's own records, a question about anyone else's record is answered as a question about
nothing. Reads and writes are not narrowed: the pipeline still links people across agencies.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Table, exists

from gateway.db.tables import TokenIndex
from gateway.fhir.guard import OpenGuard

TOK = TokenIndex.__table__  # type: ignore[attr-defined]


class OwnRecordsOnly(OpenGuard):
    """Searches inside an ingest transaction see only resources whose ``meta.source`` is the
    sender's (the gateway sets it on everything an agency writes)."""

    def __init__(self, source_uri: str) -> None:
        self.source_uri = source_uri

    def search_filter(
        self, rtype: str, table: Table, candidates: Sequence[ColumnElement[bool]] = ()
    ) -> list[ColumnElement[bool]]:
        return [
            exists().where(
                TOK.c.res_pk == table.c.pk,
                TOK.c.rtype == rtype,
                TOK.c.param == "_source",
                TOK.c.code == self.source_uri,
            )
        ]
