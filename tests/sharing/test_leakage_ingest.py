"""What an ingest answer tells its sender (issue "Sharing rules", item 6: every access path).

An agency system pushing records gets an answer: a ``transaction-response`` or ``batch-response``
Bundle over HTTP (police RMS records, HL7 v2, authority case records, FHIR pushes), an ACK over MLLP,
or an OperationOutcome. Each push here is about a person another agency already holds (so the person
is linked across agencies), and the answer may name only resources the sender wrote itself: no other
agency's resource or patient id, no patient data, no label, and for police none of the sensitive
codes. A FHIR push can ask the store questions of its own (``ifNoneExist``, conditional references):
those see the sender's own records only, so a question about another agency's Part 2 record is
answered exactly as a question about nothing.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.db.tables import ResourceRow
from gateway.db.tables_ingest import MpiLinkRow
from gateway.ingest.senders import add_sender
from gateway.settings import Settings
from gateway.sharing.profile import owner_of
from tests.adapters.bha.samples import part2_record, plain_record
from tests.adapters.police_rms.samples import full_record
from tests.conftest import bearer
from tests.sharing.conftest import AGENCIES
from tests.sharing.leakage import HOSPITAL, ICD, police_safe, seed
from tests.support.live import free_port
from tests.support.smart import public_jwks, rsa_key

POLICE = "demo-amarillo-pd"
BHA = "demo-tpc"
# (client, agency, role, MLLP sending facility)
SENDERS = {
    "police_rms": ("pd-rms", POLICE, "police_rms", "PDRMS"),
    "hospital_ehr": ("regional-ehr", HOSPITAL, "hospital_ehr", "REGIONAL"),
}
# Whose person each sender's pushes name: police push the hospital's patient, the hospital the
# authority's Part 2 client.
PERSON = {
    "police_rms": ("Leakcheck", "Rowan", "1991-04-02", "female"),
    "hospital_ehr": ("Sample", "Jordan", "1988-11-02", "male"),
}
# Never in an answer: patient data (the senders' own included: answers carry ids only), labels.
SECRETS = ("Leakcheck", "Rowan", "Sample", "Jordan", "1991-04-02", "1988-11-02", "42CFRPart2")
JSON = {"Content-Type": "application/json"}
FHIR_JSON = {"Content-Type": "application/fhir+json"}
ER7 = {"Content-Type": "x-application/hl7-v2+er7"}


@pytest.fixture()
def exchange(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    """The partnership with the senders' systems registered (MLLP too), the hospital's patient with
    substance-use, mental-health, HIV and psychotherapy records, and the authority's Part 2 client."""
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in AGENCIES.items():
            registry.add_agency(agency, kind, agency)
        for client_id, agency, role, facility in SENDERS.values():
            registry.add_client(
                client_id, agency, role, "system/*.cruds", jwks=public_jwks(rsa_key())
            )
            add_sender(session, facility, "127.0.0.1/32", client_id)
    app = create_app(
        settings.with_overrides(mllp_port=free_port()),
        db=db,
        keys=keystore,
        background_workers=False,
    )
    with TestClient(app) as client:
        seed(client)
        bha = {**JSON, **bearer(app, role="bha_system", agency=BHA, client_id="tpc-case-system")}
        response = client.post("/ingest/bha", content=orjson.dumps(part2_record()), headers=bha)
        assert response.status_code == 201, response.text
        yield client


def token(client: TestClient, sender: str) -> dict[str, str]:
    client_id, agency, role, _ = SENDERS[sender]
    return bearer(client.app, role=role, agency=agency, client_id=client_id)


def stored(client: TestClient) -> dict[tuple[str, str], dict[str, Any]]:
    """Every live resource, read beneath the enforcement point."""
    with client.app.state.db.unit_of_work() as session:
        rows = session.execute(
            select(ResourceRow.rtype, ResourceRow.res_id, ResourceRow.content).where(
                ResourceRow.deleted.is_(False)
            )
        ).all()
    return {(t, i): orjson.loads(c) for t, i, c in rows if c}


