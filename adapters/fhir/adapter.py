"""The ``fhir`` adapter: FHIR R4 Bundles (transaction, batch, collection) or single resources pushed
by EHRs, re-homed at agency-scoped ids, stamped with the sending agency and a Provenance, and handed to
the gateway's validation and labelling as one transaction. See docs/adapters/fhir.md."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any, ClassVar

from adapters.base import (
    AdapterError,
    Conversion,
    Location,
    SourceInfo,
    SourceRecord,
    UnsupportedMessage,
    put_entry,
    stable_id,
    transaction,
)
from adapters.fhir.references import dangling, new_id, rewrite
from adapters.fhir.types import FHIR_ID, R4_RESOURCE_TYPES
from adapters.recordkit.fhirbits import agency_system, provenance
from adapters.recordkit.payload import load_json, media_type_of, safe_name
from adapters.recordkit.timestamps import parse_instant

Json = dict[str, Any]
BUNDLE_TYPES = ("transaction", "batch", "collection")
MAX_ENTRIES = 10_000
Item = tuple[str | None, Json, str | None]  # (fullUrl, resource, ifNoneExist)


def _is_placeholder(url: str) -> bool:
    return url.startswith(("urn:uuid:", "urn:oid:"))


def _record_key(data: Json, payload: bytes) -> str:
    """Bundle.identifier.value, else Bundle.id, else ``Type/id``, else a digest of the payload."""
    ident = data.get("identifier")
    if data.get("resourceType") == "Bundle" and isinstance(ident, dict):
        value = ident.get("value")
        if isinstance(value, str) and safe_name(value):
            return value
    rid = data.get("id")
    if isinstance(rid, str) and FHIR_ID.match(rid):
        return rid if data["resourceType"] == "Bundle" else f"{data['resourceType']}/{rid}"
    return "sha256:" + hashlib.sha256(payload).hexdigest()[:16]


class FhirAdapter:
    """FHIR R4 JSON from EHRs → one transaction Bundle per pushed Bundle or resource."""

    name: ClassVar[str] = "fhir"
    version: ClassVar[str] = "0.1.0"
    media_types: ClassVar[tuple[str, ...]] = ("application/fhir+json", "application/json")

    def parse(self, payload: bytes, media_type: str) -> list[SourceRecord]:
        """Read FHIR JSON (R4 json.html): a Bundle of type transaction, batch or collection, or one
        resource. Each payload is one record."""
        kind = media_type_of(media_type)
        if kind not in self.media_types:
            raise AdapterError(f"media type {kind!r} is not taken by {self.name}")
        data = load_json(payload)
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise AdapterError("is not a FHIR resource (no resourceType)", Location(field="$"))
        rtype = data["resourceType"]
        if rtype not in R4_RESOURCE_TYPES:
            raise AdapterError("is not a FHIR R4 resource type", Location(field="resourceType"))
        if rtype == "Bundle" and data.get("type") not in BUNDLE_TYPES:
            raise UnsupportedMessage(
                f"a pushed Bundle must be of type {', '.join(BUNDLE_TYPES)}",
                Location(field="type"),
            )
        return [SourceRecord(_record_key(data, payload), 0, data)]

    def to_fhir(self, record: SourceRecord, source: SourceInfo) -> Conversion:
        """One transaction for the whole push (a batch is made atomic too): every resource with an id
        is PUT at its agency-scoped id, resources without one are POSTed, all carry the agency in
        ``meta.source``, and one Provenance targets them all."""
        data: Json = record.data
        key = record.key
        items = self._items(data, key)
        by_url, own_urls = self._addresses(items, data, key, source.agency)
        known = set(by_url) | own_urls
        entries: list[Json] = []
        unmapped: list[str] = []
        for i, (full_url, res, if_none_exist) in enumerate(items):
            if dangling(res, known) is not None:
                raise AdapterError(
                    "refers to a urn:uuid/urn:oid that no entry of the Bundle has",
                    self._at(key, data, i),
                )
            out = rewrite(res, source.agency, by_url)
            sender_meta = out.get("meta", {})
            if sender_meta.get("source") not in (None, source.source_uri):
                unmapped.append(f"{self._where(data, i)}.meta.source (replaced by the agency)")
            # versionId and lastUpdated are the sender's; the store assigns its own.
            kept = {k: v for k, v in sender_meta.items() if k not in ("versionId", "lastUpdated")}
            out["meta"] = kept | {"source": source.source_uri}
            if "id" in res:
                out["id"] = new_id(source.agency, out["resourceType"], res["id"])
                entries.append(put_entry(out))
                continue
            request: Json = {"method": "POST", "url": out["resourceType"]}
            if if_none_exist:
                request["ifNoneExist"] = if_none_exist
            url = full_url if full_url in own_urls else self._placeholder(key, i)
            entries.append({"fullUrl": url, "resource": out, "request": request})
        targets = [
            {"reference": e["request"]["url"] if e["request"]["method"] == "PUT" else e["fullUrl"]}
            for e in entries
        ]
        ident = data.get("identifier") if data["resourceType"] == "Bundle" else None
        system = ident.get("system") if isinstance(ident, dict) else None
        if not (isinstance(system, str) and system and ident.get("value") == key):
            system = agency_system(source, "push")
        prov = provenance(
            source,
            adapter=self.name,
            version=self.version,
            record_key=key,
            record_system=system,
            recorded=self._recorded(data, items, key),
            targets=[],
            target_refs=targets,
            rid=stable_id(source.agency, "provenance", self.name, key),
        )
        return Conversion(key, transaction([*entries, put_entry(prov)]), unmapped)

    def _addresses(
        self, items: list[Item], data: Json, key: str, agency: str
    ) -> tuple[dict[str, str], set[str]]:
        """Where each entry ends up: sender fullUrl → new reference, and the ``urn:uuid`` fullUrls
        that POSTed entries keep. A fullUrl shared by several entries resolves to none of them."""
        counts = Counter(u for u, _, _ in items if u)
        shared = {u for u, n in counts.items() if n > 1}
        by_url: dict[str, str] = {}
        own: set[str] = set()
        seen: set[str] = set()
        for i, (full_url, res, _) in enumerate(items):
            rtype = res["resourceType"]
            if "id" in res:
                target = f"{rtype}/{new_id(agency, rtype, res['id'])}"
                if target in seen:
                    raise AdapterError("the same resource appears twice", self._at(key, data, i))
                seen.add(target)
                if full_url and full_url not in shared:
                    by_url[full_url] = target
            elif full_url and full_url not in shared:
                if _is_placeholder(full_url):
                    own.add(full_url)
                else:
                    by_url[full_url] = self._placeholder(key, i)
        return by_url, own

    # -- reading the push ------------------------------------------------------------------------

    @staticmethod
    def _where(data: Json, i: int) -> str:
        return f"entry[{i}].resource" if data["resourceType"] == "Bundle" else "$"

    def _at(self, key: str, data: Json, i: int) -> Location:
        return Location(record=key, field=self._where(data, i))

    @staticmethod
    def _placeholder(key: str, i: int) -> str:
        h = hashlib.sha256(f"{key}\x1f{i}".encode()).hexdigest()
        return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def _items(self, data: Json, key: str) -> list[Item]:
        """(fullUrl, resource, ifNoneExist) for each resource of the push, checked for shape."""
        if data["resourceType"] != "Bundle":
            self._check_resource(data, key, "$")
            return [(None, data, None)]
        entries = data.get("entry")
        if not isinstance(entries, list) or not entries:
            raise AdapterError(
                "a pushed Bundle needs at least one entry", Location(key, field="entry")
            )
        if len(entries) > MAX_ENTRIES:
            raise AdapterError(
                f"a Bundle holds at most {MAX_ENTRIES} entries", Location(key, field="entry")
            )
        out: list[Item] = []
        for i, entry in enumerate(entries):
            where = f"entry[{i}]"
            if not isinstance(entry, dict):
                raise AdapterError("must be an object", Location(key, field=where))
            res = entry.get("resource")
            if not isinstance(res, dict):
                raise AdapterError(
                    "is not a FHIR resource", Location(key, field=f"{where}.resource")
                )
            self._check_resource(res, key, f"{where}.resource")
            full_url = entry.get("fullUrl")
            if full_url is not None and (not isinstance(full_url, str) or not full_url):
                raise AdapterError("must be a URI", Location(key, field=f"{where}.fullUrl"))
            if_none_exist = self._check_request(entry, res, data["type"], key, where)
            out.append((full_url, res, if_none_exist))
        return out

    @staticmethod
    def _check_resource(res: Json, key: str, where: str) -> None:
        rtype = res.get("resourceType")
        if not isinstance(rtype, str) or rtype not in R4_RESOURCE_TYPES:
            raise AdapterError("is not a FHIR R4 resource", Location(key, field=where))
        if rtype == "Bundle":
            raise UnsupportedMessage(
                "a Bundle inside a Bundle is not taken", Location(key, field=where)
            )
        if "id" in res and not (isinstance(res["id"], str) and FHIR_ID.match(res["id"])):
            raise AdapterError("is not a FHIR id", Location(key, field=f"{where}.id"))
        if "meta" in res and not isinstance(res["meta"], dict):
            raise AdapterError("must be an object", Location(key, field=f"{where}.meta"))

    @staticmethod
    def _check_request(
        entry: Json, res: Json, bundle_type: str, key: str, where: str
    ) -> str | None:
        request = entry.get("request")
        if bundle_type == "collection":
            return None
        if not isinstance(request, dict):
            raise AdapterError(
                "a transaction or batch entry needs a request",
                Location(key, field=f"{where}.request"),
            )
        method, url = request.get("method"), request.get("url")
        if method not in ("PUT", "POST"):
            raise UnsupportedMessage(
                "only PUT and POST entries are taken (deletes and reads go through the REST API)",
                Location(key, field=f"{where}.request.method"),
            )
        if not isinstance(url, str):
            raise AdapterError("must be a URL", Location(key, field=f"{where}.request.url"))
        rtype = res["resourceType"]
        if method == "PUT" and url != f"{rtype}/{res.get('id')}":
            raise UnsupportedMessage(
                "a PUT must name the resource's own type and id (conditional updates are not taken)",
                Location(key, field=f"{where}.request.url"),
            )
        if method == "POST" and url != rtype:
            raise AdapterError(
                "a POST must name the resource's type", Location(key, field=f"{where}.request.url")
            )
        if_none_exist = request.get("ifNoneExist")
        if if_none_exist is not None and not isinstance(if_none_exist, str):
            raise AdapterError(
                "must be a query string", Location(key, field=f"{where}.request.ifNoneExist")
            )
        return if_none_exist

    @staticmethod
    def _recorded(data: Json, items: list[Item], key: str) -> str:
        """``Bundle.timestamp``, else the latest ``meta.lastUpdated``: a time from the push itself."""
        if data["resourceType"] == "Bundle" and "timestamp" in data:
            stamp = data["timestamp"]
            where = Location(key, field="timestamp")
            if not isinstance(stamp, str):
                raise AdapterError("must be an instant", where)
            parse_instant(stamp, where)
            return stamp
        best: tuple[Any, str] | None = None
        for i, (_, res, _) in enumerate(items):
            stamp = res.get("meta", {}).get("lastUpdated")
            if stamp is None:
                continue
            where = Location(key, field=f"{FhirAdapter._where(data, i)}.meta.lastUpdated")
            if not isinstance(stamp, str):
                raise AdapterError("must be an instant", where)
            when = parse_instant(stamp, where)
            if best is None or when > best[0]:
                best = (when, stamp)
        if best is None:
            raise AdapterError(
                "needs Bundle.timestamp or meta.lastUpdated: the Provenance records when the sender "
                "recorded the data, so that a resend is identical",
                Location(
                    key,
                    field="timestamp" if data["resourceType"] == "Bundle" else "meta.lastUpdated",
                ),
            )
        return best[1]
