"""Signing in: every console page needs it, the session cookie is sealed and HttpOnly, forms carry
a CSRF token, roles only open their own pages, and signing out ends it."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from gateway.auth.demo import DEMO_PASSWORD
from tests.web.conftest import Console, screenshot

PAGES = (
    "/console",
    "/console/crisis",
    "/console/crisis?name=Sample",
    "/console/crisis/patients/demo-patient-01",
    "/console/requests/demo-placement-task-01",
    "/console/referrals",
    "/console/intake",
    "/console/audit",
    "/console/audit?patient=Patient/demo-patient-01",
    "/console/audit/policy",
    "/console/dashboard",
    "/console/admin",
)
POSTS = (
    "/console/crisis/patients",
    "/console/crisis/patients/demo-patient-01/preview",
    "/console/crisis/patients/demo-patient-01/request",
    "/console/crisis/patients/demo-patient-01/refer",
    "/console/referrals/x/step",
    "/console/requests/x/move",
    "/console/intake/tasks/x",
    "/console/intake/tasks/x/move",
    "/console/intake/units/x/census",
    "/console/audit/btg/x/review",
    "/console/audit/verify",
    "/console/admin/users",
    "/console/logout",
)


def test_every_page_asks_for_sign_in(anonymous: Any, console: Console, backend: str) -> None:
    for path in PAGES:
        anonymous.goto(console.url(path))
        expect(anonymous.locator("h1")).to_have_text("Sign in")
        assert "/auth/authorize" in anonymous.url, path
    if backend == "sqlite":
        screenshot(anonymous, "sign-in")


def test_live_updates_and_forms_refuse_without_a_session(console: Console) -> None:
    with httpx.Client(base_url=console.base, follow_redirects=False) as http:
        for path in ("/console/api/intake", "/console/api/requests/x"):
            answer = http.get(path)
            assert answer.status_code == 401
            assert answer.json()["error"] == "sign-in required"
        for path in POSTS:
            answer = http.post(path, data={"csrf_token": "x"})
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/console/login"), path
    forged_jar = {"gw_console": "kid.bm90LWEtc2Vzc2lvbg"}
    with httpx.Client(base_url=console.base, follow_redirects=False, cookies=forged_jar) as http:
        assert http.get("/console/crisis").status_code == 303


def test_session_cookie_is_sealed_httponly_and_lax(people: Any, console: Console) -> None:
    page = people("officer.diaz")
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["gw_console"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/console"
    assert session["secure"] is False  # plain-HTTP local development; https base URLs set Secure
    assert "eyJ" not in session["value"]  # the access token (a JWT) is sealed, never readable
    assert "eyJ" not in page.content()
    assert page.evaluate("document.cookie") == ""
    with httpx.Client(base_url=console.base) as http:
        as_bearer = http.get(
            "/fhir/Patient", headers={"Authorization": f"Bearer {session['value']}"}
        )
        assert as_bearer.status_code == 401


def test_forms_without_the_csrf_token_are_refused(people: Any, console: Console) -> None:
    page = people("cit.officer.nguyen")
    page.goto(console.url("/console/crisis"))
    # A form posted from elsewhere carries the session cookie but not the page's token.
    for token in ("", "not-the-token"):
        answer = page.request.post(
            console.url("/console/crisis/patients"),
            form={
                "csrf_token": token,
                "given": "Csrf",
                "family": "Forgery",
                "birth_date": "1990-01-01",
                "gender": "male",
            },
        )
        assert answer.status == 403
        assert "The form expired or came from another site" in answer.text()
    page.goto(console.url("/console/crisis?name=Forgery"))
    expect(page.locator("#people-none")).to_be_visible()
    # The page's own form works.
    page.get_by_label("First name").fill("Csrf")
    page.get_by_label("Last name").fill("Forgery")
    page.get_by_label("Date of birth", exact=True).fill("1990-01-01")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("h1")).to_have_text("Csrf Forgery")


def test_bad_input_gets_a_clear_message(people: Any, console: Console) -> None:
    page = people("cit.officer.nguyen")
    page.goto(console.url("/console/nowhere/at/all"))
    expect(page.locator("h1")).to_have_text("Not found")
    css = page.request.get(console.url("/console/static/console.css"))
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    answer = page.request.post(
        console.url("/console/crisis/patients"),
        data='{"given": "x"}',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 400 and "form" in answer.text()
    page.goto(console.url("/console/crisis?name=A"))
    expect(page.locator("p.error")).to_have_text("Type at least two letters of the person's name.")
    page.goto(console.url("/console/crisis/patients/no-such-person"))
    expect(page.locator("h1")).to_have_text("Not found")
    page.goto(console.url("/console/crisis/patients/demo-patient-01"))
    page.get_by_label("Reasons (ICD-10-CM codes, optional)").fill("not a code")
    page.get_by_role("button", name="Find facilities").click()
    expect(page.locator("p.error")).to_contain_text("ICD-10-CM codes such as F20.9")
    page.goto(console.url("/console/requests/no-such-request"))
    expect(page.locator("h1")).to_have_text("Not found")
    # the demo's open request belongs to the hospital: the police may not follow it
    page.goto(console.url("/console/requests/demo-placement-task-01"))
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("p.error")).to_contain_text("only the requesting agency")


@pytest.mark.parametrize(
    ("username", "home", "refused"),
    [
        ("intake.pavilion", "/console/intake", "/console/crisis"),
        ("auditor.kim", "/console/audit", "/console/intake"),
        ("admin", "/console/admin", "/console/audit"),
        ("officer.diaz", "/console/crisis", "/console/admin"),
    ],
)
def test_each_role_lands_on_its_page_and_no_other(
    people: Any, console: Console, username: str, home: str, refused: str
) -> None:
    page = people(username)
    assert page.url.endswith(home)
    page.goto(console.url(refused))
    expect(page.locator("h1")).to_have_text("Not for your role")


def test_sign_out_ends_both_sessions(people: Any, console: Console) -> None:
    page = people("officer.diaz")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("body")).to_contain_text("signed out")
    page.goto(console.url("/console/crisis"))
    expect(page.locator("h1")).to_have_text("Sign in")


def test_wrong_password_and_foreign_next(anonymous: Any, console: Console) -> None:
    anonymous.goto(console.url("/console/login?next=https://elsewhere.example/steal"))
    anonymous.get_by_label("Username").fill("officer.diaz")
    anonymous.get_by_label("Password").fill("wrong")
    anonymous.get_by_role("button", name="Sign in").click()
    expect(anonymous.get_by_role("alert")).to_have_text("wrong username or password")
    anonymous.get_by_label("Password").fill(DEMO_PASSWORD)
    anonymous.get_by_role("button", name="Sign in").click()
    anonymous.wait_for_url(re.compile(r".*/console/crisis$"))
    assert anonymous.url.startswith(console.base)


def test_a_stale_callback_is_refused(anonymous: Any, console: Console) -> None:
    anonymous.goto(console.url("/console/callback?code=made-up&state=made-up"))
    expect(anonymous.locator("h1")).to_have_text("Sign-in expired")


def test_sign_in_again_returns_to_the_page(anonymous: Any, console: Console) -> None:
    anonymous.goto(console.url("/console/crisis?name=Sample"))
    anonymous.get_by_label("Username").fill("officer.diaz")
    anonymous.get_by_label("Password").fill(DEMO_PASSWORD)
    anonymous.get_by_role("button", name="Sign in").click()
    anonymous.wait_for_url(re.compile(r".*/console/crisis\?name=Sample$"))
    expect(anonymous.get_by_role("link", name="Avery Sample")).to_be_visible()


def test_an_expired_token_is_renewed_silently(people: Any, console: Console) -> None:
    """Access tokens live five minutes; while the login session is fresh, the console gets a new
    one through the authorization endpoint without asking for the password again."""
    from gateway.auth.tokens import TokenService
    from gateway.web.session import Sealer

    page = people("officer.diaz")
    state = console.app.state
    short = TokenService(
        state.keys, issuer=console.settings.issuer, audience=console.settings.fhir_base, lifetime=1
    )
    token = short.issue(
        client_id="web-console",
        agency="demo-amarillo-pd",
        role="police_officer",
        scope="user/*.cruds",
        purposes=["HLEGAL"],
        user="officer.diaz",
    )["access_token"]
    sealed = Sealer(state.keys).seal({"t": token, "c": "csrf"}, "gw_console")
    page.context.add_cookies(
        [{"name": "gw_console", "value": sealed, "domain": "127.0.0.1", "path": "/console"}]
    )
    time.sleep(1.2)
    page.goto(console.url("/console/crisis?name=Sample"))
    expect(page.get_by_role("link", name="Avery Sample")).to_be_visible()
    fresh = {c["name"]: c["value"] for c in page.context.cookies()}["gw_console"]
    assert fresh != sealed
