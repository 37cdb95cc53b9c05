"""A police officer sees no clinical data anywhere in the console, where a clinician does."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Console, screenshot
from tests.web.test_placement import request_placement

# What the demo's clinical records say about Avery Sample (hospital diagnosis, vitals, scores).
CLINICAL = ("Schizophrenia", "F20.9", "Heart rate", "PHQ-9", "Condition", "Observation")


def _shared_text(page: Any) -> str:
    page.locator("#shared summary").click()
    return str(page.locator("#shared").inner_text())


def test_a_clinician_sees_the_diagnosis(people: Any, console: Console, backend: str) -> None:
    clinician = people("ed.dr.patel")
    clinician.goto(console.url("/console/crisis?name=Sample&birth_date=1991-04-12"))
    clinician.get_by_role("link", name="Avery Sample").click()
    assert "Schizophrenia" in _shared_text(clinician)
    if backend == "sqlite":
        screenshot(clinician, "crisis-person")


def test_police_see_no_clinical_data_anywhere(people: Any, console: Console, backend: str) -> None:
    officer = people("officer.diaz")
    seen: list[str] = []
    officer.goto(console.url("/console/crisis?name=Sample&birth_date=1991-04-12"))
    seen.append(officer.inner_text("body"))
    if backend == "sqlite":
        screenshot(officer, "crisis-search")
    officer.get_by_role("link", name="Avery Sample").click()
    seen.append(_shared_text(officer))
    seen.append(officer.inner_text("body"))
    request_placement(officer, console, "Sample", "1991-04-12", "Avery Sample", reasons="")
    seen.append(officer.inner_text("body"))
    officer.goto(console.url("/console/crisis"))
    seen.append(officer.inner_text("body"))
    for page_text in seen:
        for word in CLINICAL:
            assert word not in page_text, word
    for path in ("/console/intake", "/console/audit", "/console/admin", "/console/dashboard"):
        officer.goto(console.url(path))
        expect(officer.locator("h1")).to_have_text("Not for your role")
