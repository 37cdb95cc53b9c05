"""Every API request needs a valid bearer token, and its scopes cap each interaction."""

from __future__ import annotations

import base64
import time

import orjson
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import FHIR, bearer


def test_metadata_and_discovery_are_public(anon_client: TestClient) -> None:
    assert anon_client.get("/fhir/metadata").status_code == 200
    config = anon_client.get("/fhir/.well-known/smart-configuration").json()
    assert config["token_endpoint"] == "http://testserver/auth/token"
    assert config["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert config["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert config["code_challenge_methods_supported"] == ["S256"]
    assert "client-confidential-asymmetric" in config["capabilities"]
    for key in (
        "jwks_uri",
        "introspection_endpoint",
        "authorization_endpoint",
        "grant_types_supported",
        "scopes_supported",
    ):
        assert key in config
    jwks = anon_client.get("/auth/jwks").json()
    assert jwks["keys"] and all("d" not in k for k in jwks["keys"])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/fhir/Patient"),
        ("GET", "/fhir/Patient/x"),
        ("POST", "/fhir/Patient"),
        ("PUT", "/fhir/Patient/x"),
        ("DELETE", "/fhir/Patient/x"),
        ("POST", "/fhir"),
        ("GET", "/fhir/Patient/x/_history"),
        ("GET", "/admin/agencies"),
        ("POST", "/auth/introspect"),
    ],
)
def test_no_token_gets_401_with_www_authenticate(
    anon_client: TestClient, method: str, path: str
) -> None:
    response = anon_client.request(
        method, path, json={"resourceType": "Patient", "id": "x"}, headers=FHIR
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["resourceType"] == "OperationOutcome"


def _stored_patient(anon_client: TestClient) -> str:
    headers = {**FHIR, **bearer(anon_client.app)}
    stored = anon_client.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "name": [{"family": "Quintero"}]},
        headers=headers,
    )
    assert stored.status_code == 201
    return str(stored.json()["id"])


def _assert_refused_without_data(response, secret: str = "Quintero") -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert secret not in response.text


def test_tampered_token_is_refused(anon_client: TestClient) -> None:
    pid = _stored_patient(anon_client)
    token = bearer(anon_client.app, scope="system/Patient.r")["Authorization"].split()[1]
    head, payload, sig = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "system/*.cruds"
    forged = f"{head}.{base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b'=').decode()}.{sig}"
    _assert_refused_without_data(
        anon_client.get(f"/fhir/Patient/{pid}", headers={"Authorization": f"Bearer {forged}"})
    )


def test_token_from_another_issuer_is_refused(anon_client: TestClient) -> None:
    pid = _stored_patient(anon_client)
    now = int(time.time())
    other = RSAKey.generate_key(2048, parameters={"kid": anon_client.app.state.keys.current.kid})
    claims = {
        "iss": "http://testserver",
        "aud": "http://testserver/fhir",
        "exp": now + 60,
        "iat": now,
        "client_id": "x",
        "scope": "system/*.cruds",
    }
    foreign = jwt.encode(
        {"alg": "RS256", "kid": other.kid, "typ": "at+jwt"}, claims, other, algorithms=["RS256"]
    )
    _assert_refused_without_data(
        anon_client.get(f"/fhir/Patient/{pid}", headers={"Authorization": f"Bearer {foreign}"})
    )


