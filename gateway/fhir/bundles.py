"""Batch and transaction Bundles (FHIR R4 http.html#transaction).

A transaction is atomic: the first failing entry fails the whole Bundle and nothing is kept. Entries run
in the order the specification sets (DELETE, POST, PUT/PATCH, GET) and ``urn:uuid:`` references between
entries are rewritten to the ids the server assigns. A batch runs each entry in its own savepoint.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from gateway.fhir.dates import http_date
from gateway.fhir.errors import (
    FhirError,
    InvalidRequest,
    Issue,
    MethodNotAllowed,
    operation_outcome,
)
from gateway.fhir.service import ResourceService, Stored, check_type

Authorize = Callable[[str, str], None]  # (interaction letter c/r/u/d/s, resource type)
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


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                mapping.get(v, v)
                if k == "reference" and isinstance(v, str)
                else _rewrite(v, mapping)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(v, mapping) for v in node]
    return node


class BundleProcessor:
    """Runs the entries of a batch or transaction Bundle through :class:`ResourceService`."""

    def __init__(
        self,
        service: ResourceService,
        *,
        authorize: Authorize | None = None,
        search: Callable[[str, list[tuple[str, str]]], bytes] | None = None,
    ) -> None:
        self.service = service
        self.authorize = authorize or (lambda _i, _t: None)
        self.search = search

    def process(self, bundle: Any) -> dict[str, Any]:
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise InvalidRequest("POST to the base needs a Bundle", expression="resourceType")
        kind = bundle.get("type")
        if kind not in ("batch", "transaction"):
            raise InvalidRequest(
                "Bundle.type must be batch or transaction", expression="Bundle.type"
            )
        entries = bundle.get("entry") or []
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
        parts = urlsplit(url)
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

    def _transaction(self, parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        mapping: dict[str, str] = {}
        for p in parsed:
            full = p["fullUrl"]
            if (
                isinstance(full, str)
                and full.startswith("urn:uuid:")
                and isinstance(p["resource"], dict)
            ):
                rtype = p["path"][0]
                if p["method"] == "POST":
                    p["assigned"] = str(uuid.uuid4())
                    mapping[full] = f"{rtype}/{p['assigned']}"
                elif p["method"] == "PUT" and len(p["path"]) == 2:
                    mapping[full] = f"{rtype}/{p['path'][1]}"
        for p in parsed:
            if isinstance(p["resource"], dict):
                p["resource"] = _rewrite(p["resource"], mapping)
        self.service.deferred_refs = []
        results: dict[int, dict[str, Any]] = {}
        try:
            for p in sorted(parsed, key=lambda e: _ORDER[e["method"]]):
                try:
                    results[p["index"]] = self._run(p)
                except FhirError as exc:
                    raise _located(exc, p) from None
            self.service.finish_transaction()
        finally:
            self.service.deferred_refs = None
        return [results[i] for i in range(len(parsed))]

    def _batch(self, parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for p in parsed:
            nested = self.service.session.begin_nested()
            try:
                out.append(self._run(p))
                nested.commit()
            except FhirError as exc:
                nested.rollback()
                located = _located(exc, p)
                out.append(
                    {
                        "response": {
                            "status": f"{located.status}",
                            "outcome": operation_outcome(located.issues),
                        }
                    }
                )
        return out

    def _run(self, p: dict[str, Any]) -> dict[str, Any]:
        method, path, query = p["method"], p["path"], p["query"]
        rtype = path[0]
        check_type(rtype)
        base = self.service.base_url
        svc = self.service
        if method in _INTERACTION:
            self.authorize(_INTERACTION[method], rtype)
        if method == "GET" or method == "HEAD":
            return self._get(p)
        if method == "POST":
            if len(path) != 1:
                raise MethodNotAllowed(
                    "POST in a Bundle goes to a resource type URL such as Patient"
                )
            body = self._body(p)
            if "assigned" in p:
                body = {**body, "id": p["assigned"]}
                stored = svc.update(rtype, p["assigned"], body)
            else:
                stored = svc.create(rtype, body, if_none_exist=p["request"].get("ifNoneExist"))
            return _response(stored, method, base)
        if method == "PUT":
            body = self._body(p)
            if len(path) == 2:
                stored = svc.update(rtype, path[1], body, if_match=p["request"].get("ifMatch"))
            else:
                stored = svc.conditional_update(
                    rtype, query, body, if_match=p["request"].get("ifMatch")
                )
            return _response(stored, method, base)
        if method == "PATCH":
            if len(path) != 2:
                raise InvalidRequest(
                    "PATCH in a Bundle needs Type/id", expression=f"{p['where']}.request.url"
                )
            stored = svc.patch(
                rtype, path[1], self._patch_ops(p), if_match=p["request"].get("ifMatch")
            )
            return _response(stored, method, base)
        deleted = (
            svc.delete(rtype, path[1]) if len(path) == 2 else svc.conditional_delete(rtype, query)
        )
        return _response(deleted, "DELETE", base)

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
        else:
            stored = svc.read(rtype, path[1])
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


def _inside(where: str, expression: str) -> str:
    head, dot, rest = expression.partition(".")
    if head[:1].isupper() and dot:
        return f"{where}.resource.{rest}"
    return f"{where}.request" if expression.startswith("_") or "=" in expression else where


def _int_version(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidRequest("a version id is a whole number") from None


def _located(exc: FhirError, p: dict[str, Any]) -> FhirError:
    where = p["where"]
    issues = [
        Issue(
            f"entry {p['index']} ({p['method']} {'/'.join(p['path'])}): {i.diagnostics}",
            code=i.code,
            severity=i.severity,
            expression=tuple(_inside(where, e) for e in i.expression) or (where,),
        )
        for i in exc.issues
    ]
    located = type(exc)(issues[0].diagnostics, issues=issues, headers=exc.headers)
    located.status = exc.status
    return located
