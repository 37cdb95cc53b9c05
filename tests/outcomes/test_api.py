"""``GET /outcomes/dashboard`` over HTTP: who may read it, small cells suppressed, CSV the same
numbers as JSON, every access audited, bad parameters refused with a located 400."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.outcomes.suppression import RULES, SUPPRESSED, WITHHELD
from tests.conftest import bearer
from tests.outcomes.scenario import Scenario
from tests.outcomes.test_dashboard import CELLS, cell, raw

QUARTER = "from=2025-01&to=2025-03"
HIDDEN = (SUPPRESSED, WITHHELD)


def reader(api: TestClient, role: str = "program_reader", agency: str = "city-council") -> Any:
    return bearer(
        api.app, role=role, agency=agency, user=f"{role}.test", purposes=["HOPERAT"], scope=""
    )


def dashboard(api: TestClient, query: str = QUARTER, **headers: str) -> dict[str, Any]:
    got = api.get(f"/outcomes/dashboard?{query}", headers={**reader(api), **headers})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = got.json()
    return body


def test_every_cell_is_the_count_or_suppressed(api: TestClient) -> None:
    shown, exact = dashboard(api)["figures"], raw(api)["figures"]
    assert set(shown) == set(exact)
    for name, figure in shown.items():
        public = RULES[name].public
        for key in CELLS:
            for measure, value in cell(figure, key).items():
                truth = cell(exact[name], key)[measure]
                if value in HIDDEN:
                    assert not public, (name, key, measure)
                    continue
                assert value == truth, (name, key, measure)
                if not public and isinstance(value, int) and measure in RULES[name].counts:
                    assert not 1 <= value <= 10, (name, key, measure, value)
                if name == "declinesByReason":
                    assert not 1 <= value <= 10, (name, key, measure, value)


def test_small_cells_and_what_they_would_reveal_are_hidden(api: TestClient) -> None:
    f = dashboard(api)["figures"]
    people = f["peopleServed"]
    assert [cell(people, k)["count"] for k in CELLS] == [21, SUPPRESSED, SUPPRESSED, 24]
    assert people["target"]["share"] == pytest.approx(24 / (191 * 90 / 365.25), abs=1e-3)
    # Placements: January 11, February 2, March 0, total 13. February is small; January is
    # hidden too, or it would give February away as 13 - 11.
    assert [cell(f["placements"], k)["count"] for k in CELLS] == [SUPPRESSED, SUPPRESSED, 0, 13]
    january = cell(f["timeToPlacement"], "2025-01")
    assert (january["medianSeconds"], january["p90Seconds"]) == (WITHHELD, WITHHELD)
    assert isinstance(cell(f["timeToPlacement"], "total")["medianSeconds"], float)
    # Officer hours: 22 calls in January are shown with their hours, February's 2 are not.
    assert cell(f["officerHours"], "2025-01")["calls"] == 22
    assert cell(f["officerHours"], "2025-02")["perCall"] == WITHHELD
    assert cell(f["officerHours"], "total")["openCalls"] == SUPPRESSED
    # Repeats: 3 of 23 January episodes -> the count and the rate are hidden, the episodes shown.
    repeat = cell(f["repeatCrises30"], "2025-01")
    assert (repeat["episodes"], repeat["repeats"], repeat["rate"]) == (23, SUPPRESSED, WITHHELD)
    # Facility figures are not about people: shown as they are.
    assert cell(f["staleCensusShare"], "2025-02") == {"asks": 6, "staleAsks": 3, "share": 0.5}
    assert dashboard(api)["suppression"]["threshold"] == 11


def test_no_names_ids_or_clinical_content_leave(api: TestClient, scenario: Scenario) -> None:
    text = api.get(f"/outcomes/dashboard?{QUARTER}", headers=reader(api)).text
    text += api.get(f"/outcomes/dashboard?{QUARTER}&_format=csv", headers=reader(api)).text
    for person in scenario.people.values():
        for secret in (person.family, person.given, person.birth, person.phone, person.key):
            assert secret not in text
    for call in scenario.calls:
        assert call.number not in text
    for word in ("Patient/", "Encounter/", "F20", "MRN", "Synthetic call"):
        assert word not in text


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.10g}" if isinstance(value, float) else str(value)


@pytest.mark.parametrize("how", ["accept", "format"])
def test_csv_is_the_json_one_row_per_figure_measure_and_month(api: TestClient, how: str) -> None:
    body = dashboard(api)
    if how == "accept":
        got = api.get(
            f"/outcomes/dashboard?{QUARTER}", headers={**reader(api), "Accept": "text/csv"}
        )
    else:
        got = api.get(f"/outcomes/dashboard?{QUARTER}&_format=csv", headers=reader(api))
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert "attachment" in got.headers["content-disposition"]
    rows = _csv(got.text)
    seen = set()
    for row in rows:
        figure = body["figures"][row["figure"]]
        extra, _, measure = row["measure"].partition(".")
        if extra in ("target", "now"):
            assert row["month"] == ("total" if extra == "target" else "current")
            assert row["value"] == _as_text(figure[extra][measure]), row
            continue
        assert row["value"] == _as_text(cell(figure, row["month"])[row["measure"]]), row
        seen.add((row["figure"], row["measure"], row["month"]))
    expected = {
        (name, measure, key)
        for name, figure in body["figures"].items()
        for key in CELLS
        for measure in cell(figure, key)
    }
    assert seen == expected


@pytest.mark.parametrize(
    ("accept", "kind"),
    [
        ("text/csv", "text/csv"),
        ("text/csv;q=0.5, application/json", "application/json"),
        ("application/json;q=0.2, text/csv", "text/csv"),
        ("text/html, */*;q=0.8", "application/json"),
        ("text/csv;q=0", "application/json"),
    ],
)
def test_the_accept_header_chooses_by_preference(api: TestClient, accept: str, kind: str) -> None:
    got = api.get(f"/outcomes/dashboard?{QUARTER}", headers={**reader(api), "Accept": accept})
    assert got.status_code == 200
    assert got.headers["content-type"].startswith(kind)


@pytest.mark.parametrize(
    "role", ["police_officer", "cit_officer", "crisis_clinician", "facility_intake", "hospital_ehr"]
)
def test_other_roles_are_refused_and_the_refusal_audited(api: TestClient, role: str) -> None:
    got = api.get(f"/outcomes/dashboard?{QUARTER}", headers=reader(api, role, f"{role}-agency"))
    assert got.status_code == 403
    issue = got.json()["issue"][0]
    assert issue["code"] == "forbidden"
    assert "program_reader" in issue["diagnostics"]
    events = _events(api, f"{role}-agency")
    assert any(e["outcome"] == "8" for e in events), events


def test_no_token_is_401(api: TestClient) -> None:
    got = api.get(f"/outcomes/dashboard?{QUARTER}")
    assert got.status_code == 401
    assert got.json()["resourceType"] == "OperationOutcome"
    assert "Bearer" in got.headers["www-authenticate"]


@pytest.mark.parametrize("role", ["bha_auditor", "gateway_admin", "program_reader"])
def test_every_read_is_audited_as_an_export(api: TestClient, role: str) -> None:
    agency = f"{role}-readers"
    before = len(_events(api, agency))
    got = api.get(f"/outcomes/dashboard?{QUARTER}", headers=reader(api, role, agency))
    assert got.status_code == 200
    events = _events(api, agency)
    assert len(events) == before + 1
    event = events[0]
    assert event["outcome"] == "0" and event["action"] == "R"
    assert "program dashboard" in event["what"] and event["patients"] == []


def _events(api: TestClient, agency: str) -> list[dict[str, Any]]:
    auditor = bearer(api.app, role="bha_auditor", agency="audit-office", purposes=["HOPERAT"])
    got = api.get(f"/audit/events?agency={agency}", headers=auditor)
    assert got.status_code == 200, got.text
    events: list[dict[str, Any]] = got.json()["events"]
    return events


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ("from=2025-13", "from"),
        ("from=2025-02-30", "from"),
        ("to=yesterday", "to"),
        ("from=2025-01-01T10:00:00", "from"),  # a time needs its zone
        ("from=2025-03&to=2025-01", "from"),
        ("from=2000&to=2025", "to"),  # more than 60 months
        ("from=2025-01&_format=xml", "_format"),
        ("from=2025-01&program=nowhere", "program"),
        ("from=2025-01&patient=Patient/1", "patient"),
        ("from=2025-01&from=2025-02", "from"),
        ("from=", "from"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(
    api: TestClient, query: str, where: str
) -> None:
    got = api.get(f"/outcomes/dashboard?{query}", headers=reader(api))
    assert got.status_code == 400, got.text
    issue = got.json()["issue"][0]
    assert issue["expression"] == [where], issue
    assert issue["diagnostics"]


def test_a_date_time_period_with_zone_and_the_default_period(api: TestClient) -> None:
    body = dashboard(api, "from=2025-02-01T00:00:00Z&to=2025-02-28T23:59:59Z")
    assert body["months"] == ["2025-02"]
    assert body["figures"]["officerHours"]["total"]["calls"] == SUPPRESSED
    latest = dashboard(api, "")
    assert len(latest["months"]) == 12  # the last twelve months, up to now


def test_each_figure_names_the_measure_a_chart_shows(api: TestClient) -> None:
    figures = dashboard(api)["figures"]
    assert list(figures)[:3] == ["peopleServed", "crisisEpisodes", "placementRequests"]
    for name, figure in figures.items():
        assert figure["unit"] and figure["label"], name
        if figure["headline"] is not None:
            assert figure["headline"] in figure["total"], name
            assert all(figure["headline"] in c for c in figure["byMonth"].values()), name
