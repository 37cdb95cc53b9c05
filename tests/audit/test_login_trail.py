"""Sign-in, failed sign-in, lockout and sign-out are audited (DCM 110114 / 110122, 110123), over
real HTTP; when the audit cannot be written nobody signs in."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import orjson
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from fastapi import FastAPI

from gateway.auth.registry import Registry
from gateway.db.session import Database
from tests.audit.searching import (
    LOGIN_EVENTS,
    LOGOUT_EVENTS,
    TOKEN_EVENTS,
    USER_CHANGES,
    agents,
    search,
    targets,
)
from tests.audit.support import audit_down
from tests.support.live import live_server

REDIRECT = "http://testserver/console/callback"
PASSWORD = "correct horse battery"
WRONG = "Tr0ub4dor&3-not-it"


@pytest.fixture()
def http(app: FastAPI, db: Database) -> Iterator[httpx.Client]:
    with db.unit_of_work() as session:
        registry = Registry(session)
        registry.add_agency("tpc", "bha", "Texas Panhandle Centers")
        registry.add_client(
            "web-console", "tpc", "web_console", "user/*.rs", public=True, redirect_uris=[REDIRECT]
        )
        registry.add_user("clin.a", "tpc", "crisis_clinician", PASSWORD)
    with live_server(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def _authorize(challenge: str) -> str:
    params = {
        "response_type": "code",
        "client_id": "web-console",
        "redirect_uri": REDIRECT,
        "scope": "user/Patient.rs",
        "state": "st-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return f"/auth/authorize?{urlencode(params)}"


def _sign_in(
    http: httpx.Client, password: str, username: str = "clin.a", challenge: str = "x" * 43
) -> httpx.Response:
    page = http.get(_authorize(challenge))
    assert page.status_code == 200, page.text
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    form.pop("username", None)
    return http.post("/auth/authorize", data={**form, "username": username, "password": password})


def test_a_sign_in_its_token_and_the_sign_out_are_found_by_an_auditor(
    http: httpx.Client, app: FastAPI
) -> None:
    verifier = secrets.token_urlsafe(48)
    signed_in = _sign_in(http, PASSWORD, challenge=create_s256_code_challenge(verifier))
    assert signed_in.status_code == 302, signed_in.text
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    exchanged = http.post(
        "/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "web-console",
            "code_verifier": verifier,
        },
    )
    assert exchanged.status_code == 200, exchanged.text
    assert http.post("/auth/logout").status_code == 200

    (login,) = search(http, app, LOGIN_EVENTS)
    assert (login["action"], login["outcome"]) == ("E", "0")
    assert {"web-console", "clin.a", "Organization/tpc"} <= agents(login)
    person = next(a for a in login["agent"] if a.get("requestor"))
    assert person["role"][0]["coding"][0]["code"] == "crisis_clinician"
    (token,) = search(http, app, f"{TOKEN_EVENTS}&outcome=0")
    assert {"web-console", "clin.a", "Organization/tpc"} <= agents(token)
    (logout,) = search(http, app, LOGOUT_EVENTS)
    assert "clin.a" in agents(logout) and logout["outcome"] == "0"
    text = orjson.dumps([login, token, logout]).decode()
    assert PASSWORD not in text and code not in text and verifier not in text


def test_failed_sign_ins_and_the_lockout_are_recorded_without_the_password(
    http: httpx.Client, app: FastAPI
) -> None:
    for _ in range(5):  # settings.login_max_failures
        refused = _sign_in(http, WRONG)
        assert refused.status_code == 401 and "wrong username or password" in refused.text
    locked = _sign_in(http, PASSWORD)
    assert locked.status_code == 401 and "locked" in locked.text
    assert _sign_in(http, WRONG, username="nobody.here").status_code == 401

    failures = search(http, app, f"{LOGIN_EVENTS}&outcome=8")
    assert len(failures) == 7
    assert search(http, app, f"{LOGIN_EVENTS}&outcome=0") == []
    assert [e["outcomeDesc"] for e in failures[:5]] == ["wrong password"] * 5
    assert all("clin.a" in agents(e) for e in failures[:6])
    assert failures[5]["outcomeDesc"] == "the account is locked"
    unknown = failures[6]
    assert unknown["outcomeDesc"] == "unknown username"
    assert agents(unknown) == {"web-console"}  # an unknown username may be a mistyped password
    (lockout,) = search(http, app, f"{USER_CHANGES}&action=U")
    assert targets(lockout) == {"urn:gateway:user|clin.a"}
    assert lockout["outcomeDesc"] == "locked for 15 minutes after 5 failed sign-ins"
    text = orjson.dumps([*failures, lockout]).decode()
    assert WRONG not in text and PASSWORD not in text and "nobody.here" not in text


def test_nobody_signs_in_when_the_audit_cannot_be_written(
    http: httpx.Client, app: FastAPI, db: Database
) -> None:
    with audit_down(db):
        refused = _sign_in(http, PASSWORD)
        wrong = _sign_in(http, WRONG)
    assert refused.status_code == 503
    assert "could not be recorded in the audit log" in refused.text
    assert "location" not in refused.headers and "gw_session" not in refused.cookies
    assert "Traceback" not in refused.text
    # A wrong password reads the same: the page tells nothing about the password while it is down.
    assert wrong.status_code == 503 and "wrong username" not in wrong.text
    assert search(http, app, LOGIN_EVENTS) == []
    assert _sign_in(http, PASSWORD).status_code == 302  # and it recovers
