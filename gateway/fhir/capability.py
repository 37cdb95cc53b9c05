"""The CapabilityStatement served at ``GET /fhir/metadata`` (FHIR R4 capabilitystatement.html).

Built from the same registry the server runs on, so it lists exactly what works.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from gateway import __version__
from gateway.export.schemas import CAPABILITY as BULK_DATA
from gateway.export.schemas import OPERATION as EXPORT
from gateway.fhir.model import FHIR_VERSION, SUPPORTED_TYPES
from gateway.fhir.search_params import CUSTOM_PARAMS, params_for
from gateway.settings import Settings

_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)


# Written by the gateway only (gateway.audit): never created, changed or deleted through the API.
_READ_ONLY = {"AuditEvent"}
_READ_INTERACTIONS = ("read", "vread", "history-instance", "history-type", "search-type")


def _search_param(rtype: str, name: str, type_: str) -> dict[str, Any]:
    entry = {"name": name, "type": "special" if name == "near" else type_}
    documentation = CUSTOM_PARAMS.get(rtype, {}).get(name)
    if documentation:
        entry["documentation"] = documentation
    return entry


def _resource(rtype: str) -> dict[str, Any]:
    params = params_for(rtype)
    refs = sorted(name for name, p in params.items() if p.type == "reference")
    entry: dict[str, Any] = {
        "type": rtype,
        "interaction": [{"code": code} for code in _INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-match",  # If-None-Match on read answers 304
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "enforced", "local"],
        "searchInclude": ["*", *(f"{rtype}:{name}" for name in refs)],
        "searchRevInclude": [],
        "searchParam": [_search_param(rtype, n, p.type) for n, p in sorted(params.items())],
    }
    level = {"Patient": "patient", "Group": "group"}.get(rtype)
    if level is not None:  # Bulk Data Access IG: Patient/$export and Group/[id]/$export
        entry["operation"] = [{"name": "export", "definition": EXPORT[level]}]
    if rtype in _READ_ONLY:
        entry.update(
            interaction=[{"code": code} for code in _READ_INTERACTIONS],
            versioning="versioned",
            updateCreate=False,
            conditionalCreate=False,
            conditionalUpdate=False,
            conditionalDelete="not-supported",
        )
    return entry


@cache
def _rest_resources() -> tuple[dict[str, Any], ...]:
    resources = [_resource(t) for t in SUPPORTED_TYPES]
    # _revinclude mirrors the reference parameters (of any type) that can point at this type.
    for res in resources:
        res["searchRevInclude"] = sorted(
            f"{other}:{p.name}"
            for other in SUPPORTED_TYPES
            for p in params_for(other).values()
            if p.type == "reference" and (not p.targets or res["type"] in p.targets)
        )
    return tuple(resources)


def capability_statement(settings: Settings) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-28",
        "publisher": "Crisis Exchange Gateway",
        "kind": "instance",
        "instantiates": [BULK_DATA],
        "software": {"name": "Crisis Exchange Gateway", "version": __version__},
        "implementation": {
            "description": "Crisis Exchange Gateway FHIR API",
            "url": settings.fhir_base,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "resource": list(_rest_resources()),
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "history-system"},
                ],
                "operation": [{"name": "export", "definition": EXPORT["system"]}],
            }
        ],
    }