def named(answer: Any) -> set[tuple[str, str]]:
    """(type, id) of every resource an answer names by fullUrl or location."""
    found: set[tuple[str, str]] = set()
    stack = [answer]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("fullUrl", "location") and isinstance(value, str):
                    parts = value.split("/fhir/", 1)[-1].split("/")
                    found.add((parts[0], parts[1]))
                else:
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def disclosed(client: TestClient, sender: str, text: str, answer: Any = None) -> list[str]:
    """What an answer to ``sender`` tells beyond what it sent itself."""
    agency = SENDERS[sender][1]
    everything = stored(client)
    problems = [
        f"names {rtype} written by {owner_of(everything.get((rtype, rid), {}))}"
        for rtype, rid in named(answer)
        if owner_of(everything.get((rtype, rid), {})) != agency
    ]
    foreign = {rid for (_, rid), res in everything.items() if owner_of(res) != agency}
    problems += [f"holds the id of another agency's {rid[:8]}" for rid in foreign if rid in text]
    problems += [f"holds {secret}" for secret in SECRETS if secret in text]
    if sender == "police_rms":
        problems += [f"holds {code}" for code in police_safe(text)]
    return problems


def linked_across_agencies(client: TestClient, sender: str) -> bool:
    """Whether some patient of ``sender`` was linked to another agency's patient."""
    agency = SENDERS[sender][1]
    everything = stored(client)
    with client.app.state.db.unit_of_work() as session:
        pairs = session.execute(select(MpiLinkRow.patient_a, MpiLinkRow.patient_b)).all()
    owners = [{owner_of(everything.get(("Patient", p), {})) for p in pair} for pair in pairs]
    return any(agency in both and len(both) == 2 for both in owners)


# ---- pushes in every format, about a person another agency holds ---------------------------------


def rms_record(sender: str) -> bytes:
    family, given, birth, sex = PERSON[sender]
    record = full_record()
    record["persons"][0].update(
        {"name": {"family": family, "given": [given]}, "birth_date": birth, "sex": sex}
    )
    return orjson.dumps(record)


def case_record(sender: str) -> bytes:
    family, given, birth, sex = PERSON[sender]
    record = plain_record()
    record["client"].update(
        {"name": {"family": family, "given": [given]}, "birth_date": birth, "sex": sex}
    )
    return orjson.dumps(record)


def adt(sender: str, control_id: str, mrn: str) -> bytes:
    family, given, birth, sex = PERSON[sender]
    facility = SENDERS[sender][3]
    return (
        "\r".join(
            [
                f"MSH|^~\\&|APP|{facility}|GATEWAY|GATEWAY|20260105100000||ADT^A01^ADT_A01|"
                f"{control_id}|P|2.5.1",
                "EVN|A01|20260105100000",
                f"PID|1||{mrn}^^^{facility}^MR||{family.upper()}^{given.upper()}||"
                f"{birth.replace('-', '')}|{sex[0].upper()}",
                f"PV1|1|E|ED^1^1||||||||||||||||V{control_id}",
            ]
        ).encode()
        + b"\r"
    )


def push_bundle(sender: str, key: str, entries: list[dict[str, Any]]) -> bytes:
    family, given, birth, sex = PERSON[sender]
    patient = {
        "resourceType": "Patient",
        "id": "p-1",
        "name": [{"family": family, "given": [given]}],
        "birthDate": birth,
        "gender": sex,
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "identifier": {"system": "urn:example:push", "value": key},
        "timestamp": "2026-01-05T10:00:00Z",
        "entry": [
            {"fullUrl": "urn:uuid:9d0f1c2e-0000-4000-8000-000000000001", "resource": patient}
            | {"request": {"method": "PUT", "url": "Patient/p-1"}},
            *entries,
        ],
    }
    return orjson.dumps(bundle)