def test_token_for_another_server_is_refused(anon_client: TestClient) -> None:
    pid = _stored_patient(anon_client)
    key = anon_client.app.state.keys.current
    now = int(time.time())
    claims = {
        "iss": "http://testserver",
        "aud": "https://other.example/fhir",
        "exp": now + 60,
        "iat": now,
        "client_id": "x",
        "scope": "system/*.cruds",
    }
    token = jwt.encode(
        {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, claims, key.key, algorithms=["RS256"]
    )
    _assert_refused_without_data(
        anon_client.get(f"/fhir/Patient/{pid}", headers={"Authorization": f"Bearer {token}"})
    )


def test_expired_access_token_is_refused(anon_client: TestClient) -> None:
    pid = _stored_patient(anon_client)
    key = anon_client.app.state.keys.current
    past = int(time.time()) - 400
    claims = {
        "iss": "http://testserver",
        "aud": "http://testserver/fhir",
        "exp": past + 300,
        "iat": past,
        "client_id": "x",
        "scope": "system/*.cruds",
    }
    token = jwt.encode(
        {"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, claims, key.key, algorithms=["RS256"]
    )
    _assert_refused_without_data(
        anon_client.get(f"/fhir/Patient/{pid}", headers={"Authorization": f"Bearer {token}"})
    )


def test_garbage_token_is_refused(anon_client: TestClient) -> None:
    _assert_refused_without_data(
        anon_client.get("/fhir/Patient", headers={"Authorization": "Bearer not.a.jwt"})
    )


@pytest.mark.parametrize(
    ("scope", "method", "path", "allowed"),
    [
        ("system/Patient.r", "GET", "/fhir/Patient/{id}", True),
        ("system/Patient.r", "GET", "/fhir/Patient", False),
        ("system/Patient.s", "GET", "/fhir/Patient", True),
        ("system/Patient.s", "GET", "/fhir/Patient/{id}", False),
        ("system/Patient.rs", "PUT", "/fhir/Patient/{id}", False),
        ("system/Patient.u", "PUT", "/fhir/Patient/{id}", True),
        ("system/Observation.cruds", "GET", "/fhir/Patient/{id}", False),
        ("system/*.r", "GET", "/fhir/Patient/{id}/_history/1", True),
        ("system/Patient.read", "GET", "/fhir/Patient", True),
        ("system/Patient.read", "DELETE", "/fhir/Patient/{id}", False),
        ("system/Patient.d", "DELETE", "/fhir/Patient/{id}", True),
    ],
)
def test_scope_ceiling_per_interaction(
    anon_client: TestClient, scope: str, method: str, path: str, allowed: bool
) -> None:
    pid = _stored_patient(anon_client)
    body = {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Quintero"}],
        "gender": "other",
    }
    response = anon_client.request(
        method,
        path.format(id=pid),
        json=body,
        headers={**FHIR, **bearer(anon_client.app, scope=scope)},
    )
    if allowed:
        assert response.status_code < 300, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["issue"][0]["code"] == "forbidden"
        assert "Quintero" not in response.text


def test_transaction_entries_are_checked_one_by_one(anon_client: TestClient) -> None:
    auth = bearer(anon_client.app, scope="system/Patient.cruds system/Observation.rs")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "name": [{"family": "Zeta"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    }
    response = anon_client.post("/fhir", json=bundle, headers={**FHIR, **auth})
    assert response.status_code == 403
    search = anon_client.get("/fhir/Patient?family=Zeta", headers=auth)
    assert search.json()["total"] == 0


def test_introspection(client: TestClient) -> None:
    token = bearer(client.app, scope="system/Patient.rs")["Authorization"].split()[1]
    info = client.post("/auth/introspect", data={"token": token}).json()
    assert info["active"] is True
    assert info["scope"] == "system/Patient.rs"
    assert info["exp"] > time.time()
    assert client.post("/auth/introspect", data={"token": "junk"}).json() == {"active": False}


def test_admin_api_needs_the_admin_role(anon_client: TestClient) -> None:
    clinician = bearer(anon_client.app, role="crisis_clinician")
    assert anon_client.get("/admin/agencies", headers=clinician).status_code == 403
    admin = bearer(anon_client.app, role="gateway_admin")
    made = anon_client.post(
        "/admin/agencies",
        json={"id": "amarillo-pd", "kind": "police", "name": "Amarillo Police Department"},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    assert anon_client.get("/admin/agencies", headers=admin).json()[0]["id"] == "amarillo-pd"
    bad = anon_client.post(
        "/admin/agencies", json={"id": "x", "kind": "army", "name": "X"}, headers=admin
    )
    assert bad.status_code == 400
    assert bad.json()["issue"][0]["expression"] == ["kind"]
    dup = anon_client.post(
        "/admin/agencies",
        json={"id": "amarillo-pd", "kind": "police", "name": "Again"},
        headers=admin,
    )
    assert dup.status_code == 409
    user = anon_client.post(
        "/admin/users",
        json={
            "username": "officer.j",
            "agency": "amarillo-pd",
            "role": "police_officer",
            "password": "correct horse battery",
        },
        headers=admin,
    )
    assert user.status_code == 201
    assert "password" not in user.text
    weak = anon_client.post(
        "/admin/users",
        json={
            "username": "weak",
            "agency": "amarillo-pd",
            "role": "police_officer",
            "password": "short",
        },
        headers=admin,
    )
    assert weak.status_code == 400
