"""Paging and ``Bundle.total`` under the sharing rules, with thousands of resources (issue "Sharing
rules": paging and Bundle.total are exact under filtering).

Four hundred patients held by three agencies, each with records of most data classes written by
several of them (about 3,200 resources, loaded through the service layer, beneath the API), and 260
of the patients with a Consent on file: opt-outs that keep one searching agency out, full opt-outs,
and 42 CFR Part 2 consents naming the crisis team. Several callers page through type searches with
small and large pages, ``_total=accurate`` and ``_summary=count``: the total of every page equals
the number of distinct resources returned across all pages, which is exactly what the rules allow
(the pure decision on each resource with the relationships the test set up), with no resource twice,
none missing, and every page but the last full.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.settings import Settings
from gateway.sharing.profile import agency_uri
from policies.agreements import AgreementSet
from policies.consent import CompiledConsent, compile_consent
from policies.labelling import label
from policies.model import Principal
from policies.pipeline import evaluate, request_for
from tests.sharing.conftest import AGENCIES
from tests.sharing.leakage import ACT, ICD, PART2_POLICY, Caller, code, entries

H, C, B, P = "demo-panhandle-regional", "demo-mcot", "demo-tpc", "demo-amarillo-pd"
PATIENTS = 400
CONSENTED = 260  # more than 200 patients with a Consent on file
LOINC = "http://loinc.org"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
# (type, page sizes to page through with _total=accurate, also _summary=count)
SEARCHES = (
    ("Condition", (37,), True),
    ("Encounter", (50, 1000), False),
    ("Patient", (1000,), True),
    ("Flag", (1000,), False),
)
CALLERS = (
    Caller("ed_clinician", H, ("TREAT",)),
    Caller("crisis_clinician", C, ("TREAT",)),
    Caller("police_officer", P, ("HLEGAL",)),
)


@dataclass(frozen=True, slots=True)
class Item:
    """One stored resource: which template made it, who wrote it, which patient it is about."""

    rtype: str
    rid: str
    template: str
    writer: str
    patient: str | None


@dataclass(slots=True)
class Store:
    items: list[Item]
    resources: dict[tuple[str, str], dict[str, Any]]
    serving: dict[str, set[str]]  # patient -> agencies that serve them
    consents: dict[str, list[CompiledConsent]]  # patient -> their consents
    consent_kind: dict[str, str]


def consent(patient: str, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceType": "Consent",
        "status": "active",
        "scope": code("http://terminology.hl7.org/CodeSystem/consentscope", "patient-privacy"),
        "category": [code(LOINC, "59284-0")],
        "patient": {"reference": f"Patient/{patient}"},
        "dateTime": "2024-01-01T00:00:00Z",
    }
    if kind == "opt-out":
        return body | {"provision": {"type": "deny"}}
    if kind == "part2-crisis-team":
        actor = {
            "role": code(PARTICIPATION, "IRCP"),
            "reference": {"reference": f"Organization/{C}"},
        }
        provision = {
            "type": "permit",
            "actor": [actor],
            "securityLabel": [{"system": ACT, "code": "SUD"}],
        }
        return body | {"policy": PART2_POLICY, "provision": provision}
    denied = {"deny-hospital": H, "deny-crisis-team": C}[kind]
    actor = {
        "role": code(PARTICIPATION, "IRCP"),
        "reference": {"reference": f"Organization/{denied}"},
    }
    return body | {
        "policyRule": code(ACT, "OPTIN"),
        "provision": {"type": "permit", "provision": [{"type": "deny", "actor": [actor]}]},
    }


CONSENT_KINDS = ("deny-hospital", "deny-crisis-team", "part2-crisis-team", "opt-out")


def records(i: int, pid: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(template, writer, resource) for patient ``i``: who holds and serves them and what is
    written varies with ``i``, so every combination occurs many times."""
    subject = {"reference": f"Patient/{pid}"}

    def condition(value: str) -> dict[str, Any]:
        return {"resourceType": "Condition", "subject": subject, "code": code(ICD, value)}

    def observation(loinc: str) -> dict[str, Any]:
        value = {"value": 170, "unit": "cm"}
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": code(LOINC, loinc),
            "subject": subject,
            "valueQuantity": value,
        }

    def encounter(kind: str) -> dict[str, Any]:
        return {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"system": ACT, "code": kind},
            "subject": subject,
        }

    out = [
        ("diagnosis", H, condition("I10")),
        ("height", H, observation("8302-2")),
        ("heart-rate", C, observation("8867-4")),
    ]
    out.append(
        [
            ("mental-health", H, condition("F32.9")),
            ("part2-sud", B, condition("F11.20")),
            ("hiv", H, condition("B20")),
            ("sud", H, condition("F11.20")),
        ][i % 4]
    )
    if i % 2 == 0:
        out.append(("hospital-encounter", H, encounter("EMER")))
        out.append(("safety-flag", P, flag(subject)))
    if i % 3 == 0:
        out.append(("crisis-encounter", C, encounter("FLD")))
    if i % 5 == 0:
        out.append(("police-encounter", P, encounter("FLD")))
    if i % 4 == 1:
        plan = {
            "resourceType": "CarePlan",
            "status": "active",
            "intent": "plan",
            "category": [code("urn:crisis-exchange:care-plan-kind", "crisis-plan")],
            "subject": subject,
        }
        out.append(("crisis-plan", B, plan))
    if i % 3 == 1:
        payer = {
            "resourceType": "Coverage",
            "status": "active",
            "beneficiary": subject,
            "payor": [{"display": "Texas Medicaid"}],
        }
        out.append(("coverage", H, payer))
    if i % 7 == 0:
        note = {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": code("urn:crisis-exchange:document-kind", "psychotherapy-note"),
            "subject": subject,
            "content": [{"attachment": {"contentType": "text/plain", "data": "bm90ZQ=="}}],
        }
        out.append(("psychotherapy-note", H, note))
    return out


