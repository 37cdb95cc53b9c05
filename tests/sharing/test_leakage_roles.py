"""The leakage matrix over every role and every purpose of use (issue "Sharing rules", item 6).

Every role the registry knows (people and agency systems: police RMS, hospital EHR, authority and
facility systems, the crisis team's app, the web console, program readers) is run with every purpose
of use in ``gateway.auth.roles.PURPOSES`` against a resource of every data class about three
patients: one without consent, one who opted out, one whose 42 CFR Part 2 consent names the crisis
team. Then every role, with its usual purpose, again with every agreement withdrawn.

Each caller goes through a representative set of paths: a batch reading every resource about no
patient, about the patient without consent and about one of the consenting patients (by purpose:
each role reads both), and searching with ``_total=accurate`` Condition and every type the rules
show it something of; a plain read (taking turns over all resources); and a plain search of the
three patients with an exact total and a ``_revinclude`` of everything about them.
``test_leakage_api.py`` runs the full path set for the console's callers. The oracle is the pure
decision on the stored resource with the relationships this test set up; police must never receive
a mental-health, substance-use, psychotherapy-note or HIV label or code by any path, whatever the
oracle says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.auth.roles import PURPOSES
from gateway.db.session import Database
from gateway.settings import Settings
from policies.agreements import EXAMPLE_PATH, AgreementSet
from tests.sharing.conftest import AGENCIES
from tests.sharing.leakage import Caller, entries, police_safe, same_content
from tests.sharing.leakage_classes import (
    FACILITY,
    Population,
    role_purpose_callers,
    working_callers,
)

# How each type's resources point at their patient, for _revinclude (FHIR R4 search parameters).
REVINCLUDE = {
    "Coverage": "beneficiary",
    "Consent": "patient",
    "Task": "patient",
    "Provenance": "target",
}
NOT_ABOUT_A_PATIENT = ("Organization", "MeasureReport", "Subscription")
# Which consenting patient's records a caller with this purpose also reads one by one (the searches
# and the _revinclude reach all three patients for every caller). Each role reads both, and the
# pairs that weigh most are here: treatment and care management under the Part 2 consent, break
# the glass, emergency treatment and law enforcement against the opt-out (and threat against the
# Part 2 consent).
READ_ONE_BY_ONE = {
    "BTG": "opt-out",
    "ETREAT": "opt-out",
    "HLEGAL": "opt-out",
    "HOPERAT": "opt-out",
    "PUBHLTH": "opt-out",
    "TREAT": "part2-for-crisis-team",
    "CAREMGT": "part2-for-crisis-team",
    "THREAT": "part2-for-crisis-team",
    "GOV": "part2-for-crisis-team",
    "HPAYMT": "part2-for-crisis-team",
}


def register(db: Database) -> None:
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in {**AGENCIES, FACILITY: "facility"}.items():
            registry.add_agency(agency, kind, agency)


@pytest.fixture()
def partnership(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    """The demo partnership, a facility registered too."""
    register(db)
    with TestClient(create_app(settings, db=db, keys=keystore, background_workers=False)) as client:
        yield client


@pytest.fixture()
def no_agreements(
    db: Database, settings: Settings, keystore: KeyStore, tmp_path: Path
) -> Iterator[TestClient]:
    """The same partnership with every agreement withdrawn."""
    empty = tmp_path / "no-agreements.toml"
    example = EXAMPLE_PATH.read_text(encoding="utf-8")
    empty.write_text(example.split("[[agreement]]", 1)[0], encoding="utf-8")
    assert not AgreementSet.load(empty).agreements
    register(db)
    app = create_app(
        replace(settings, agreements_file=empty), db=db, keys=keystore, background_workers=False
    )
    with TestClient(app) as client:
        yield client


def test_every_role_with_every_purpose_sees_exactly_what_the_rules_allow(
    partnership: TestClient,
) -> None:
    assert set(READ_ONE_BY_ONE) == PURPOSES
    shown = run_matrix(partnership, role_purpose_callers())
    # not vacuous: people and systems of every kind of agency see patient data, police included
    readers = {role for role, _, about in shown if about}
    assert readers >= {"hospital_ehr", "crisis_team_system", "police_rms", "facility_system"}
    assert {role for role, _, about in shown if not about} >= {"program_reader", "bha_auditor"}


def test_without_agreements_every_role_sees_only_its_own_agencys_patient_data(
    no_agreements: TestClient,
) -> None:
    shown = run_matrix(no_agreements, working_callers())
    patient_data = {(reader, writer) for _, reader, writer in shown if writer}
    assert patient_data and all(reader == writer for reader, writer in patient_data)


def run_matrix(client: TestClient, callers: tuple[Caller, ...]) -> set[tuple[str, str, str]]:
    """Every caller over the representative paths; returns (role, reader agency, writer agency if
    the record is about a patient, else "") of everything the rules let through."""
    population = Population(client)
    problems: list[str] = []
    for turn, caller in enumerate(callers):
        problems += check_caller(client, population, caller, turn)
    assert not problems, "\n".join(problems)
    return {
        (caller.role, caller.agency, population.writer[key] if population.about[key] else "")
        for caller in callers
        for key in population.stored
        if population.shown(caller, key, "read") is not None
    }


def check_caller(client: TestClient, oracle: Population, caller: Caller, turn: int) -> list[str]:
    headers = caller.headers(client)
    problems: list[str] = []

    def note(path: str, what: str) -> None:
        # never the body: it may hold what must not leak
        problems.append(f"{caller.name}: {path}: {what}")

    def police_check(path: str, body: str) -> None:
        if caller.police and (leaked := police_safe(body)):
            note(path, f"police received {leaked}")

    def read(path: str, key: tuple[str, str], status: int, resource: Any) -> None:
        expected = oracle.shown(caller, key, "read")
        if expected is None and status != 403:
            note(path, f"status {status}, the rules refuse (403)")
        elif expected is not None and status != 200:
            note(path, f"status {status}, the rules allow")
        elif expected is not None and not same_content(resource, expected):
            note(path, "content differs from what the rules give")

    def searched(path: str, rtype: str, status: int, bundle: Any) -> None:
        if status != 200:
            if oracle.visible(caller, rtype):
                note(path, f"refused with {status} though the rules allow some")
            return
        found = entries(bundle, "match")
        want = oracle.visible(caller, rtype)
        got = {rid for (t, rid) in found if t == rtype}
        if got != want:
            note(path, f"shown {sorted(got - want)} withheld {sorted(want - got)}")
        if bundle.get("total") != len(found):
            note(path, f"total {bundle.get('total')} for {len(found)} matches")
        for key, resource in found.items():
            expected = oracle.shown(caller, key, "search")
            if expected is not None and not same_content(resource, expected):
                note(path, f"{key[0]} content differs from what the rules give")

    keys = sorted(oracle.stored)
    types = sorted({t for t, _ in keys})
    searches = {t: f"{t}?_total=accurate" for t in types}
    # Condition (diagnoses, mental health, substance use, HIV) and every type the rules show the
    # caller something of
    readable = {t for t, i in keys if oracle.shown(caller, (t, i), "read") is not None}
    in_batch = ["Condition", *(t for t in types if t in readable - {"Condition", "Patient"})]
    # every resource about no patient or about the patient without consent, and those about one
    # of the consenting patients
    purpose = "BTG" if caller.btg else caller.purposes[0]
    patients = {None, oracle.patients["no-consent"], oracle.patients[READ_ONE_BY_ONE[purpose]]}
    reads = [k for k in keys if oracle.points_at[k] in patients]

    # batch: the reads, and the type searches
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": f"{t}/{i}"}} for t, i in reads]
        + [{"request": {"method": "GET", "url": searches[t]}} for t in in_batch],
    }
    response = client.post("/fhir", json=batch, headers=headers)
    assert response.status_code == 200, response.text
    police_check("batch", response.text)
    results = response.json()["entry"]
    for key, entry in zip(reads, results[: len(reads)], strict=True):
        status = int(entry["response"]["status"].split()[0])
        read(f"batch GET {key[0]}", key, status, entry.get("resource"))
    for rtype, entry in zip(in_batch, results[len(reads) :], strict=True):
        status = int(entry["response"]["status"].split()[0])
        searched(f"batch {searches[rtype]}", rtype, status, entry.get("resource"))

    # a plain read, taking turns over the resources
    rtype, rid = keys[turn % len(keys)]
    response = client.get(f"/fhir/{rtype}/{rid}", headers=headers)
    police_check(f"read {rtype}", response.text)
    read(f"read {rtype}", (rtype, rid), response.status_code, response.json())

    # a plain search of the patients with an exact total, and everything about those shown
    about = sorted(set(types) - {"Patient", *NOT_ABOUT_A_PATIENT})
    query = f"Patient?_id={','.join(oracle.patients.values())}&_total=accurate&" + "&".join(
        f"_revinclude={t}:{REVINCLUDE.get(t, 'subject')}" for t in about
    )
    response = client.get(f"/fhir/{query}", headers=headers)
    police_check("_revinclude", response.text)
    searched("_revinclude", "Patient", response.status_code, response.json())
    anchors = oracle.visible(caller, "Patient")
    if response.status_code != 200:
        return problems
    found = entries(response.json())
    for rtype in about:
        # an include follows a match: nothing is included when no Patient matched
        visible = oracle.visible(caller, rtype) if anchors else set()
        want = {rid for rid in visible if oracle.points_at[(rtype, rid)] in anchors}
        got = {rid for (t, rid) in found if t == rtype}
        if got != want:
            note(
                f"_revinclude {rtype}", f"shown {sorted(got - want)} withheld {sorted(want - got)}"
            )
    return problems
