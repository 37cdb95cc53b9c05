"""Token issuance and refusal are audited (IHE ITI-71), over real HTTP; no event, no token."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import orjson
import pytest
from fastapi import FastAPI
from joserfc.jwk import ECKey

from gateway.db.session import Database
from tests.audit.searching import TOKEN_EVENTS, agents, search
from tests.audit.support import audit_down
from tests.auth.conftest import TOKEN_URL, register
from tests.support.live import live_server
from tests.support.smart import assertion, ec_key, public_jwks, token_form


@pytest.fixture()
def http(app: FastAPI) -> Iterator[httpx.Client]:
    with live_server(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


@pytest.fixture()
def key(db: Database) -> ECKey:
    key = ec_key("ec-audit")
    register(db, "panhandle-ehr", public_jwks(key), scope="system/Patient.rs")
    return key


def _jti(access_token: str) -> str:
    payload = access_token.split(".")[1]
    return str(orjson.loads(base64.urlsafe_b64decode(payload + "=="))["jti"])


def test_an_issued_token_is_found_by_an_auditor(
    http: httpx.Client, app: FastAPI, key: ECKey
) -> None:
    response = http.post("/auth/token", data=token_form(assertion(key, "panhandle-ehr", TOKEN_URL)))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    (event,) = search(http, app, f"{TOKEN_EVENTS}&outcome=0")
    assert event["action"] == "E"
    assert {"panhandle-ehr", "Organization/panhandle-er"} <= agents(event)
    requestor = next(a for a in event["agent"] if a.get("requestor"))
    assert requestor["role"][0]["coding"][0]["code"] == "hospital_ehr"
    assert requestor["purposeOfUse"][0]["coding"][0]["code"] == "TREAT"
    assert requestor["network"]["address"] == "127.0.0.1"
    tokens = [
        e["what"]["identifier"]["value"]
        for e in event["entity"]
        if e["type"]["code"] == "UserOauthAgent"
    ]
    assert tokens == [f"urn:ietf:params:oauth:jti:{_jti(token)}"]  # the token, by its id only
    assert any(e.get("description") == "scope: system/Patient.rs" for e in event["entity"])
    assert token not in orjson.dumps(event).decode()


def test_a_refused_token_request_is_recorded_as_a_failure_without_the_assertion(
    http: httpx.Client, app: FastAPI, key: ECKey
) -> None:
    forged = assertion(ec_key("ec-audit"), "panhandle-ehr", TOKEN_URL)  # same kid, other key
    refused = http.post("/auth/token", data=token_form(forged))
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"
    wrong_scope = assertion(key, "panhandle-ehr", TOKEN_URL)
    too_much = http.post("/auth/token", data=token_form(wrong_scope, "system/Condition.rs"))
    assert too_much.json()["error"] == "invalid_scope"

    failures = search(http, app, f"{TOKEN_EVENTS}&outcome=4,8,12")
    assert len(failures) == 2
    bad_signature, bad_scope = failures
    assert bad_signature["outcome"] == "8"
    assert bad_signature["outcomeDesc"].startswith("invalid_client: ")
    assert "panhandle-ehr" in agents(bad_signature)  # the client it claimed to be
    assert bad_scope["outcome"] == "4"  # a request for more than registered
    assert bad_scope["outcomeDesc"].startswith("invalid_scope: ")
    text = orjson.dumps(failures).decode()
    assert forged not in text and wrong_scope not in text
    assert forged.split(".")[2] not in text  # not even the signature
    assert search(http, app, f"{TOKEN_EVENTS}&outcome=0") == []


def test_a_token_request_that_is_not_a_form_is_recorded(http: httpx.Client, app: FastAPI) -> None:
    refused = http.post("/auth/token", json={"grant_type": "client_credentials"})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"
    (event,) = search(http, app, f"{TOKEN_EVENTS}&outcome=4")
    assert event["outcomeDesc"] == "invalid_request: use application/x-www-form-urlencoded"
    assert {a.get("requestor") for a in event["agent"]} == {False}  # nobody it could name


def test_no_token_is_issued_when_the_audit_cannot_be_written(
    http: httpx.Client, app: FastAPI, db: Database, key: ECKey
) -> None:
    with audit_down(db):
        response = http.post(
            "/auth/token", data=token_form(assertion(key, "panhandle-ehr", TOKEN_URL))
        )
    assert response.status_code == 503
    body = response.json()
    assert body["error"] == "temporarily_unavailable"
    assert "audit" in body["error_description"]
    assert "access_token" not in body and "Traceback" not in response.text
    assert response.headers["cache-control"] == "no-store"
    assert search(http, app, TOKEN_EVENTS) == []
    again = http.post("/auth/token", data=token_form(assertion(key, "panhandle-ehr", TOKEN_URL)))
    assert again.status_code == 200  # the gateway recovers with its audit log


def test_a_refusal_still_stands_when_the_audit_cannot_be_written(
    http: httpx.Client, db: Database, key: ECKey
) -> None:
    forged = assertion(ec_key("ec-audit"), "panhandle-ehr", TOKEN_URL)
    with audit_down(db):
        refused = http.post("/auth/token", data=token_form(forged))
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"
