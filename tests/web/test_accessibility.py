"""Every console page: a language, one main heading, a label for every field, keyboard-reachable
controls, and no scrolling sideways on a phone."""

from __future__ import annotations

from typing import Any

import pytest

from tests.web.conftest import Console

UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.name || e.id)"""
UNREACHABLE = """() => [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')]
  .filter(e => e.tabIndex < 0 || e.disabled).map(e => e.outerHTML.slice(0, 80))"""
WIDE = "() => document.documentElement.scrollWidth - window.innerWidth"

PAGES = {
    "cit.officer.nguyen": (
        "/console/crisis?name=Sample",
        "/console/crisis/patients/demo-patient-01",
    ),
    "casemgr.lopez": ("/console/referrals",),
    "intake.pavilion": ("/console/intake",),
    "auditor.kim": (
        "/console/audit?patient=Patient/demo-patient-01&agency=demo-amarillo-pd",
        "/console/audit/policy",
        "/console/dashboard",
    ),
    "admin": ("/console/admin",),
}


@pytest.mark.parametrize("username", sorted(PAGES))
def test_pages_are_labelled_reachable_and_fit_a_phone(
    people: Any, console: Console, username: str
) -> None:
    page = people(username, phone=True)
    for path in PAGES[username]:
        page.goto(console.url(path))
        assert page.get_attribute("html", "lang") == "en", path
        assert page.locator("h1").count() == 1, path
        assert page.evaluate(UNLABELLED) == [], path
        assert page.evaluate(UNREACHABLE) == [], path
        if not path.startswith("/console/audit/policy"):  # the matrix table scrolls in its box
            assert page.evaluate(WIDE) <= 1, path
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Skip to content", path
