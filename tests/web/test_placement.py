"""The whole placement life in the console, across two people in two browser contexts: a CIT
officer (on a phone-sized screen) asks, the facility's intake nurse answers, each sees the other's
steps without reloading."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Console, screenshot

PAVILION_UNIT = "hifld-0079979106-adult-psych"


def request_placement(
    page: Any,
    console: Console,
    name: str,
    born: str,
    full: str,
    reasons: str = "F20.9",
    shot: str | None = None,
) -> str:
    """Find the person, preview the facilities, send the request; returns the facility's Task id."""
    page.goto(console.url(f"/console/crisis?name={name}&birth_date={born}"))
    page.get_by_role("link", name=full).click()
    page.get_by_label("Risk summary to share with facilities (optional)").fill(
        "Calm now; agitated earlier, no weapons."
    )
    page.get_by_label("Reasons (ICD-10-CM codes, optional)").fill(reasons)
    page.get_by_role("button", name="Find facilities").click()
    matches = page.locator("#matches tbody tr")
    expect(matches.first).to_contain_text("PAVILIION")
    expect(matches.first).to_contain_text("asked first")
    expect(matches.first).to_contain_text(re.compile(r"\d+\.\d km"))
    expect(page.locator("#map .pin").first).to_be_attached()
    if shot:
        screenshot(page, shot)
    page.get_by_role("button", name="Send the request").click()
    page.wait_for_url(re.compile(r".*/console/requests/[^/]+$"))
    expect(page.locator("#phase")).to_have_text("open")
    row = page.locator("#offers tbody tr", has_text="PAVILIION")
    expect(row).to_contain_text("asked, waiting")
    return str(row.get_attribute("data-task"))


def test_request_to_arrival_across_two_people(people: Any, console: Console, backend: str) -> None:
    facility = people("intake.pavilion")
    expect(facility.locator("h1")).to_have_text("Facility intake")
    officer = people("cit.officer.nguyen", phone=True)
    shot = "crisis-matches" if backend == "sqlite" else None
    task = request_placement(officer, console, "Sample", "1991-04-12", "Avery Sample", shot=shot)
    if backend == "sqlite":
        screenshot(officer, "crisis-progress")

    # The facility's open page shows the ask by itself (live update), minimum necessary only.
    ask = facility.locator(f'article.ask[data-task="{task}"]')
    expect(ask).to_contain_text("Adult psychiatric inpatient")
    expect(ask).to_contain_text("female")
    expect(ask).to_contain_text("F20-F29")
    expect(ask).to_contain_text("Calm now; agitated earlier")
    expect(ask).not_to_contain_text("Avery")
    expect(ask).not_to_contain_text("Sample")
    expect(ask).not_to_contain_text("F20.9")
    if backend == "sqlite":
        screenshot(facility, "intake")
    ask.get_by_label("Bed (optional)").fill("4W-12")
    ask.get_by_role("button", name="Accept").click()
    expect(facility.locator(f'article.ask[data-task="{task}"] .status')).to_contain_text("accepted")

    # The officer's page follows without a reload.
    expect(officer.locator("#phase")).to_have_text("reserved")
    expect(officer.locator(f'#offers tr[data-task="{task}"]')).to_contain_text("accepted")
    expect(officer.locator("main")).to_contain_text("4W-12")
    officer.get_by_role("button", name="Transport arranged").click()
    expect(officer.locator("#phase")).to_have_text("transport")
    officer.get_by_role("button", name="Patient en route").click()
    expect(officer.locator("#phase")).to_have_text("en-route")

    facility.reload()
    mine = facility.locator(f'article.ask[data-task="{task}"]')
    expect(mine.locator(".status")).to_contain_text("en-route")
    mine.get_by_role("button", name="Patient arrived").click()
    mine = facility.locator(f'article.ask[data-task="{task}"]')
    expect(mine.locator(".status")).to_contain_text("arrived")
    expect(officer.locator("#phase")).to_have_text("arrived")
    mine.get_by_role("button", name="Admitted").click()
    expect(facility.locator(f'article.ask[data-task="{task}"] .status')).to_contain_text(
        "completed"
    )
    expect(officer.locator("#phase")).to_have_text("completed")


def test_a_decline_reaches_the_requester_with_its_reason(people: Any, console: Console) -> None:
    facility = people("intake.pavilion")
    officer = people("ed.dr.patel")
    task = request_placement(officer, console, "Example", "1985-09-30", "Jordan Example")
    ask = facility.locator(f'article.ask[data-task="{task}"]')
    ask.get_by_label("Reason").select_option("no-bed")
    ask.get_by_role("button", name="Decline").click()
    expect(facility.locator(f'article.ask[data-task="{task}"] .status')).to_contain_text(
        "rejected (No bed available)"
    )
    row = officer.locator(f'#offers tr[data-task="{task}"]')
    expect(row).to_contain_text("declined: No bed available")
    expect(officer.locator("#phase")).to_have_text("open")


def test_decline_with_other_needs_a_note(people: Any, console: Console) -> None:
    facility = people("intake.pavilion")
    officer = people("cit.officer.nguyen")
    task = request_placement(officer, console, "Demo", "1978-06-05", "Casey Demo")
    ask = facility.locator(f'article.ask[data-task="{task}"]')
    ask.get_by_label("Reason").select_option("other")
    ask.get_by_role("button", name="Decline").click()
    expect(facility.locator("p.error")).to_have_text("Say why, when the reason is 'other'.")
    facility.goto(console.url("/console/intake"))
    expect(facility.locator(f'article.ask[data-task="{task}"] .status')).to_contain_text(
        "requested"
    )


def _report_census(console: Console, free: int, total: int, hours_ago: float) -> None:
    """A census report as a facility system would have sent it, some hours ago."""
    from gateway.fhir.service import ResourceService
    from gateway.placement.census import set_unit_census

    with console.app.state.db.unit_of_work() as session:
        svc = ResourceService(session, console.settings.fhir_base)
        set_unit_census(svc, PAVILION_UNIT, free, total=total, as_of=time.time() - hours_ago * 3600)


def test_census_in_two_clicks_and_staleness(people: Any, console: Console) -> None:
    _report_census(console, 2, 20, hours_ago=30)  # older than the unit's 8-hour cadence
    facility = people("intake.pavilion")
    row = facility.locator(f'#units tr[data-unit="{PAVILION_UNIT}"]')
    expect(row.locator(".stale")).to_be_visible()
    expect(row.locator(".free")).to_have_text("2")
    expect(row).to_contain_text("30.0 h ago")
    row.get_by_label("Free beds").fill("7")
    row.get_by_role("button", name="Save").click()
    row = facility.locator(f'#units tr[data-unit="{PAVILION_UNIT}"]')
    expect(row.locator(".free")).to_have_text("7")
    expect(row).to_contain_text("fresh")
    expect(row.locator(".stale")).to_have_count(0)
    row.get_by_label("Free beds").fill("-3")
    row.get_by_role("button", name="Save").click()
    # the browser refuses a negative count before it is sent (min=0); the page is unchanged
    expect(facility.locator(f'#units tr[data-unit="{PAVILION_UNIT}"] .free')).to_have_text("7")
