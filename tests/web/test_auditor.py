"""The authority's auditor finds a police officer's console access in the person's accounting of
disclosures, searches the events, verifies the log and reads the policy matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Console, screenshot


def test_auditor_finds_the_officers_access(people: Any, console: Console, backend: str) -> None:
    officer = people("officer.diaz")
    officer.goto(console.url("/console/crisis?name=Notreal&birth_date=1999-12-01"))
    officer.get_by_role("link", name="Jamie Notreal").click()
    expect(officer.locator("h1")).to_have_text("Jamie Notreal")

    auditor = people("auditor.kim")
    auditor.get_by_label("Person (record id)").fill("Patient/demo-patient-09")
    auditor.get_by_role("button", name="Show disclosures").click()
    rows = auditor.locator("#accounting tbody tr", has_text="officer.diaz")
    expect(rows.first).to_contain_text("demo-amarillo-pd")
    expect(rows.first).to_contain_text("aw enforcement")  # the purpose, in words
    # Nobody else looked at Jamie's record through the console: no other agency is listed.
    expect(auditor.locator("#accounting")).not_to_contain_text("demo-mcot")

    auditor.get_by_label("Agency").fill("demo-amarillo-pd")
    auditor.get_by_label("User or system").fill("officer.diaz")
    auditor.get_by_label("Purpose of use").fill("HLEGAL")
    auditor.get_by_role("button", name="Search").click()
    events = auditor.locator("#events tbody tr")
    expect(events.first).to_contain_text("officer.diaz")
    assert events.count() >= 2  # the search and the read of the person
    auditor.get_by_label("Outcome").select_option("8")
    auditor.get_by_role("button", name="Search").click()
    expect(auditor.locator("#evr-h")).to_contain_text("Audit events (0)")
    if backend == "sqlite":
        screenshot(auditor, "audit")


def test_verification_and_policy_matrix(people: Any, console: Console, backend: str) -> None:
    auditor = people("auditor.kim")
    auditor.get_by_role("button", name="Verify the whole log now").click()
    expect(auditor.locator("#last-verification")).to_contain_text("audit log verification: ok")
    expect(auditor.locator("#last-verification")).to_contain_text("auditor.kim")
    auditor.get_by_role("link", name="Policy matrix: who can see what").click()
    police = auditor.locator("#matrix tr", has_text="police_officer")
    expect(police.first).to_be_visible()
    auditor.get_by_label("Relationship to the person").select_option("own-agency")
    auditor.get_by_role("button", name="Show").click()
    expect(auditor.locator("#matrix")).to_be_visible()
    if backend == "sqlite":
        screenshot(auditor, "policy-matrix")


def test_an_empty_accounting_and_a_bad_person_id(people: Any, console: Console) -> None:
    auditor = people("auditor.kim")
    auditor.goto(console.url("/console/audit?patient=Patient/nobody-here"))
    expect(auditor.locator("main")).to_contain_text("No disclosures to account for.")
    auditor.goto(console.url("/console/audit?patient=Patient/<script>"))
    expect(auditor.locator("p.error")).to_contain_text("record id")


def test_dashboard_charts_and_csv(people: Any, console: Console, backend: str) -> None:
    auditor = people("auditor.kim")
    auditor.goto(console.url("/console/dashboard?from=2025-01-01&to=2025-06-30"))
    expect(auditor.locator("h1")).to_have_text("Program dashboard")
    served = auditor.locator('section[data-figure="peopleServed"]')
    expect(served.locator("svg")).to_be_visible()
    expect(served).to_contain_text("<11")  # small cells are suppressed, never shown as numbers
    expect(auditor.locator('section[data-figure="timeToPlacement"]')).to_be_visible()
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Download CSV").click()
    path = download.value.path()
    text = Path(path).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("figure,")
    assert "peopleServed" in text
    if backend == "sqlite":
        screenshot(auditor, "dashboard")
    auditor.goto(console.url("/console/dashboard?from=yesterday"))
    expect(auditor.locator("p.error")).to_be_visible()


def test_admin_adds_a_person_and_disables_them(people: Any, console: Console, backend: str) -> None:
    admin = people("admin")
    expect(admin.locator("#clients")).to_contain_text("web-console")
    expect(admin.locator("#agreements tbody tr").first).to_be_visible()
    admin.get_by_label("Username").fill(f"new.officer.{backend}")
    admin.get_by_label("Agency", exact=True).select_option("demo-amarillo-pd")
    admin.get_by_label("Role", exact=True).select_option("police_officer")
    admin.get_by_label("First password").fill("a-long-enough-first-password")
    admin.get_by_role("button", name="Add person").click()
    row = admin.locator(f'#users tr[data-user="new.officer.{backend}"]')
    expect(row).to_contain_text("enabled")
    row.get_by_role("button", name="Disable").click()
    expect(admin.locator(f'#users tr[data-user="new.officer.{backend}"]')).to_contain_text(
        "disabled"
    )
    if backend == "sqlite":
        screenshot(admin, "admin")
    admin.get_by_label("Id", exact=True).fill("demo-tpc")  # exists already
    admin.get_by_label("Name", exact=True).fill("Texas Panhandle Centers again")
    admin.get_by_role("button", name="Add agency").click()
    expect(admin.locator("p.error")).to_be_visible()
    admin.goto(console.url("/console/admin"))
    admin.get_by_label("Username").fill("admin")
    admin.get_by_label("First password").fill("another-password-here")
    admin.get_by_role("button", name="Add person").click()
    expect(admin.locator("h1")).not_to_have_text("Internal Server Error")
    expect(admin.locator("p.error")).to_be_visible()


def test_break_the_glass_review(people: Any, console: Console, backend: str) -> None:
    """A crisis clinician breaks the glass over the API; the auditor reviews it in the console."""
    import httpx

    reason = f"unresponsive, no history available ({backend} console test)"
    token = console.app.state.tokens.issue(
        client_id="mcot-app",
        agency="demo-mcot",
        role="crisis_clinician",
        scope="user/*.rs",
        purposes=["TREAT", "BTG"],
        user="clinician.okafor",
    )["access_token"]
    headers = {"Authorization": f"Bearer {token}", "X-BTG-Reason": reason}
    read = httpx.get(console.url("/fhir/Condition/demo-condition-02"), headers=headers)
    assert read.status_code == 200, read.text

    auditor = people("auditor.kim")
    waiting = auditor.locator("#btg article", has_text=reason)
    expect(waiting).to_contain_text("clinician.okafor")
    expect(waiting).to_contain_text("Patient/demo-patient-02")
    waiting.get_by_label("Review note").fill("Checked with the team lead: justified.")
    waiting.get_by_role("button", name="Mark reviewed").click()
    expect(auditor.locator("#btg")).to_be_visible()
    expect(auditor.locator("#btg article", has_text=reason)).to_have_count(0)
