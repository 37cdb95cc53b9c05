"""What an auditor sees: ``GET /fhir/AuditEvent`` with the auditor's token, after the sequencer ran."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from gateway.audit.checkpoint import sequence
from tests.conftest import bearer

DCM = "http://dicom.nema.org/resources/ontology/DCM"
TOKEN_EVENTS = f"type={DCM}|110114&subtype=urn:ihe:event-type-code|ITI-71"
LOGIN_EVENTS = f"type={DCM}|110114&subtype={DCM}|110122"
LOGOUT_EVENTS = f"type={DCM}|110114&subtype={DCM}|110123"
USER_CHANGES = f"type={DCM}|110113&subtype={DCM}|110137"
CONFIG_CHANGES = f"type={DCM}|110113&subtype={DCM}|110129"
BTG_EVENTS = f"type={DCM}|110113&subtype={DCM}|110127"


def auditor(app: FastAPI) -> dict[str, str]:
    token = bearer(app, role="bha_auditor", user="ann.auditor", agency="bha", purposes=["HOPERAT"])
    return {**token, "Accept": "application/fhir+json"}


def search(http: Any, app: FastAPI, query: str) -> list[dict[str, Any]]:
    """The AuditEvents matching ``query``, oldest first (``http`` is a TestClient or httpx.Client)."""
    sequence(app.state.db)  # what the background sequencer does every second
    response = http.get(f"/fhir/AuditEvent?{query}&_sort=date&_count=200", headers=auditor(app))
    assert response.status_code == 200, response.text
    return [entry["resource"] for entry in response.json().get("entry", [])]


def agents(event: dict[str, Any]) -> set[str]:
    """Every client, user and agency id named by the event's agents."""
    found = set()
    for agent in event.get("agent", []):
        who = agent.get("who", {})
        if "identifier" in who:
            found.add(who["identifier"]["value"])
        if "reference" in who:
            found.add(who["reference"])
    return found


def targets(event: dict[str, Any]) -> set[str]:
    """The identifiers of the entities the event is about (``urn:gateway:<kind>|<id>``)."""
    out = set()
    for entity in event.get("entity", []):
        ident = entity.get("what", {}).get("identifier", {})
        if ident.get("system", "").startswith("urn:gateway:"):
            out.add(f"{ident['system']}|{ident['value']}")
    return out
