"""Resource interactions (FHIR R4 http.html): read, vread, create, update, patch, delete, history.

Every write validates once, stamps ``meta``, checks local references, stores the new version and
re-indexes it, all in the caller's transaction. Services never commit; the request boundary does.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from sqlalchemy.orm import Session

from gateway.db.tables import ResourceRow
from gateway.fhir import indexing
from gateway.fhir.dates import instant_now
from gateway.fhir.errors import (
    Conflict,
    Gone,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
)
from gateway.fhir.guard import OPEN, Guard
from gateway.fhir.model import is_supported, validate
from gateway.fhir.patch import apply_patch
from gateway.fhir.repository import ResourceRepository
from gateway.fhir.resource_rules import (
    _SERVER_META,
    CONDITIONAL_REF_RE,
    ID_RE,
    Labeller,
    Stored,
    _comparable,
    check_id,
    check_type,
    iter_references,
    parse_etag,
)
from gateway.fhir.search import SearchResult, SearchRunner
from gateway.fhir.search_parse import SearchRequest, parse


class ResourceService:
    """FHIR interactions on one database session."""

    def __init__(
        self,
        session: Session,
        base_url: str,
        *,
        default_count: int = 50,
        max_count: int = 1000,
        labeller: Labeller | None = None,
        guard: Guard = OPEN,
    ) -> None:
        self.guard = guard
        self.session = session
        self.repo = ResourceRepository(session)
        self.base_url = base_url
        self.default_count = default_count
        self.max_count = max_count
        self.labeller = labeller
        # Inside a transaction Bundle, reference checks wait until every entry is written.
        self.deferred_refs: list[tuple[str, str, str]] | None = None
        # Every version this service wrote (ingest reports "unchanged" when a resend wrote none).
        self.written: list[Stored] = []

    # ---- reads -------------------------------------------------------------------------------
    def read(self, rtype: str, rid: str) -> Stored:
        check_type(rtype)
        found = self.repo.current_content(rtype, rid)
        if found is None:
            raise NotFound(f"{rtype}/{rid} is not known")
        version, deleted, ts, content = found
        if deleted:
            raise Gone(f"{rtype}/{rid} was deleted", headers={"ETag": f'W/"{version}"'})
        return Stored(
            rtype, rid, version, ts, self.guard.check_read(rtype, rid, content or "{}", "read")
        )

    def vread(self, rtype: str, rid: str, version: int) -> Stored:
        check_type(rtype)
        row = self.repo.version(rtype, rid, version)
        if row is None:
            raise NotFound(f"{rtype}/{rid} has no version {version}")
        if row.deleted:
            raise Gone(f"version {version} of {rtype}/{rid} is a deletion")
        shown = self.guard.check_read(rtype, rid, row.content or "{}", "read")
        return Stored(rtype, rid, row.version, row.last_updated, shown)

    def parse_search(
        self, rtype: str, items: list[tuple[str, str]], *, strict: bool = False
    ) -> SearchRequest:
        check_type(rtype)
        return parse(
            rtype, items, default_count=self.default_count, max_count=self.max_count, strict=strict
        )

    def search(self, req: SearchRequest) -> SearchResult:
        return SearchRunner(self.session, self.base_url, self.guard).run(req)

    def match_ids(self, rtype: str, query: list[tuple[str, str]], what: str) -> list[str]:
        """Ids of (at most two) live resources matching a conditional interaction's criteria."""
        req = self.parse_search(rtype, query, strict=True)
        if not req.criteria:
            raise InvalidRequest(f"{what} needs at least one search parameter", code="required")
        req.count, req.total, req.includes, req.revincludes = 2, "none", [], []
        return [hit.rid for hit in self.search(req).hits]

    def find_existing(self, rtype: str, if_none_exist: str) -> Stored | None:
        """The one resource an ``If-None-Exist`` query matches, None if none; 412 if several."""
        query = parse_qsl(if_none_exist.split("?", 1)[-1], keep_blank_values=True)
        try:
            ids = self.match_ids(rtype, query, "If-None-Exist")
        except InvalidRequest as exc:
            raise InvalidRequest(
                f"If-None-Exist: {exc.diagnostics}", expression="If-None-Exist", code=exc.code
            ) from None
        if len(ids) > 1:
            raise PreconditionFailed(
                "If-None-Exist matched more than one resource", expression="If-None-Exist"
            )
        if not ids:
            return None
        existing = self.read(rtype, ids[0])
        existing.changed = False
        return existing

    # ---- writes ------------------------------------------------------------------------------
    def create(
        self,
        rtype: str,
        body: dict[str, Any],
        *,
        if_none_exist: str | None = None,
        rid: str | None = None,
    ) -> Stored:
        """Create with a server-assigned id (``rid`` only for ids a transaction assigned)."""
        check_type(rtype)
        self._check_body_type(rtype, body)
        if if_none_exist is not None:
            existing = self.find_existing(rtype, if_none_exist)
            if existing is not None:
                return existing
        return self._write(rtype, rid or str(uuid.uuid4()), body, method="POST", row=None)

    def update(
        self, rtype: str, rid: str, body: dict[str, Any], *, if_match: str | None = None
    ) -> Stored:
        check_type(rtype)
        check_id(rid)
        self._check_body_type(rtype, body)
        if body.get("id") != rid:
            raise InvalidRequest(
                "the resource id in the body must equal the id in the URL", expression=f"{rtype}.id"
            )
        row = self.repo.current(rtype, rid, for_update=True)
        self._check_version(row, rtype, rid, if_match)
        return self._write(rtype, rid, body, method="PUT", row=row)

    def conditional_update(
        self,
        rtype: str,
        query: list[tuple[str, str]],
        body: dict[str, Any],
        *,
        if_match: str | None,
    ) -> Stored:
        check_type(rtype)
        ids = self.match_ids(rtype, query, "a conditional update")
        if len(ids) > 1:
            raise PreconditionFailed("the conditional update matched more than one resource")
        if ids:
            if body.get("id") not in (None, ids[0]):
                raise InvalidRequest(
                    "the id in the body differs from the resource the condition matched",
                    expression=f"{rtype}.id",
                )
            return self.update(rtype, ids[0], {**body, "id": ids[0]}, if_match=if_match)
        rid = body.get("id")
        if rid is None:
            return self.create(rtype, body)
        return self.update(rtype, str(rid), body, if_match=if_match)

    def patch(
        self, rtype: str, rid: str, operations: Any, *, if_match: str | None = None
    ) -> Stored:
        check_type(rtype)
        row = self.repo.current(rtype, rid, for_update=True)
        if row is None:
            raise NotFound(f"{rtype}/{rid} is not known")
        if row.deleted or row.content is None:
            raise Gone(f"{rtype}/{rid} was deleted")
        self._check_version(row, rtype, rid, if_match)
        current = orjson.loads(row.content)
        # Decided before the patch runs: its "test" operations would otherwise probe a record the
        # caller may not see (a failed test and a refusal must not be told apart).
        self.guard.check_write("update", rtype, current)
        patched = apply_patch(current, operations)
        if (
            not isinstance(patched, dict)
            or patched.get("resourceType") != rtype
            or patched.get("id") != rid
        ):
            raise InvalidRequest(
                "a patch may not change resourceType or id", expression="$", code="processing"
            )
        return self._write(rtype, rid, patched, method="PATCH", row=row)

    def delete(self, rtype: str, rid: str) -> Stored | None:
        check_type(rtype)
        row = self.repo.current(rtype, rid, for_update=True)
        if rtype == "AuditEvent":
            raise MethodNotAllowed("AuditEvents can never be deleted")
        if row is None or row.deleted:
            return None
        self.guard.check_write("delete", rtype, orjson.loads(row.content or "{}"))
        referrers = self.repo.referrers(rtype, rid)
        if referrers:
            names = ", ".join(f"{t}/{i}" for t, i in referrers)
            raise Conflict(
                f"{rtype}/{rid} cannot be deleted while other resources refer to it ({names})"
            )
        _, ts = instant_now(after=row.last_updated)
        self.repo.set_current(row, version=row.version + 1, ts=ts, content=None, deleted=True)
        self.repo.add_version(row, "DELETE")
        self.written.append(Stored(rtype, rid, row.version, row.last_updated, None, deleted=True))
        self.repo.replace_index(int(row.pk or 0), rtype, None)
        return Stored(rtype, rid, row.version, ts, None, deleted=True)

    def conditional_delete(self, rtype: str, query: list[tuple[str, str]]) -> Stored | None:
        check_type(rtype)
        ids = self.match_ids(rtype, query, "a conditional delete")
        if len(ids) > 1:
            raise PreconditionFailed("the conditional delete matched more than one resource")
        return self.delete(rtype, ids[0]) if ids else None

    def finish_transaction(self) -> None:
        """Check the references deferred while a transaction Bundle was being written."""
        pending, self.deferred_refs = self.deferred_refs or [], None
        self.check_refs(pending)

    # ---- internals ---------------------------------------------------------------------------
    @staticmethod
    def _check_body_type(rtype: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise InvalidRequest("the body must be a JSON object (a FHIR resource)", expression="$")
        if body.get("resourceType") != rtype:
            raise InvalidRequest(
                f"the body's resourceType must be {rtype}, as in the URL", expression="resourceType"
            )

    @staticmethod
    def _check_version(row: ResourceRow | None, rtype: str, rid: str, if_match: str | None) -> None:
        if if_match is None:
            return
        wanted = parse_etag(if_match)
        current = 0 if row is None else row.version
        if row is None or wanted != current:
            raise PreconditionFailed(
                f"{rtype}/{rid} is at version {current}, not {wanted}; read it again and retry",
                headers={"ETag": f'W/"{current}"'} if row is not None else None,
            )

    def check_refs(self, refs: list[tuple[str, str, str]]) -> None:
        """Refuse (400 not-found) the first reference that names no live stored resource."""
        wanted = {(t, i) for t, i, _ in refs}
        found = self.repo.live_exists(wanted)
        for rtype, rid, where in refs:
            if (rtype, rid) not in found:
                raise InvalidRequest(
                    f"the reference to {rtype}/{rid} does not resolve to a stored resource",
                    expression=where,
                    code="not-found",
                )

    def _local_refs(self, rtype: str, rid: str, data: dict[str, Any]) -> list[tuple[str, str, str]]:
        out = []
        for ref, where in iter_references(data):
            if CONDITIONAL_REF_RE.match(ref):
                raise InvalidRequest(
                    "a conditional reference (Type?search) is resolved only inside a "
                    "transaction Bundle",
                    expression=f"{rtype}.{where}",
                )
            ttype, tid, _ = indexing.parse_reference(ref, self.base_url)
            if ttype is None or tid is None or (ttype, tid) == (rtype, rid):
                continue
            if ref.startswith("urn:"):
                continue
            if not is_supported(ttype) or not ID_RE.match(tid):
                raise InvalidRequest(
                    "a reference must look like Type/id with a supported type",
                    expression=f"{rtype}.{where}",
                )
            out.append((ttype, tid, f"{rtype}.{where}"))
        return out

    def _write(
        self, rtype: str, rid: str, body: dict[str, Any], *, method: str, row: ResourceRow | None
    ) -> Stored:
        if rtype == "AuditEvent":
            raise MethodNotAllowed(
                "AuditEvents are written by the gateway only, never through the API"
            )
        body = {k: v for k, v in body.items() if k != "id"}
        validate({"resourceType": rtype, "id": rid, **body})
        if self.labeller is not None:
            body = self.labeller(body)
        meta = dict(body.get("meta") or {})
        for key in _SERVER_META:
            meta.pop(key, None)
        text, ts = instant_now(after=None if row is None else row.last_updated)
        version = 1 if row is None else row.version + 1
        rest = {k: v for k, v in body.items() if k not in ("resourceType", "meta")}
        doc = {
            "resourceType": rtype,
            "id": rid,
            "meta": {"versionId": str(version), "lastUpdated": text, **meta},
            **rest,
        }
        if row is None or row.deleted:
            self.guard.check_write("create", rtype, doc)
        else:
            # Both the record as stored (whose agency holds it) and the record as it would become.
            self.guard.check_write("update", rtype, orjson.loads(row.content or "{}"))
            self.guard.check_write("update", rtype, doc)
        refs = self._local_refs(rtype, rid, doc)
        if self.deferred_refs is not None:
            self.deferred_refs.extend(refs)
        else:
            self.check_refs(refs)
        if (
            row is not None
            and not row.deleted
            and _comparable(row.content) == _comparable(orjson.dumps(doc).decode())
        ):
            return Stored(rtype, rid, row.version, row.last_updated, row.content, changed=False)
        content = orjson.dumps(doc).decode()
        created = row is None or row.deleted
        if row is None:
            row = self.repo.insert(
                ResourceRow(
                    rtype=rtype, res_id=rid, version=version, last_updated=ts, content=content
                )
            )
        else:
            self.repo.set_current(row, version=version, ts=ts, content=content, deleted=False)
        self.repo.add_version(row, method)
        rows = indexing.extract(doc, self.base_url)
        self.repo.replace_index(int(row.pk or 0), rtype, rows, fresh=version == 1)
        stored = Stored(rtype, rid, version, ts, content, created=created)
        self.written.append(stored)
        return stored