def flag(subject: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "status": "active",
        "category": [code("http://terminology.hl7.org/CodeSystem/flag-category", "safety")],
        "code": {"text": "Officer safety"},
        "subject": subject,
    }


def load(db: Database) -> Store:
    """Write the population in a few transactions through the service layer (labelled and indexed
    as the API would, with the writing agency as ``meta.source``)."""
    store = Store([], {}, {}, {}, {})
    holders = (H, B, P)
    with db.unit_of_work() as session:
        service = ResourceService(session, "http://testserver/fhir", labeller=label)
        for agency in (H, C, B, P):
            org = {"resourceType": "Organization", "id": agency, "name": agency}
            put(service, store, "organization", agency, org, None)
    for first in range(0, PATIENTS, 100):
        with db.unit_of_work() as session:
            service = ResourceService(session, "http://testserver/fhir", labeller=label)
            service.deferred_refs = []  # references checked once per transaction
            for i in range(first, min(first + 100, PATIENTS)):
                pid = f"scale-{i:04d}"
                holder = holders[i % 3]
                patient = {
                    "resourceType": "Patient",
                    "id": pid,
                    "name": [{"family": f"Scale{i}", "given": ["Pat"]}],
                    "birthDate": "1980-01-01",
                }
                put(service, store, "patient", holder, patient, pid)
                store.serving[pid] = {holder}
                for template, writer, body in records(i, pid):
                    put(service, store, template, writer, body, pid)
                    if template.endswith("encounter"):
                        store.serving[pid].add(writer)
                if i < CONSENTED:
                    kind = CONSENT_KINDS[i % len(CONSENT_KINDS)]
                    body = consent(pid, kind)
                    put(service, store, f"consent-{kind}", H, body, pid)
                    store.consents[pid] = [compile_consent(body)]
                    store.consent_kind[pid] = kind
            service.finish_transaction()
    return store


def put(
    service: ResourceService,
    store: Store,
    template: str,
    writer: str,
    body: dict[str, Any],
    patient: str | None,
) -> None:
    held = {**body, "meta": {"source": agency_uri(writer)}}
    rtype = str(body["resourceType"])
    written = (
        service.update(rtype, str(body["id"]), held)
        if "id" in body
        else service.create(rtype, held)
    )
    store.items.append(Item(rtype, written.rid, template, writer, patient))
    store.resources[(rtype, written.rid)] = held


