"""People sign in with authorization code + PKCE (S256 only) on the gateway's own login page."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.auth.registry import Registry
from gateway.db.session import Database
from gateway.settings import Settings

REDIRECT = "http://testserver/console/callback"
PASSWORD = "correct horse battery"


@pytest.fixture()
def people(db: Database) -> None:
    with db.unit_of_work() as session:
        registry = Registry(session)
        registry.add_agency("tpc", "bha", "Texas Panhandle Centers")
        registry.add_client(
            "web-console",
            "tpc",
            "web_console",
            "user/*.cruds",
            public=True,
            redirect_uris=[REDIRECT],
        )
        registry.add_user("clin.a", "tpc", "crisis_clinician", PASSWORD)


def _authorize_url(
    challenge: str | None, method: str | None = "S256", redirect: str = REDIRECT
) -> str:
    params = {
        "response_type": "code",
        "client_id": "web-console",
        "redirect_uri": redirect,
        "scope": "user/Patient.rs",
        "state": "st-1",
    }
    if challenge is not None:
        params["code_challenge"] = challenge
    if method is not None:
        params["code_challenge_method"] = method
    return f"/auth/authorize?{urlencode(params)}"


def _login_form(client: TestClient, url: str) -> dict[str, str]:
    page = client.get(url)
    assert page.status_code == 200, page.text
    assert 'label for="password"' in page.text
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    fields.pop("username", None)
    return fields


def _sign_in(client: TestClient, url: str, password: str = PASSWORD) -> object:
    form = _login_form(client, url)
    return client.post("/auth/authorize", data={**form, "username": "clin.a", "password": password})


def _code(response: object) -> str:
    assert response.status_code == 302, response.text  # type: ignore[attr-defined]
    location = response.headers["location"]  # type: ignore[attr-defined]
    assert location.startswith(REDIRECT)
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


@pytest.fixture()
def browser(anon_client: TestClient, people: None) -> Iterator[TestClient]:
    anon_client.follow_redirects = False
    yield anon_client


def _exchange(client: TestClient, code: str, verifier: str) -> object:
    return client.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "web-console",
            "code_verifier": verifier,
        },
    )


def test_full_login_flow_issues_a_user_token(browser: TestClient) -> None:
    verifier = secrets.token_urlsafe(48)
    code = _code(_sign_in(browser, _authorize_url(create_s256_code_challenge(verifier))))
    response = _exchange(browser, code, verifier)
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    token = response.json()["access_token"]  # type: ignore[attr-defined]
    info = browser.app.state.tokens.introspect(token)
    assert info["sub"] == "clin.a"
    assert info["role"] == "crisis_clinician"
    assert info["scope"] == "user/Patient.rs"
    assert info["purpose_of_use"] == ["TREAT"]
    assert (
        browser.get("/fhir/Patient", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    # A code works once.
    assert _exchange(browser, code, verifier).json()["error"] == "invalid_grant"  # type: ignore[attr-defined]


def test_session_cookie_skips_the_form_until_it_times_out(
    browser: TestClient, db: Database, settings: Settings, keystore: KeyStore
) -> None:
    verifier = secrets.token_urlsafe(48)
    url = _authorize_url(create_s256_code_challenge(verifier))
    _code(_sign_in(browser, url))
    again = browser.get(url)
    assert again.status_code == 302 and "code=" in again.headers["location"]
    cookie = browser.cookies.get("gw_session")
    assert cookie
    expired = create_app(settings.with_overrides(session_minutes=0), db=db, keys=keystore)
    with TestClient(expired, follow_redirects=False) as other:
        other.cookies.set("gw_session", cookie, path="/auth")
        page = other.get(url)
        assert page.status_code == 200 and "Sign in" in page.text


def test_missing_challenge_is_refused(browser: TestClient) -> None:
    response = browser.get(_authorize_url(None, None))
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]


def test_plain_challenge_is_refused(browser: TestClient) -> None:
    response = browser.get(_authorize_url("a" * 43, "plain"))
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]


def test_wrong_verifier_is_refused(browser: TestClient) -> None:
    verifier = secrets.token_urlsafe(48)
    code = _code(_sign_in(browser, _authorize_url(create_s256_code_challenge(verifier))))
    response = _exchange(browser, code, secrets.token_urlsafe(48))
    assert response.json()["error"] == "invalid_grant"  # type: ignore[attr-defined]


def test_unregistered_redirect_is_never_followed(browser: TestClient) -> None:
    response = browser.get(_authorize_url("a" * 43, redirect="https://attacker.example/cb"))
    assert response.status_code == 400
    assert "attacker.example" not in response.headers.get("location", "")


def test_wrong_password_shows_the_form_again(browser: TestClient) -> None:
    response = _sign_in(browser, _authorize_url("a" * 43), password="not the password")
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert "wrong username or password" in response.text  # type: ignore[attr-defined]
    assert "location" not in response.headers  # type: ignore[attr-defined]


def test_repeated_failures_lock_the_account(browser: TestClient, db: Database) -> None:
    url = _authorize_url("a" * 43)
    for _ in range(5):
        assert _sign_in(browser, url, password="guess guess guess").status_code == 401  # type: ignore[attr-defined]
    locked = _sign_in(browser, url)  # even the right password is refused while locked
    assert locked.status_code == 401  # type: ignore[attr-defined]
    assert "locked" in locked.text  # type: ignore[attr-defined]
    with db.unit_of_work() as session:
        Registry(session).set_user_enabled("clin.a", True)  # an administrator unlocks
    assert _sign_in(browser, url).status_code == 302  # type: ignore[attr-defined]


def test_form_without_csrf_token_is_refused(browser: TestClient) -> None:
    form = _login_form(browser, _authorize_url("a" * 43))
    form["csrf_token"] = "forged"
    response = browser.post(
        "/auth/authorize", data={**form, "username": "clin.a", "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "location" not in response.headers


def test_disabled_user_cannot_sign_in(browser: TestClient, db: Database) -> None:
    with db.unit_of_work() as session:
        Registry(session).set_user_enabled("clin.a", False)
    assert _sign_in(browser, _authorize_url("a" * 43)).status_code == 401  # type: ignore[attr-defined]
