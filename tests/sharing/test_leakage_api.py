"""The leakage matrix over the API: every role the console and agency systems use, several purposes,
with and without consent and agreements, over every FHIR read path (issue "Sharing rules", item 6).

The oracle is the pure decision (``policies.pipeline.evaluate``) on the stored resource with the
relationships this test set up itself (who wrote what), not the gateway's own fact queries: a path
that shows a resource the rules do not allow, withholds one they allow, or shows it differently from
a plain read, fails. Independently of any oracle, police must never receive a mental-health,
substance-use, psychotherapy-note or HIV label or code by any path.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.settings import Settings
from policies.agreements import EXAMPLE_PATH, AgreementSet
from tests.sharing.conftest import AGENCIES
from tests.sharing.leakage import (
    CALLERS,
    CONSENTS,
    Caller,
    Oracle,
    add_consent,
    entries,
    police_safe,
    same_content,
    seed,
    stored_content,
)


@pytest.fixture()
def without_agreements(
    db: Database, settings: Settings, keystore: KeyStore, tmp_path: Path
) -> Iterator[TestClient]:
    """The same partnership with every agreement withdrawn: only an agency's own records flow."""
    example = EXAMPLE_PATH.read_text(encoding="utf-8")
    empty = tmp_path / "no-agreements.toml"
    empty.write_text(example.split("[[agreement]]", 1)[0], encoding="utf-8")
    assert not AgreementSet.load(empty).agreements
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in AGENCIES.items():
            registry.add_agency(agency, kind, agency)
    app = create_app(replace(settings, agreements_file=empty), db=db, keys=keystore)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("scenario", sorted(CONSENTS))
def test_every_read_path_shows_exactly_what_the_rules_allow(
    gateway: TestClient, scenario: str
) -> None:
    assert_matrix(gateway, scenario)


@pytest.mark.parametrize("scenario", ["no-consent", "part2-for-crisis-team"])
def test_without_agreements_only_own_records_flow(
    without_agreements: TestClient, scenario: str
) -> None:
    shown = assert_matrix(without_agreements, scenario)
    # the oracle agrees with the API, and what it allows is the writer's own agency's alone
    assert shown and all(agency == writer for agency, writer in shown)


def assert_matrix(gateway: TestClient, scenario: str) -> set[tuple[str, str]]:
    """Run every caller over every path; return (caller agency, writer agency) of what was shown."""
    patient, writer = seed(gateway)
    consents = add_consent(gateway, patient, scenario, writer)
    oracle = Oracle(gateway, patient, writer, consents)
    problems: list[str] = []
    for caller in CALLERS:
        problems += check_caller(gateway, oracle, caller)
    assert problems == []
    return {
        (caller.agency, oracle.writer[key])
        for caller in CALLERS
        for key in oracle.stored
        if oracle.shown(caller, key, "read") is not None
    }