class ScaleOracle:
    """What the rules let each caller find: ``policies.pipeline.evaluate`` on the resource with the
    facts this test arranged. Resources from the same template, writer and kind of patient get the
    same decision, so it is computed once per such kind."""

    def __init__(self, store: Store, agreements: AgreementSet) -> None:
        self.store = store
        self.agreements = agreements
        self._decided: dict[tuple[Any, ...], bool] = {}

    def allows(self, caller: Caller, item: Item) -> bool:
        patient = item.patient
        serves = patient is not None and caller.agency in self.store.serving[patient]
        kind = self.store.consent_kind.get(patient or "", "")
        memo = (caller, item.rtype, item.template, item.writer, serves, kind)
        if memo not in self._decided:
            self._decided[memo] = self._decide(caller, item, serves)
        return self._decided[memo]

    def _decide(self, caller: Caller, item: Item, serves: bool) -> bool:
        resource = {**self.store.resources[(item.rtype, item.rid)], "id": item.rid}
        principal = Principal(
            client_id="test-client",
            agency=caller.agency,
            agency_kind=AGENCIES[caller.agency],
            role=caller.role,
            purposes=caller.purposes,
        )
        request = request_for(
            principal,
            "search",
            label(resource),
            purpose=caller.purposes[0],
            owning_agency=item.writer,
            relations=frozenset({"encounter"}) if serves else frozenset(),
            patient=item.patient,
            at=datetime.now(UTC),
        )
        consents = self.store.consents.get(item.patient or "", [])
        return evaluate(request, label(resource), consents, self.agreements).allowed

    def found(self, caller: Caller, rtype: str) -> set[str]:
        return {i.rid for i in self.store.items if i.rtype == rtype and self.allows(caller, i)}


@pytest.fixture()
def crowded(db: Database, settings: Settings, keystore: KeyStore) -> Iterator[TestClient]:
    with db.unit_of_work() as session:
        registry = Registry(session)
        for agency, kind in AGENCIES.items():
            registry.add_agency(agency, kind, agency)
    app = create_app(settings, db=db, keys=keystore, background_workers=False)
    with TestClient(app) as client:
        yield client


def test_paging_and_totals_are_exact_with_hundreds_of_consenting_patients(
    crowded: TestClient,
) -> None:
    store = load(crowded.app.state.db)
    assert len(store.items) > 3000 and len(store.consents) > 200
    oracle = ScaleOracle(store, AgreementSet.load())
    problems: list[str] = []
    seen_consented = set()
    for caller in CALLERS:
        headers = caller.headers(crowded)
        for rtype, counts, count_only in SEARCHES:
            want = oracle.found(caller, rtype)
            for count in counts:
                got = page_through(crowded, headers, rtype, count, want, problems, caller)
                seen_consented |= {p for p in store.consents if f"Patient/{p}" in got}
            if not count_only:
                continue
            response = crowded.get(f"/fhir/{rtype}?_summary=count", headers=headers)
            assert response.status_code == 200, response.text
            if response.json().get("total") != len(want):
                problems.append(
                    f"{caller.name}: {rtype}?_summary=count: total {response.json().get('total')}"
                    f", the rules allow {len(want)}"
                )
    assert not problems, "\n".join(problems)
    # the searches reached many consenting patients' records, not only the unconsented ones
    assert len(seen_consented) > 100


def page_through(
    client: TestClient,
    headers: dict[str, str],
    rtype: str,
    count: int,
    want: set[str],
    problems: list[str],
    caller: Caller,
) -> str:
    """Follow ``next`` from the first page to the last; note what differs from the rules. Returns
    the pages' text (to see which patients they reached)."""
    where = f"{caller.name}: {rtype}?_count={count}"
    url: str | None = f"/fhir/{rtype}?_count={count}&_total=accurate"
    ids: list[str] = []
    pages: list[int] = []
    totals: set[Any] = set()
    texts: list[str] = []
    while url is not None:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        texts.append(response.text)
        totals.add(bundle.get("total"))
        matches = [rid for (t, rid) in entries(bundle, "match") if t == rtype]
        ids += matches
        pages.append(len(matches))
        url = next(
            (link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None
        )
        if url is not None:
            url = url.split("/fhir/", 1)[-1]
            url = f"/fhir/{url}"
        if len(pages) > math.ceil(len(want) / count) + 2:
            problems.append(f"{where}: more pages than the rules allow resources for")
            break
    if totals != {len(set(ids))} or totals != {len(want)}:
        problems.append(
            f"{where}: Bundle.total {sorted(totals, key=str)} for {len(set(ids))} distinct "
            f"resources on {len(pages)} pages; the rules allow {len(want)}"
        )
    if len(ids) != len(set(ids)):
        problems.append(f"{where}: {len(ids) - len(set(ids))} resources on two pages")
    if set(ids) != want:
        extra, missing = sorted(set(ids) - want), sorted(want - set(ids))
        problems.append(
            f"{where}: shown {len(extra)} the rules refuse {extra[:3]}, "
            f"withheld {len(missing)} {missing[:3]}"
        )
    short = [n for n in pages[:-1] if n != count]
    if short:
        problems.append(f"{where}: {len(short)} pages before the last are not full ({short[:5]})")
    return "".join(texts)
