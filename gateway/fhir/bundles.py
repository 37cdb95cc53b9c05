"""Batch and transaction Bundles (FHIR R4 http.html#transaction).

A transaction is atomic: the first failing entry fails the whole Bundle and nothing is kept. Entries run
in the order the specification sets (DELETE, POST, PUT/PATCH, GET); before any POST runs, every entry's
identity is settled (new ids assigned, ``ifNoneExist`` and conditional PUTs matched) so that
``urn:uuid:`` and conditional references can be rewritten to the ids they end up with. A batch runs each
entry in its own savepoint and resolves nothing between entries.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from gateway.auth.schemas import Caller
from gateway.fhir.bundle_refs import PLACEHOLDER_PREFIXES, located, references, rewrite
from gateway.fhir.dates import http_date
from gateway.fhir.errors import (
    FhirError,
    InvalidRequest,
    MethodNotAllowed,
    PreconditionFailed,
    operation_outcome,
)
from gateway.fhir.search_parse import MAX_OFFSET
from gateway.fhir.service import CONDITIONAL_REF_RE, ResourceService, Stored, check_type
from gateway.fhir.write_hooks import WriteContext, WriteHooks

Authorize = Callable[[str, str], None]  # (interaction letter c/r/u/d/s, resource type)
_INTERNAL = Caller(client_id="gateway")  # the writer of Bundles processed without write hooks
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_INTERACTION = {"DELETE": "d", "POST": "c", "PUT": "u", "PATCH": "u"}


def _status(stored: Stored | None, method: str) -> str:
    if method == "DELETE":
        return "204 No Content"
    if stored is not None and stored.created and stored.changed:
        return "201 Created"
    return "200 OK"


def _response(stored: Stored | None, method: str, base: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"response": {"status": _status(stored, method)}}
    if stored is not None:
        entry["fullUrl"] = f"{base}/{stored.rtype}/{stored.rid}"
        entry["response"]["etag"] = stored.etag
        if not stored.deleted:
            entry["response"]["location"] = stored.location
            entry["response"]["lastModified"] = http_date(stored.last_updated)
    return entry


class BundleProcessor:
    """Runs the entries of a batch or transaction Bundle through :class:`ResourceService`."""

    def __init__(
        self,
        service: ResourceService,
        *,
        authorize: Authorize | None = None,
        search: Callable[[str, list[tuple[str, str]]], bytes] | None = None,
        hooks: WriteHooks | None = None,
        writer: WriteContext | None = None,
    ) -> None:
        self.service = service
        # Write entries go through the app's write hooks (gateway.fhir.write_hooks); with none
        # registered they are the service's own writes.
        self.hooks = hooks if hooks is not None and writer is not None else WriteHooks()
        self.writer = writer or WriteContext(service.session, _INTERNAL, service, None)
        self.authorize = authorize or (lambda _i, _t: None)
        self.search = search

    @staticmethod
    def prepare(bundle: Any, prepare: Callable[[str, str], None]) -> None:
        """Call ``prepare(method, type)`` once per write method and type the Bundle holds (before
        its unit of work opens); malformed entries are left for :meth:`process` to refuse."""
        seen: set[tuple[str, str]] = set()
        entries = bundle.get("entry") if isinstance(bundle, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            request = entry.get("request") if isinstance(entry, dict) else None
            url = request.get("url") if isinstance(request, dict) else None
            method = str(request.get("method", "")).upper() if isinstance(request, dict) else ""
            if method in _INTERACTION and isinstance(url, str):
                segments = [s for s in urlsplit(url).path.split("/") if s]
                rtype = next((s for s in segments if s[:1].isupper()), None)
                if rtype is not None and (method, rtype) not in seen:
                    seen.add((method, rtype))
                    prepare(method, rtype)

    def process(self, bundle: Any) -> dict[str, Any]:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise InvalidRequest("POST to the base needs a Bundle", expression="resourceType")
        kind = bundle.get("type")
        if kind not in ("batch", "transaction"):
            raise InvalidRequest(
                "Bundle.type must be batch or transaction", expression="Bundle.type"
            )
        entries = bundle.get("entry", [])
        if not isinstance(entries, list):
            raise InvalidRequest("Bundle.entry must be a list", expression="Bundle.entry")
        parsed = [self._parse_entry(i, e) for i, e in enumerate(entries)]
        responses = self._transaction(parsed) if kind == "transaction" else self._batch(parsed)
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": f"{kind}-response",
            "entry": responses,
        }

    def _parse_entry(self, index: int, entry: Any) -> dict[str, Any]:
        where = f"Bundle.entry[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("request"), dict):
            raise InvalidRequest(f"entry {index} has no request", expression=f"{where}.request")
        request = entry["request"]
        method = str(request.get("method", "")).upper()
        url = request.get("url")
        if method not in _ORDER or not isinstance(url, str) or not url:
            raise InvalidRequest(
                f"entry {index}: request.method must be GET, POST, PUT, PATCH or DELETE and "
                "request.url must be set",
                expression=f"{where}.request",
            )
        for key in ("ifNoneExist", "ifMatch", "ifNoneMatch", "ifModifiedSince"):
            if key in request and not isinstance(request[key], str):
                raise InvalidRequest(
                    f"entry {index}: request.{key} must be a string",
                    expression=f"{where}.request.{key}",
                )
        base = self.service.base_url.rstrip("/") + "/"
        parts = urlsplit(url.removeprefix(base))
        path = [p for p in parts.path.strip("/").split("/") if p]
        if not path:
            raise InvalidRequest(
                f"entry {index}: request.url names no resource type",
                expression=f"{where}.request.url",
            )
        return {
            "index": index,
            "where": where,
            "method": method,
            "path": path,
            "query": parse_qsl(parts.query, keep_blank_values=True),
            "resource": entry.get("resource"),
            "fullUrl": entry.get("fullUrl"),
            "request": request,
        }

    # ---- transaction ---------------------------------------------------------------------------
    def _transaction(self, parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        svc = self.service
        ordered = sorted(parsed, key=lambda e: _ORDER[e["method"]])
        results: dict[int, dict[str, Any]] = {}
        written: dict[tuple[str, str], int] = {}
        pending: list[tuple[str, str, str]] = []
        svc.deferred_refs = pending
        try:
            for p in ordered:
                if p["method"] == "DELETE":
                    results[p["index"]] = self._step(p, written)
            mapping: dict[str, str] = {}
            for p in parsed:
                self._guarded(p, partial(self._settle_identity, p, mapping))
            for p in parsed:
                self._guarded(p, partial(self._resolve_references, p, mapping))
            for p in ordered:
                if p["method"] != "DELETE":
                    start = len(pending)
                    results[p["index"]] = self._step(p, written)
                    p["refs"] = pending[start:]
            # references are checked once every entry is written, each against its own entry
            for p in parsed:
                self._guarded(p, partial(svc.check_refs, p.get("refs", [])))
        finally:
            svc.deferred_refs = None
        return [results[i] for i in range(len(parsed))]

    def _step(self, p: dict[str, Any], written: dict[tuple[str, str], int]) -> dict[str, Any]:
        entry: dict[str, Any] = self._guarded(p, lambda: self._run(p))
        identity = p.get("identity")
        if identity is not None:
            other = written.setdefault(identity, p["index"])
            if other != p["index"]:
                error = InvalidRequest(
                    f"entries {other} and {p['index']} both change {identity[0]}/{identity[1]}; "
                    "a transaction may change each resource only once",
                    expression=f"{p['where']}.request",
                )
                raise self._locate(error, p)
        return entry

    def _guarded(self, p: dict[str, Any], action: Callable[[], Any]) -> Any:
        try:
            return action()
        except FhirError as exc:
            raise self._locate(exc, p) from None

    @staticmethod
    def _locate(exc: FhirError, p: dict[str, Any]) -> FhirError:
        return located(exc, p["index"], p["where"], f"{p['method']} {'/'.join(p['path'])}")

    def _settle_identity(self, p: dict[str, Any], mapping: dict[str, str]) -> None:
        """Decide which resource a POST or PUT entry will be, so references to it can be rewritten."""
        full, rtype, svc = p["fullUrl"], p["path"][0], self.service
        placeholder = isinstance(full, str) and full.startswith(PLACEHOLDER_PREFIXES)
        if placeholder and full in mapping:
            raise InvalidRequest(
                "two entries have the same fullUrl", expression=f"{p['where']}.fullUrl"
            )
        if p["method"] == "POST" and len(p["path"]) == 1:
            check_type(rtype)
            if_none_exist = p["request"].get("ifNoneExist")
            existing = svc.find_existing(rtype, if_none_exist) if if_none_exist else None
            if existing is not None:
                p["existing"] = existing
                rid = existing.rid
            else:
                rid = p["assigned"] = str(uuid.uuid4())
        elif p["method"] == "PUT" and len(p["path"]) == 2:
            rid = p["path"][1]
        elif p["method"] == "PUT" and len(p["path"]) == 1 and placeholder:
            check_type(rtype)
            ids = svc.match_ids(rtype, p["query"], "a conditional update")
            if len(ids) > 1:
                raise PreconditionFailed("the conditional update matched more than one resource")
            body = p["resource"] if isinstance(p["resource"], dict) else {}
            if ids and body.get("id") not in (None, ids[0]):
                raise InvalidRequest(
                    "the id in the body differs from the resource the condition matched",
                    expression=f"{rtype}.id",
                )
            rid = ids[0] if ids else str(body.get("id") or uuid.uuid4())
            p["path"] = [rtype, rid]
            if isinstance(p["resource"], dict):
                p["resource"] = {**p["resource"], "id": rid}
        else:
            return
        if placeholder:
            mapping[full] = f"{rtype}/{rid}"

    def _resolve_references(self, p: dict[str, Any], mapping: dict[str, str]) -> None:
        if not isinstance(p["resource"], dict):
            return
        for ref, where in references(p["resource"]):
            if ref in mapping:
                continue
            rtype = p["path"][0]
            if ref.startswith(PLACEHOLDER_PREFIXES):
                raise InvalidRequest(
                    "the reference names no entry's fullUrl in this transaction",
                    expression=f"{rtype}.{where}",
                    code="not-found",
                )
            if CONDITIONAL_REF_RE.match(ref):
                target, _, query = ref.partition("?")
                check_type(target)
                ids = self.service.match_ids(
                    target, parse_qsl(query, keep_blank_values=True), "a conditional reference"
                )
                if len(ids) != 1:
                    raise (PreconditionFailed if ids else InvalidRequest)(
                        f"the conditional reference matched {'several' if ids else 'no'} "
                        f"{target} resources; it must match exactly one",
                        expression=f"{rtype}.{where}",
                        code="not-found" if not ids else "multiple-matches",
                    )
                mapping[ref] = f"{target}/{ids[0]}"
        p["resource"] = rewrite(p["resource"], mapping)

    # ---- batch ---------------------------------------------------------------------------------
    def _batch(self, parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for p in parsed:
            nested = self.service.session.begin_nested()
            try:
                out.append(self._run(p))
                nested.commit()
            except FhirError as exc:
                nested.rollback()
                error = self._locate(exc, p)
                out.append(
                    {
                        "response": {
                            "status": str(error.status),
                            "outcome": operation_outcome(error.issues),
                        }
                    }
                )
        return out

    # ---- one entry -----------------------------------------------------------------------------
    def _run(self, p: dict[str, Any]) -> dict[str, Any]:
        method, path, query = p["method"], p["path"], p["query"]
        rtype = path[0]
        check_type(rtype)
        base = self.service.base_url
        hooks, w = self.hooks, self.writer
        if method in _INTERACTION:
            self.authorize(_INTERACTION[method], rtype)
        if method in ("GET", "HEAD"):
            return self._get(p)
        if_match = p["request"].get("ifMatch")
        if method == "POST":
            if len(path) != 1:
                raise MethodNotAllowed(
                    "POST in a Bundle goes to a resource type URL such as Patient",
                    expression=f"{p['where']}.request.url",
                )
            if "existing" in p:
                stored = p["existing"]
            elif "assigned" in p:  # a transaction settled this entry's identity already
                stored = hooks.create(w, rtype, self._body(p), rid=p["assigned"])
            else:
                if_none_exist = p["request"].get("ifNoneExist")
                stored = hooks.create(w, rtype, self._body(p), if_none_exist=if_none_exist)
        elif method == "PUT":
            body = self._body(p)
            if len(path) == 2:
                stored = hooks.update(w, rtype, path[1], body, if_match=if_match)
            else:
                stored = hooks.conditional_update(w, rtype, query, body, if_match=if_match)
        elif method == "PATCH":
            if len(path) != 2:
                raise InvalidRequest(
                    "PATCH in a Bundle needs Type/id", expression=f"{p['where']}.request.url"
                )
            stored = hooks.patch(w, rtype, path[1], self._patch_ops(p), if_match=if_match)
        else:
            deleted = (
                hooks.delete(w, rtype, path[1])
                if len(path) == 2
                else hooks.conditional_delete(w, rtype, query)
            )
            if deleted is not None:
                p["identity"] = (rtype, deleted.rid)
            elif len(path) == 2:
                p["identity"] = (rtype, path[1])
            return _response(deleted, "DELETE", base)
        p["identity"] = (stored.rtype, stored.rid)
        return _response(stored, method, base)

    def _get(self, p: dict[str, Any]) -> dict[str, Any]:
        path, svc = p["path"], self.service
        rtype = path[0]
        if len(path) == 1:
            self.authorize("s", rtype)
            if self.search is None:
                raise MethodNotAllowed("search is not available inside this Bundle")
            return {
                "resource": orjson.Fragment(self.search(rtype, p["query"])),
                "response": {"status": "200 OK"},
            }
        self.authorize("r", rtype)
        if len(path) == 4 and path[2] == "_history":
            stored = svc.vread(rtype, path[1], _int_version(path[3]))
        elif len(path) == 2:
            stored = svc.read(rtype, path[1])
        else:
            raise MethodNotAllowed(
                "inside a Bundle, GET supports search, read and vread only",
                expression=f"{p['where']}.request.url",
            )
        entry = _response(stored, "GET", svc.base_url)
        entry["resource"] = orjson.Fragment(stored.content or "{}")
        return entry

    @staticmethod
    def _body(p: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(p["resource"], dict):
            raise InvalidRequest("this entry needs a resource", expression=f"{p['where']}.resource")
        return p["resource"]

    @staticmethod
    def _patch_ops(p: dict[str, Any]) -> Any:
        res = p["resource"]
        if isinstance(res, dict) and res.get("resourceType") == "Binary" and res.get("data"):
            try:
                return orjson.loads(base64.b64decode(res["data"]))
            except (ValueError, orjson.JSONDecodeError):
                pass
        raise InvalidRequest(
            "a PATCH entry carries a Binary resource whose data is a base64 JSON Patch",
            expression=f"{p['where']}.resource",
        )


def _int_version(text: str) -> int:
    try:
        version = int(text)
    except ValueError:
        raise InvalidRequest("a version id is a whole number", expression="vid") from None
    if not 0 < version <= MAX_OFFSET:
        raise InvalidRequest("no such version", expression="vid", code="not-found")
    return version