@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_answers_over_http_name_only_what_the_sender_sent(
    exchange: TestClient, sender: str
) -> None:
    headers = token(exchange, sender)
    pushes = {
        "police-rms": (rms_record(sender), JSON),
        "bha": (case_record(sender), JSON),
        "hl7v2": (adt(sender, f"{sender}-1", "MRN-1"), ER7),
        "hl7v2 batch": (adt(sender, f"{sender}-2", "MRN-2") + adt(sender, "x", "MRN-3"), ER7),
        "fhir": (push_bundle(sender, f"{sender}-push", []), FHIR_JSON),
    }
    # refused: a record with an impossible birth date, a message type the gateway does not take,
    # and a batch with one of each
    bad = orjson.loads(rms_record(sender))
    bad["persons"][0]["birth_date"] = "1991-02-30"
    unsupported = adt(sender, f"{sender}-3", "MRN-4").replace(b"ADT^A01^ADT_A01", b"ORU^R01")
    refused = {
        "police-rms refused": (orjson.dumps(bad), JSON),
        "hl7v2 refused": (unsupported, ER7),
        "hl7v2 batch with a refusal": (adt(sender, f"{sender}-4", "MRN-5") + unsupported, ER7),
    }
    problems = []
    for path, (payload, media) in (pushes | refused).items():
        url = f"/ingest/{path.split()[0]}"
        response = exchange.post(url, content=payload, headers={**headers, **media})
        expected = (400, 422) if path.endswith(" refused") else (200, 201)
        assert response.status_code in expected, (path, response.text)
        problems += [
            f"{path}: {p}" for p in disclosed(exchange, sender, response.text, response.json())
        ]
    assert not problems, "\n".join(problems)
    # the pushes were linked to the other agency's record of the person: the answers had
    # merged identity data to leak, and did not
    assert linked_across_agencies(exchange, sender)


@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_mllp_acks_say_nothing_about_other_agencies(exchange: TestClient, sender: str) -> None:
    port = exchange.app.state.mllp_port
    known = adt(sender, f"{sender}-mllp-1", "MRN-M1")
    # the same message about a person no agency holds
    family = PERSON[sender][0]
    nobody = adt(sender, f"{sender}-mllp-2", "MRN-M2").replace(
        family.upper().encode(), b"NOBODYKNOWN"
    )
    acks = [mllp(port, message) for message in (known, nobody)]
    problems = [p for ack in acks for p in disclosed(exchange, sender, ack)]
    assert not problems, "\n".join(problems)
    assert [msa(ack)[1] for ack in acks] == ["AA", "AA"]
    assert linked_across_agencies(exchange, sender)
    # apart from the control ids and the time, the two ACKs are the same
    assert comparable(acks[0]) == comparable(acks[1])


def mllp(port: int, message: bytes) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"\x0b" + message + b"\x1c\x0d")
        data = b""
        while not data.endswith(b"\x1c\x0d"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data[1:-2].decode()


def msa(ack: str) -> list[str]:
    return next(s for s in ack.split("\r") if s.startswith("MSA")).split("|")


def comparable(ack: str) -> list[list[str]]:
    segments = [s.split("|") for s in ack.split("\r") if s]
    for fields in segments:
        if fields[0] == "MSH":
            fields[6], fields[9] = "", ""  # MSH-7 time, MSH-10 the ACK's own control id
        if fields[0] == "MSA":
            fields[2] = ""  # MSA-2 echoes the message's control id
    return segments


# ---- questions a FHIR push asks the store ---------------------------------------------------


def foreign_sud_condition(client: TestClient, sender: str) -> tuple[str, str, str]:
    """(condition id, its patient, its code token) of the other agency's substance-use record:
    the hospital's for police, the authority's Part 2 record for the hospital."""
    owner = HOSPITAL if sender == "police_rms" else BHA
    for (rtype, rid), resource in stored(client).items():
        codings = (resource.get("code") or {}).get("coding") or []
        sud = [c for c in codings if str(c.get("code", "")).startswith("F11")]
        if rtype == "Condition" and owner_of(resource) == owner and sud:
            patient = resource["subject"]["reference"]
            return rid, patient, f"{sud[0]['system']}|{sud[0]['code']}"
    raise AssertionError(f"no substance-use Condition of {owner}")


def condition(if_none_exist: str) -> dict[str, Any]:
    resource = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/p-1"},
        "code": {"coding": [{"system": ICD, "code": "R45.851"}]},
    }
    request = {"method": "POST", "url": "Condition", "ifNoneExist": if_none_exist}
    return {"resource": resource, "request": request}


