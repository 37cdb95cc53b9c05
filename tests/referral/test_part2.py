"""A 42 CFR Part 2 referral (substance-use diagnosis) goes only with the patient's written consent
naming the receiver, and carries that consent and the 2.32 notice; the receiver then sees it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.referral import codes
from gateway.sharing.profile import agency_uri
from tests.referral.support import BASE, CLINIC, HOSPITAL, as_agency, outcome, referral_request

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
OPIOID = {"coding": [{"system": ICD10, "code": "F11.20", "display": "Opioid dependence"}]}


def consent(db: Database, actor: str) -> None:
    with db.unit_of_work() as session:
        ResourceService(session, BASE).update(
            "Consent",
            "consent-part2",
            {
                "resourceType": "Consent",
                "id": "consent-part2",
                "meta": {"source": agency_uri(HOSPITAL)},
                "status": "active",
                "scope": {"coding": [{"code": "patient-privacy"}]},
                "category": [{"coding": [{"code": "42CFRPart2"}]}],
                "patient": {"reference": "Patient/pat-1"},
                "policy": [{"uri": "https://www.ecfr.gov/current/title-42/part-2"}],
                "provision": {
                    "type": "permit",
                    "actor": [
                        {
                            "role": {"coding": [{"code": "IRCP"}]},
                            "reference": {"reference": f"Organization/{actor}"},
                        }
                    ],
                    "purpose": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                            "code": "TREAT",
                        }
                    ],
                },
            },
        )


def post(client: TestClient) -> object:
    body = referral_request("sud-treatment", reasonCode=[OPIOID])
    return client.post("/referrals", json=body, headers=as_agency(client, HOSPITAL))


def test_without_a_consent_naming_the_receiver_nothing_is_sent(
    app_client: TestClient, seeded: Database
) -> None:
    refused = post(app_client)
    assert refused.status_code == 409
    assert "42 CFR Part 2" in outcome(refused) and "Organization/tpc-bha" in outcome(refused)
    consent(seeded, "sunrise-psych")  # a consent for somebody else does not do
    assert post(app_client).status_code == 409
    queue = app_client.get("/referrals/queue", headers=as_agency(app_client, CLINIC)).json()
    assert queue["items"] == []  # nothing was left behind


def test_with_consent_the_referral_carries_it_and_the_notice(
    app_client: TestClient, seeded: Database
) -> None:
    consent(seeded, CLINIC)
    response = post(app_client)
    assert response.status_code == 201, response.text
    sr, task = (e["resource"] for e in response.json()["entry"])
    labels = {s["code"] for s in sr["meta"]["security"]}
    assert {"SUD", "42CFRPart2"} <= labels
    inputs = {i["type"]["coding"][0]["code"]: i for i in task["input"]}
    assert inputs[codes.INPUT_CONSENT]["valueReference"] == {"reference": "Consent/consent-part2"}
    notice = inputs[codes.INPUT_NOTICE]["valueString"]
    assert notice.startswith("This record which has been disclosed to you is protected")
    seen = app_client.get(f"/referrals/{task['id']}", headers=as_agency(app_client, CLINIC)).json()[
        "service_request"
    ]
    assert seen is not None
    tags = {t.get("code") for t in seen["meta"].get("tag", [])}
    assert "42CFR2.32" in tags  # the sharing layer's redisclosure notice on what it shows
