"""Referrals in the console: an emergency department doctor refers a person for follow-up from the person page,
the receiving organisation's case manager works it from its queue to completed, and the referrer
sees each step; forged forms and the wrong roles are refused."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Console


def refer(page: Any, console: Console, patient: str, reason: str) -> None:
    """Send a case-management referral to Texas Panhandle Centers from the person page."""
    page.goto(console.url(f"/console/crisis/patients/{patient}"))
    page.get_by_label("Service type").select_option("case-management")
    page.get_by_label("Urgency").select_option("urgent")
    page.get_by_label("Reason for the referral").fill(reason)
    page.get_by_label("Receiving organisation (optional)").select_option("demo-tpc")
    page.get_by_role("button", name="Send the referral").click()
    expect(page.locator("#sent-notice")).to_be_visible()


def test_referral_from_the_person_page_to_completed(people: Any, console: Console) -> None:
    clinician = people("ed.dr.patel")
    refer(clinician, console, "demo-patient-02", "Follow up after the crisis visit.")
    sent = clinician.locator("#sent tbody tr", has_text="Sent, not yet seen").first
    expect(sent).to_contain_text("Case management")
    expect(sent).to_contain_text("demo-tpc")
    expect(sent.locator(".state")).to_contain_text("Sent, not yet seen")
    task = sent.get_attribute("data-task")

    lopez = people("casemgr.lopez")
    assert lopez.url.endswith("/console/referrals")
    row = lopez.locator(f'#queue tr[data-task="{task}"]')
    expect(row).to_contain_text("urgent")
    expect(row).to_contain_text("demo-panhandle-regional")
    row.get_by_role("button", name="Mark received").click()
    expect(row.locator(".state")).to_contain_text("Received")
    row.get_by_role("button", name="Accept").click()
    expect(row.locator(".state")).to_contain_text("Accepted")
    row.get_by_label("Appointment").fill("2030-01-15T10:30")
    row.get_by_role("button", name="Book").click()
    expect(row.locator(".state")).to_contain_text("Appointment booked")
    clinician.reload()
    expect(clinician.locator(f'#sent tr[data-task="{task}"] .state')).to_contain_text(
        "Appointment booked"
    )
    row.get_by_label("Outcome").select_option("seen")
    row.get_by_role("button", name="Complete").click()
    expect(row).to_have_count(0)  # done: no longer in the open queue
    lopez.get_by_role("link", name="Show all").click()
    expect(row.locator(".state")).to_contain_text("Completed")
    clinician.reload()
    expect(clinician.locator(f'#sent tr[data-task="{task}"] .state')).to_contain_text("Completed")


def test_reject_needs_a_reason_and_strangers_and_forgeries_are_refused(
    people: Any, console: Console
) -> None:
    clinician = people("ed.dr.patel")
    refer(clinician, console, "demo-patient-04", "Needs a case manager.")
    task = clinician.locator("#sent tbody tr", has_text="Sent, not yet seen").first.get_attribute(
        "data-task"
    )
    step = console.url(f"/console/referrals/{task}/step")
    # a form posted from elsewhere carries the cookie but not the page's token
    lopez = people("casemgr.lopez")
    for token in ("", "not-the-token"):
        answer = lopez.request.post(step, form={"csrf_token": token, "step": "accept"})
        assert answer.status == 403
        assert "The form expired or came from another site" in answer.text()
    token = lopez.locator('input[name="csrf_token"]').first.get_attribute("value")
    answer = lopez.request.post(step, form={"csrf_token": token, "step": "reject"})
    assert answer.status == 400 and "Choose why the referral is rejected." in answer.text()
    answer = lopez.request.post(step, form={"csrf_token": token, "step": "complete"})
    assert answer.status == 400 and "Choose the outcome" in answer.text()
    # the police are not party to the referral; facility intake has no referrals page
    officer = people("officer.diaz")
    officer.goto(console.url("/console/referrals"))
    expect(officer.locator(f'tr[data-task="{task}"]')).to_have_count(0)
    police_token = officer.locator('input[name="csrf_token"]').first.get_attribute("value")
    answer = officer.request.post(step, form={"csrf_token": police_token, "step": "accept"})
    assert answer.status == 403
    intake = people("intake.pavilion")
    intake.goto(console.url("/console/referrals"))
    expect(intake.locator("h1")).to_have_text("Not for your role")
    # the case manager rejects with a reason; the referrer sees it
    row = lopez.locator(f'#queue tr[data-task="{task}"]')
    lopez.reload()
    row.get_by_label("Why").select_option("no-capacity")
    row.get_by_role("button", name="Reject").click()
    expect(row).to_have_count(0)
    clinician.reload()
    expect(clinician.locator(f'#sent tr[data-task="{task}"] .state')).to_contain_text("Rejected")