def observation(focus: str) -> dict[str, Any]:
    resource = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p-1"},
        "focus": [{"reference": focus}],
        "valueQuantity": {"value": 88, "unit": "/min"},
    }
    return {"resource": resource, "request": {"method": "POST", "url": "Observation"}}


@pytest.mark.parametrize("sender", sorted(SENDERS))
def test_conditional_pushes_cannot_probe_other_agencies_records(
    exchange: TestClient, sender: str
) -> None:
    headers = {**token(exchange, sender), **FHIR_JSON}
    target, patient, code = foreign_sud_condition(exchange, sender)
    first = exchange.post("/ingest/fhir", content=push_bundle(sender, "p", []), headers=headers)
    assert first.status_code == 201, first.text
    questions = {
        # does the other agency hold this substance-use record?
        "ifNoneExist": (f"subject={patient}&code={code}", f"subject={patient}&code={ICD}|Z99.89"),
        # ... several records about this patient?
        "ifNoneExist, several": (f"subject={patient}", "subject=Patient/no-such-patient"),
        # ... and point at it from a record of mine, to read its id back
        "conditional reference": (
            f"Condition?subject={patient}&code={code}",
            f"Condition?subject={patient}&code={ICD}|Z99.89",
        ),
    }
    problems = []
    for q, (question, (about_record, about_nothing)) in enumerate(questions.items()):
        answers = []
        for n, criteria in enumerate((about_record, about_nothing)):
            entry = condition(criteria) if question.startswith("if") else observation(criteria)
            payload = push_bundle(sender, f"{sender}-{q}-{n}", [entry])
            response = exchange.post("/ingest/fhir", content=payload, headers=headers)
            assert response.status_code < 500, response.text
            problems += [
                f"{question}: {p}"
                for p in disclosed(exchange, sender, response.text, response.json())
            ]
            answers.append((response.status_code, shape(response.json())))
        if answers[0] != answers[1]:
            problems.append(f"{question}: answered {answers[0]} for the record, {answers[1]} else")
    # nothing the sender stored points at the other agency's record
    agency = SENDERS[sender][1]
    for (rtype, rid), resource in stored(exchange).items():
        if owner_of(resource) == agency and target in orjson.dumps(resource).decode():
            problems.append(f"the sender's {rtype} {rid[:8]} refers to the other agency's record")
    assert not problems, "\n".join(problems)


def shape(answer: Any) -> Any:
    """An answer with its record key, ids, versions and times taken out."""
    text = orjson.dumps(answer).decode()
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", text)
    text = re.sub(r"[0-9a-f]{40}", "<id>", text)
    text = re.sub(r'W/\\"\d+\\"|_history/\d+', "<version>", text)
    text = re.sub(r'"lastModified":"[^"]*"', '"lastModified":""', text)
    return re.sub(r"(police_rms|hospital_ehr)-\d-\d", "<key>", text)


def test_a_push_still_matches_the_senders_own_records(exchange: TestClient) -> None:
    """The questions a push may ask about its own records keep working."""
    headers = {**token(exchange, "hospital_ehr"), **FHIR_JSON}
    first = push_bundle("hospital_ehr", "own-1", [condition("code=" + ICD + "|R45.851")])
    created = exchange.post("/ingest/fhir", content=first, headers=headers)
    assert created.status_code == 201, created.text
    mine = [k for k in named(created.json()) if k[0] == "Condition"]
    again = push_bundle("hospital_ehr", "own-2", [condition("code=" + ICD + "|R45.851")])
    matched = exchange.post("/ingest/fhir", content=again, headers=headers)
    assert matched.status_code in (200, 201), matched.text
    assert [k for k in named(matched.json()) if k[0] == "Condition"] == mine
    pointing = push_bundle("hospital_ehr", "own-3", [observation(f"Condition?code={ICD}|R45.851")])
    response = exchange.post("/ingest/fhir", content=pointing, headers=headers)
    assert response.status_code in (200, 201), response.text
    observations = [
        r for (t, _), r in stored(exchange).items() if t == "Observation" and r.get("focus")
    ]
    assert [o["focus"][0]["reference"] for o in observations] == [f"Condition/{mine[0][1]}"]
