"""SMART Backend Services token endpoint: what a correct agency system gets, and every attack refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import orjson
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from tests.auth.conftest import TOKEN_URL, Agency, get_token, register
from tests.support.smart import assertion, ec_key, public_jwks, rsa_key, token_form


def _refused(response, error: str = "invalid_client") -> None:  # type: ignore[no-untyped-def]
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == error, response.text
    assert "access_token" not in response.json()


def test_rs384_assertion_gets_a_token_that_reads(anon_client: TestClient, ehr: Agency) -> None:
    response = get_token(anon_client, token_form(assertion(ehr.rsa, ehr.client_id, TOKEN_URL)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] <= 300
    assert "refresh_token" not in body
    assert body["scope"] == "system/Patient.rs"
    assert response.headers["cache-control"] == "no-store"
    read = anon_client.get(
        "/fhir/Patient", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert read.status_code == 200


def test_es384_assertion_gets_a_token(anon_client: TestClient, ehr: Agency) -> None:
    response = get_token(anon_client, token_form(assertion(ehr.ec, ehr.client_id, TOKEN_URL)))
    assert response.status_code == 200, response.text


def test_access_token_is_rfc9068_shaped(anon_client: TestClient, ehr: Agency) -> None:
    form = token_form(assertion(ehr.rsa, ehr.client_id, TOKEN_URL))
    token = get_token(anon_client, form).json()["access_token"]
    header_b64, payload_b64, _ = token.split(".")
    header = orjson.loads(base64.urlsafe_b64decode(header_b64 + "=="))
    claims = orjson.loads(base64.urlsafe_b64decode(payload_b64 + "=="))
    assert header["typ"] == "at+jwt"
    assert claims["client_id"] == "panhandle-ehr"
    assert claims["aud"] == "http://testserver/fhir"
    assert claims["exp"] - claims["iat"] <= 300
    assert claims["purpose_of_use"] == ["TREAT"]
    assert claims["agency"] == "panhandle-er"


def _b64(data: dict) -> str:  # type: ignore[type-arg]
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def test_alg_none_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    now = int(time.time())
    claims = {
        "iss": ehr.client_id,
        "sub": ehr.client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "jti": "n1",
    }
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': 'rsa-1'})}.{_b64(claims)}."
    _refused(get_token(anon_client, token_form(unsigned)))


def test_hs256_signed_with_the_public_key_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    # The classic key-confusion forgery: HMAC over the token with the public key's PEM as secret.
    public_pem = ehr.rsa.get_op_key("verify").public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    claims = {
        "iss": ehr.client_id,
        "sub": ehr.client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "jti": "h1",
    }
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': 'rsa-1'})}.{_b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    _refused(get_token(anon_client, token_form(forged)))


def test_rs256_is_not_an_accepted_algorithm(anon_client: TestClient, ehr: Agency) -> None:
    material = {k: v for k, v in ehr.rsa.as_dict(private=True).items() if k != "alg"}
    same_key_any_alg = RSAKey.import_key(material)
    signed = assertion(same_key_any_alg, ehr.client_id, TOKEN_URL, alg="RS256")
    _refused(get_token(anon_client, token_form(signed)))


def test_expired_assertion_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    old = int(time.time()) - 600
    signed = assertion(ehr.rsa, ehr.client_id, TOKEN_URL, exp=old + 60, iat=old)
    _refused(get_token(anon_client, token_form(signed)))


def test_exp_more_than_five_minutes_ahead_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    _refused(
        get_token(
            anon_client, token_form(assertion(ehr.rsa, ehr.client_id, TOKEN_URL, lifetime=600))
        )
    )


def test_wrong_audience_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    signed = assertion(ehr.rsa, ehr.client_id, "http://elsewhere.example/token")
    _refused(get_token(anon_client, token_form(signed)))


def test_iss_different_from_sub_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    signed = assertion(ehr.rsa, ehr.client_id, TOKEN_URL, iss="someone-else")
    _refused(get_token(anon_client, token_form(signed)))


def test_unknown_client_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    signed = assertion(ehr.rsa, "nobody", TOKEN_URL)
    _refused(get_token(anon_client, token_form(signed)))


def test_unknown_kid_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    stranger = rsa_key("rsa-unknown")
    _refused(get_token(anon_client, token_form(assertion(stranger, ehr.client_id, TOKEN_URL))))


def test_key_signed_by_someone_else_with_a_known_kid_is_refused(
    anon_client: TestClient, ehr: Agency
) -> None:
    impostor = rsa_key("rsa-1")  # same kid as the registered key, different key material
    _refused(get_token(anon_client, token_form(assertion(impostor, ehr.client_id, TOKEN_URL))))


def test_two_registered_keys_with_the_same_kid_are_refused(anon_client: TestClient, db) -> None:  # type: ignore[no-untyped-def]
    first, second = rsa_key("dup"), rsa_key("dup")
    register(db, "dup-client", public_jwks(first, second))
    _refused(get_token(anon_client, token_form(assertion(first, "dup-client", TOKEN_URL))))


def test_kty_must_match_the_algorithm(anon_client: TestClient, db) -> None:  # type: ignore[no-untyped-def]
    ec = ec_key("shared")
    register(db, "kty-client", public_jwks(ec))
    # An RS384 header pointing at an EC key's kid: no key of kty RSA matches.
    rsa = rsa_key("shared")
    _refused(get_token(anon_client, token_form(assertion(rsa, "kty-client", TOKEN_URL))))


def test_replayed_jti_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    signed = assertion(ehr.rsa, ehr.client_id, TOKEN_URL)
    assert get_token(anon_client, token_form(signed)).status_code == 200
    _refused(get_token(anon_client, token_form(signed)))


def test_missing_jti_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    _refused(
        get_token(anon_client, token_form(assertion(ehr.rsa, ehr.client_id, TOKEN_URL, jti=None)))
    )


def test_unregistered_jku_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    signed = assertion(
        ehr.rsa, ehr.client_id, TOKEN_URL, header={"jku": "https://attacker.example/jwks"}
    )
    _refused(get_token(anon_client, token_form(signed)))


def test_tampered_assertion_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    head, payload, sig = assertion(ehr.rsa, ehr.client_id, TOKEN_URL).split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = claims["iss"] = ehr.client_id
    claims["exp"] += 30
    forged_payload = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    _refused(get_token(anon_client, token_form(f"{head}.{forged_payload}.{sig}")))


def test_disabled_client_is_refused(anon_client: TestClient, ehr: Agency, db) -> None:  # type: ignore[no-untyped-def]
    from gateway.auth.registry import Registry

    with db.unit_of_work() as session:
        Registry(session).set_client_enabled(ehr.client_id, False)
    _refused(get_token(anon_client, token_form(assertion(ehr.rsa, ehr.client_id, TOKEN_URL))))


def test_scope_is_cut_to_the_registered_ceiling(anon_client: TestClient, ehr: Agency) -> None:
    form = token_form(assertion(ehr.rsa, ehr.client_id, TOKEN_URL), scope="system/*.cruds")
    response = get_token(anon_client, form)
    assert response.status_code == 200, response.text
    assert set(response.json()["scope"].split()) == {"system/Patient.rs", "system/Observation.rs"}
    auth = {"Authorization": f"Bearer {response.json()['access_token']}"}
    created = anon_client.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=auth)
    assert created.status_code == 403
    assert created.json()["resourceType"] == "OperationOutcome"
    assert anon_client.get("/fhir/Encounter", headers=auth).status_code == 403


def test_scope_with_nothing_registered_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    form = token_form(assertion(ehr.rsa, ehr.client_id, TOKEN_URL), scope="system/Encounter.rs")
    _refused(get_token(anon_client, form), "invalid_scope")


def test_registered_purpose_travels_in_the_token(anon_client: TestClient, ehr: Agency) -> None:
    signed = assertion(
        ehr.rsa,
        ehr.client_id,
        TOKEN_URL,
        extensions={"hl7-b2b": {"purpose_of_use": ["HOPERAT"], "subject_id": "nurse-7"}},
    )
    token = get_token(anon_client, token_form(signed)).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    info = anon_client.post("/auth/introspect", data={"token": token}, headers=auth).json()
    assert info["active"] is True
    assert info["purpose_of_use"] == ["HOPERAT"]
    assert info["subject_id"] == "nurse-7"
    assert info["client_id"] == ehr.client_id


def test_unregistered_purpose_is_refused(anon_client: TestClient, ehr: Agency) -> None:
    signed = assertion(
        ehr.rsa, ehr.client_id, TOKEN_URL, extensions={"hl7-b2b": {"purpose_of_use": ["HLEGAL"]}}
    )
    _refused(get_token(anon_client, token_form(signed)), "invalid_grant")


def test_wrong_grant_type_and_media_type(anon_client: TestClient, ehr: Agency) -> None:
    form = token_form(assertion(ehr.rsa, ehr.client_id, TOKEN_URL))
    form["grant_type"] = "password"
    assert get_token(anon_client, form).json()["error"] == "unsupported_grant_type"
    as_json = anon_client.post("/auth/token", json=token_form("x"))
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
