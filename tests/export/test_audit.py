"""The audit trail of an export: one DCM 110106 Export event for the kick-off and one for every file
download, naming the patients and resources in the file and the policies that decided it; a
download to law enforcement is a disclosure in the patient's accounting; no event, no file."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.audit.errors import AuditUnavailable
from gateway.audit.log import AuditLog
from tests.audit.searching import DCM, search
from tests.export.support import (
    condition,
    export,
    hospital,
    kick_off,
    local,
    manifest,
    patient,
    started,
    token,
)

LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"


def exports(client: TestClient) -> list[dict[str, Any]]:
    return search(client, client.app, f"type={DCM}|110106")


def described(event: dict[str, Any]) -> str:
    return " ".join(str(e.get("description", "")) for e in event.get("entity", []))


def named(event: dict[str, Any], role: str) -> list[str]:
    return [
        e["what"]["reference"]
        for e in event.get("entity", [])
        if e.get("role", {}).get("code") == role and "reference" in e.get("what", {})
    ]


def policies(event: dict[str, Any]) -> list[str]:
    return [p for a in event["agent"] if a.get("requestor") for p in a.get("policy", [])]


def disclosed(event: dict[str, Any]) -> bool:
    return any(s.get("system") == LIFECYCLE for s in event.get("subtype", []))


def test_the_kick_off_and_every_download_are_export_events(gateway: TestClient) -> None:
    writer = hospital(gateway, user="dr.ames")
    pid = patient(gateway, writer, "Exported")
    cid = condition(gateway, writer, pid)
    status = started(kick_off(gateway, writer, params={"_type": "Patient,Condition"}))
    job = status.rsplit("/", 1)[1]
    body = manifest(gateway, writer, status)
    for output in body["output"]:
        assert gateway.get(local(output["url"]), headers=writer).status_code == 200
    events = exports(gateway)
    kick_offs = [e for e in events if "requested" in described(e)]
    downloads = [e for e in events if ": file " in described(e)]
    assert len(kick_offs) == 1 and len(downloads) == 2
    assert f"{job} requested (system level)" in described(kick_offs[0])
    assert all(job in described(e) for e in downloads)
    by_type = {("Condition" if "Condition" in described(e) else "Patient"): e for e in downloads}
    assert named(by_type["Condition"], "1") == [f"Patient/{pid}"]
    assert named(by_type["Condition"], "4") == [f"Condition/{cid}"]
    assert named(by_type["Patient"], "4") == [f"Patient/{pid}"]
    # the rules that let the hospital see its own records are named; treatment is not accounted
    assert policies(by_type["Condition"])
    assert not any(disclosed(e) for e in downloads)
    users = {a.get("altId") for e in downloads for a in e["agent"]}
    assert "dr.ames" in users


def test_a_download_by_police_is_a_disclosure_in_the_accounting(gateway: TestClient) -> None:
    writer = hospital(gateway)
    pid = patient(gateway, writer, "Located")
    condition(gateway, writer, pid)
    police = token(gateway, role="police_officer", agency="demo-amarillo-pd", purposes=["HLEGAL"])
    body = export(gateway, police, params={"_type": "Patient,Condition"})
    assert [o["type"] for o in body["output"]] == ["Patient"]  # the law-enforcement view only
    assert gateway.get(local(body["output"][0]["url"]), headers=police).status_code == 200
    (download,) = [e for e in exports(gateway) if ": file " in described(e)]
    assert disclosed(download)
    assert named(download, "1") == [f"Patient/{pid}"]
    # the decisions that withheld the Condition are named with those that let the Patient out
    assert any("police" in p for p in policies(download))
    auditor = token(gateway, role="bha_auditor", agency="demo-tpc", purposes=["HOPERAT"])
    accounting = gateway.get(
        "/audit/accounting", params={"patient": f"Patient/{pid}"}, headers=auditor
    )
    assert accounting.status_code == 200, accounting.text
    whats = [d["what"] for d in accounting.json()["disclosures"]]
    assert any("FHIR bulk data export" in w for w in whats)


def test_a_file_whose_download_cannot_be_audited_is_not_served(
    gateway: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = hospital(gateway)
    patient(gateway, writer, "Unaudited")
    body = export(gateway, writer, params={"_type": "Patient"})

    def broken(self: AuditLog, session: Any, event: dict[str, Any]) -> str:
        raise AuditUnavailable("the audit trail cannot be written")

    monkeypatch.setattr(AuditLog, "append", broken)
    response = gateway.get(local(body["output"][0]["url"]), headers=writer)
    assert response.status_code == 503
    assert "Unaudited" not in response.text