def check_caller(client: TestClient, oracle: Oracle, caller: Caller) -> list[str]:
    headers = caller.headers(client)
    problems: list[str] = []
    read_as: dict[tuple[str, str], dict[str, Any]] = {}

    def note(path: str, body: str, what: str) -> None:
        # the body is never put in the failure message: it may hold what must not leak
        problems.append(
            f"{caller.role}/{caller.agency}/{'+'.join(caller.purposes)}: {path}: {what}"
        )

    def get(path: str) -> tuple[int, str]:
        response = client.get(path, headers=headers)
        assert response.status_code < 500, (path, response.text)
        if caller.police and response.status_code == 200:
            leaked = police_safe(response.text)
            if leaked:
                note(path, response.text, f"police received {leaked}")
        return response.status_code, response.text

    # read, vread and instance history agree with the oracle, resource by resource
    for key in oracle.stored:
        rtype, rid = key
        expected = oracle.shown(caller, key, "read")
        status, body = get(f"/fhir/{rtype}/{rid}")
        if (status == 200) != (expected is not None):
            note(f"read {rtype}", body, f"status {status}, rules say {expected is not None}")
            continue
        if expected is None:
            if status != 403:
                note(f"read {rtype}", body, f"refused with {status}, not 403")
            continue
        shown = orjson.loads(body)
        read_as[key] = shown
        if not same_content(shown, expected):
            note(f"read {rtype}", body, "content differs from what the rules give")
        status, body = get(f"/fhir/{rtype}/{rid}/_history/1")
        if status != 200 or not same_content(orjson.loads(body), shown):
            note(f"vread {rtype}", body, f"status {status} or content differs from read")
        status, body = get(f"/fhir/{rtype}/{rid}/_history")
        if status != 200 or list(entries(orjson.loads(body))) != [key]:
            note(f"history {rtype}", body, f"status {status} or entries differ")

    # searches, includes, chains, type history and batch show the same set with the same content
    def compare(path: str, rtype: str, found: dict[tuple[str, str], dict], action: str) -> None:
        want = oracle.visible(caller, rtype, action)
        got = {rid for (t, rid) in found if t == rtype}
        if got != want:
            note(path, "", f"{rtype} shown {sorted(got - want)} withheld {sorted(want - got)}")
        for key, resource in found.items():
            if key in read_as and not same_content(resource, read_as[key]):
                note(path, "", f"{key[0]} content differs from its read")

    subject = f"Patient/{oracle.patient}"
    searches = {
        "Condition": f"/fhir/Condition?subject={subject}",
        "Encounter": f"/fhir/Encounter?patient={subject}",
        "DocumentReference": f"/fhir/DocumentReference?subject={subject}",
        "Flag": f"/fhir/Flag?subject={subject}",
        "Coverage": f"/fhir/Coverage?beneficiary={subject}",
        "Consent": f"/fhir/Consent?patient={subject}",
        "Patient": f"/fhir/Patient?_id={oracle.patient}",
    }
    for rtype, path in searches.items():
        status, body = get(path)
        if status == 200:
            compare(path, rtype, entries(orjson.loads(body), "match"), "search")
        elif oracle.visible(caller, rtype):
            note(path, body, f"search refused with {status} though the rules allow some")
        form = path.split("?", 1)[1]
        response = client.post(
            f"/fhir/{rtype}/_search",
            content=form,
            headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
        )
        if response.status_code == 200:
            compare(f"POST {path}", rtype, entries(response.json(), "match"), "search")
    patient_shown = bool(oracle.visible(caller, "Patient"))
    conditions_shown = bool(oracle.visible(caller, "Condition"))
    for rtype, path, anchor_shown in (
        (
            "Condition",
            f"/fhir/Patient?_id={oracle.patient}&_revinclude=Condition:subject",
            patient_shown,
        ),
        (
            "Patient",
            f"/fhir/Condition?subject={subject}&_include=Condition:subject",
            conditions_shown,
        ),
        (
            "Encounter",
            f"/fhir/Patient?_id={oracle.patient}&_revinclude=Encounter:subject",
            patient_shown,
        ),
    ):
        status, body = get(path)
        if status != 200:
            continue
        # an include follows a match: nothing is included when nothing matched
        included = {k: v for k, v in entries(orjson.loads(body)).items() if k[0] == rtype}
        want = oracle.visible(caller, rtype) if anchor_shown else set()
        got = {rid for (_, rid) in included}
        if got != want:
            note(path, "", f"{rtype} included {sorted(got - want)} withheld {sorted(want - got)}")
    chained = "/fhir/Condition?" + urllib.parse.urlencode({"subject:Patient.family": "Leakcheck"})
    status, body = get(chained)
    if status == 200:
        compare(chained, "Condition", entries(orjson.loads(body), "match"), "search")
    status, body = get("/fhir/Condition/_history")
    if status == 200:
        compare("Condition/_history", "Condition", entries(orjson.loads(body)), "search")
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"{t}/{i}"}} for (t, i) in oracle.stored],
    }
    response = client.post("/fhir", json=batch, headers=headers)
    assert response.status_code == 200, response.text
    if caller.police and police_safe(response.text):
        note("batch", "", f"police received {police_safe(response.text)}")
    for (rtype, rid), entry in zip(oracle.stored, response.json()["entry"], strict=True):
        status = int(entry["response"]["status"].split()[0])
        expected = oracle.shown(caller, (rtype, rid), "read")
        if (status == 200) != (expected is not None):
            note(f"batch GET {rtype}", "", f"status {status}, rules say {expected is not None}")
    return problems


def test_patches_cannot_probe_records_the_caller_may_not_see(gateway: TestClient) -> None:
    patient, writer = seed(gateway)
    sud = next(
        rid
        for (t, rid) in writer
        if t == "Condition" and "F11.20" in str(stored_content(gateway, t, rid))
    )
    police = CALLERS[0].headers(gateway)
    response = gateway.patch(
        f"/fhir/Condition/{sud}",
        content=b'[{"op": "test", "path": "/code/coding/0/code", "value": "F11.20"}]',
        headers={**police, "Content-Type": "application/json-patch+json"},
    )
    assert response.status_code == 403
    assert not police_safe(response.text)
    assert "42 CFR" not in response.text  # the refusal does not tell it is a Part 2 record
    # a failing "test" is refused the same way: the patch cannot probe the content
    wrong = b'[{"op": "test", "path": "/code/coding/0/code", "value": "I10"}]'
    again = gateway.patch(
        f"/fhir/Condition/{sud}",
        content=wrong,
        headers={**police, "Content-Type": "application/json-patch+json"},
    )
    assert again.status_code == 403
    assert again.json()["issue"][0]["diagnostics"].replace(sud, "") == response.json()["issue"][0][
        "diagnostics"
    ].replace(sud, "")
    assert stored_content(gateway, "Condition", sud)["meta"]["versionId"] == "1"
    assert patient
