"""The leakage matrix over FHIR Bulk Data export (issue "Sharing rules": every access path, exports
included): every caller of the matrix, every consent scenario, with and without agreements, at
system and Patient level; then every role (people and agency systems) with its usual purpose over a
resource of every data class about three patients (one per consent scenario). What each caller's
files hold must be exactly what the oracle allows (no more, no less), each resource as the rules
give it, and at Patient level only what is about a patient the caller may read; police files never
hold a mental-health, substance-use, psychotherapy-note or HIV label or code.

Break-the-glass does not apply to bulk export: a kick-off that asks for it is refused, and the same
callers without it get what the rules give them without it. Files of one resource each make the
export walk past every withheld row (its cursor must not stop at one).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.export.kickoff import compartment_types
from gateway.export.schemas import ExportConfig
from tests.sharing.leakage import (
    CALLERS,
    CONSENTS,
    Caller,
    Oracle,
    about_patient,
    add_consent,
    police_safe,
    same_content,
    seed,
)
from tests.sharing.leakage_classes import Population, working_callers
from tests.sharing.test_leakage_api import without_agreements  # noqa: F401  (a fixture)
from tests.sharing.test_leakage_roles import partnership  # noqa: F401  (a fixture)

KICK_OFF = {"Accept": "application/fhir+json", "Prefer": "respond-async"}
BASE = "http://testserver"


@pytest.mark.parametrize("scenario", sorted(CONSENTS))
def test_every_caller_exports_exactly_what_the_rules_allow(
    gateway: TestClient, scenario: str
) -> None:
    assert_export_matrix(gateway, scenario)


def test_without_agreements_exports_follow_the_rules_too(
    without_agreements: TestClient,  # noqa: F811
) -> None:
    assert_export_matrix(without_agreements, "part2-for-crisis-team")


def test_every_role_exports_exactly_what_the_rules_allow_of_every_data_class(
    partnership: TestClient,  # noqa: F811
) -> None:
    partnership.app.state.export_config = ExportConfig(file_resources=2, max_active=100)
    population = Population(partnership)
    problems: list[str] = []
    readers = set()
    for caller in working_callers():
        found, caller_problems = check_caller(partnership, population, caller)
        problems += caller_problems
        readers |= {caller.role} if found else set()
    assert problems == []
    # not vacuous: systems of every kind of agency, police included, exported patient data
    assert readers >= {"hospital_ehr", "crisis_team_system", "police_rms", "facility_system"}


def assert_export_matrix(client: TestClient, scenario: str) -> None:
    client.app.state.export_config = ExportConfig(file_resources=1, max_active=100)
    patient, writer = seed(client)
    consents = add_consent(client, patient, scenario, writer)
    oracle = Oracle(client, patient, writer, consents)
    problems: list[str] = []
    shown = 0
    for caller in CALLERS:
        found, caller_problems = check_caller(client, oracle, caller)
        problems += caller_problems
        shown += found
    assert problems == []
    if scenario != "opt-out":  # a patient who opted out is shared with nobody
        assert shown  # the matrix exported something to someone


def check_caller(
    client: TestClient,
    oracle: Oracle | Population,
    caller: Caller,
) -> tuple[int, list[str]]:
    """Export everything the oracle stores at system and Patient level; return how many
    resources were exported and what differs from the rules."""
    name = f"{caller.role}/{caller.agency}/{'+'.join(caller.purposes)}"
    problems: list[str] = []
    if caller.btg:
        response = client.get("/fhir/$export", headers={**caller.headers(client), **KICK_OFF})
        if response.status_code != 403 or police_safe(response.text):
            problems.append(f"{name}: a break-the-glass kick-off was not refused")
        caller = replace(caller, btg=False)
    headers = caller.headers(client)
    types = sorted({rtype for rtype, _ in oracle.stored})
    readable = oracle.visible(caller, "Patient", "search")
    total = 0
    for path in ("/fhir/$export", "/fhir/Patient/$export"):
        level = [t for t in types if path == "/fhir/$export" or t in compartment_types()]
        files = exported(client, headers, path, level)
        if isinstance(files, str):
            problems.append(f"{name}: {path}: {files}")
            continue
        for rtype in level:
            want = oracle.visible(caller, rtype, "search")
            if path != "/fhir/$export":  # only the compartments of patients the caller may read
                want = {
                    rid for rid in want if about_patient(oracle.stored[(rtype, rid)]) in readable
                }
            got = files.get(rtype, {})
            if set(got) != want:
                problems.append(
                    f"{name}: {path} {rtype} exported {sorted(set(got) - want)} "
                    f"withheld {sorted(want - set(got))}"
                )
            for rid, resource in got.items():
                expected = oracle.shown(caller, (rtype, rid), "search")
                if expected is None or not same_content(resource, expected):
                    problems.append(f"{name}: {path} {rtype} content differs from the rules'")
            total += len(got)
        if caller.police and files.get("_leaked"):
            problems.append(f"{name}: {path}: police received {files['_leaked']}")
    return total, problems


def exported(
    client: TestClient, headers: dict[str, str], path: str, types: list[str]
) -> dict[str, Any] | str:
    """Every exported resource by type and id (``_leaked``: sensitive codes seen in any file), or
    what went wrong. A body is never put in a failure message: it may hold what must not leak."""
    kick = client.get(path, params={"_type": ",".join(types)}, headers={**headers, **KICK_OFF})
    if kick.status_code != 202:
        return f"kick-off answered {kick.status_code}"
    status = kick.headers["content-location"].removeprefix(BASE)
    response = client.get(status, headers=headers)
    if response.status_code != 200:
        return f"status answered {response.status_code}"
    found: dict[str, Any] = {"_leaked": []}
    for output in response.json()["output"]:
        file = client.get(output["url"].removeprefix(BASE), headers=headers)
        if file.status_code != 200:
            return f"a file answered {file.status_code}"
        found["_leaked"] += police_safe(file.text)
        lines = file.text.splitlines()
        limit = client.app.state.export_config.file_resources
        if len(lines) != output["count"] or output["count"] > limit:
            return "a file's count is wrong or over the configured size"
        for line in lines:
            resource = orjson.loads(line)
            if resource["resourceType"] != output["type"]:
                return "a file mixes resource types"
            found.setdefault(output["type"], {})[resource["id"]] = resource
    if client.delete(status, headers=headers).status_code != 202:
        return "the finished job could not be deleted"
    return found
