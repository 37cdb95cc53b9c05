"""The patch interaction with JSON Patch (RFC 6902; FHIR R4 http.html#patch)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.fhir.helpers import FHIR, PATCH_JSON, create, outcome, patient

NAME = "Zebediah"


def patch(client: TestClient, rid: str, ops: Any, **headers: str) -> Response:
    return client.patch(f"/fhir/Patient/{rid}", json=ops, headers={**PATCH_JSON, **headers})


@pytest.fixture()
def stored(client: TestClient) -> dict[str, Any]:
    return create(client, patient(name=[{"family": NAME, "given": ["Q"]}], gender="female"))


def test_patch_applies_each_operation_and_makes_a_new_version(
    client: TestClient, stored: dict[str, Any]
) -> None:
    ops = [
        {"op": "replace", "path": "/gender", "value": "male"},
        {"op": "add", "path": "/birthDate", "value": "1971-07-01"},
        {"op": "add", "path": "/name/0/given/-", "value": "R"},
        {"op": "test", "path": "/name/0/family", "value": NAME},
        {"op": "add", "path": "/active", "value": True},
    ]
    response = patch(client, stored["id"], ops)
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    read = client.get(f"/fhir/Patient/{stored['id']}").json()
    assert read["gender"] == "male" and read["birthDate"] == "1971-07-01"
    assert read["name"][0]["given"] == ["Q", "R"] and read["active"] is True
    assert read["meta"]["versionId"] == "2"


def test_patch_remove(client: TestClient, stored: dict[str, Any]) -> None:
    response = patch(client, stored["id"], [{"op": "remove", "path": "/gender"}])
    assert response.status_code == 200
    assert "gender" not in client.get(f"/fhir/Patient/{stored['id']}").json()


def test_patch_that_changes_nothing_keeps_the_version(
    client: TestClient, stored: dict[str, Any]
) -> None:
    response = patch(
        client, stored["id"], [{"op": "replace", "path": "/gender", "value": "female"}]
    )
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'


def test_failed_test_operation_is_422_and_changes_nothing(
    client: TestClient, stored: dict[str, Any]
) -> None:
    ops = [
        {"op": "replace", "path": "/gender", "value": "male"},
        {"op": "test", "path": "/name/0/family", "value": "Somebody"},
    ]
    outcome(patch(client, stored["id"], ops), 422, expression="$[1]", secrets=(NAME,))
    assert client.get(f"/fhir/Patient/{stored['id']}").json()["gender"] == "female"


@pytest.mark.parametrize(
    "ops, where",
    [
        ([{"op": "remove", "path": "/nothing/here"}], "$[0]"),
        (
            [
                {"op": "add", "path": "/gender", "value": "male"},
                {"op": "replace", "path": "/name/7/family", "value": "x"},
            ],
            "$[1]",
        ),
        ([{"op": "move", "from": "/missing", "path": "/gender"}], "$[0]"),
        ([{"op": "frobnicate", "path": "/gender"}], "$[0]"),
        ([{"op": "add", "value": 1}], "$[0]"),
        ([{"path": "/gender"}], "$[0]"),
        (["not an object"], "$[0]"),
        ({"op": "add", "path": "/gender", "value": "male"}, "$"),
        ([], "$"),
    ],
)
def test_bad_patch_documents_are_400_naming_the_operation_without_echoing_data(
    client: TestClient, stored: dict[str, Any], ops: Any, where: str
) -> None:
    outcome(patch(client, stored["id"], ops), 400, expression=where, secrets=(NAME,))
    current = client.get(f"/fhir/Patient/{stored['id']}").json()
    assert current["meta"]["versionId"] == "1" and current["gender"] == "female"


def test_patch_producing_invalid_fhir_is_400_at_the_element(
    client: TestClient, stored: dict[str, Any]
) -> None:
    ops = [{"op": "replace", "path": "/gender", "value": "robot"}]
    outcome(patch(client, stored["id"], ops), 400, expression="Patient.gender", secrets=(NAME,))
    ops = [{"op": "add", "path": "/hairColour", "value": "red"}]
    outcome(patch(client, stored["id"], ops), 400, expression="Patient.hairColour")
    assert client.get(f"/fhir/Patient/{stored['id']}").json()["gender"] == "female"


def test_patch_may_not_change_id_or_type(client: TestClient, stored: dict[str, Any]) -> None:
    for ops in (
        [{"op": "replace", "path": "/id", "value": "other"}],
        [{"op": "replace", "path": "/resourceType", "value": "Practitioner"}],
        [{"op": "remove", "path": "/id"}],
    ):
        outcome(patch(client, stored["id"], ops), 400)
    assert client.get(f"/fhir/Patient/{stored['id']}").json()["meta"]["versionId"] == "1"
    assert client.get("/fhir/Patient/other").status_code == 404


def test_patch_cannot_set_server_meta(client: TestClient, stored: dict[str, Any]) -> None:
    ops = [
        {"op": "replace", "path": "/meta/versionId", "value": "99"},
        {"op": "replace", "path": "/gender", "value": "male"},
    ]
    response = patch(client, stored["id"], ops)
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"


def test_patch_needs_the_json_patch_media_type(client: TestClient, stored: dict[str, Any]) -> None:
    ops = [{"op": "replace", "path": "/gender", "value": "male"}]
    for ctype in ("application/json", "application/fhir+json", "text/plain"):
        response = client.patch(
            f"/fhir/Patient/{stored['id']}", json=ops, headers={"Content-Type": ctype}
        )
        outcome(response, 415, expression="Content-Type")
    assert client.get(f"/fhir/Patient/{stored['id']}").json()["gender"] == "female"


def test_patch_unknown_resource_is_404(client: TestClient) -> None:
    ops = [{"op": "add", "path": "/gender", "value": "male"}]
    outcome(patch(client, "nobody", ops), 404)
    assert client.patch("/fhir/Patient/x", content=b"[", headers=PATCH_JSON).status_code == 400


def test_patch_keeps_fhir_content_type_on_the_answer(
    client: TestClient, stored: dict[str, Any]
) -> None:
    response = patch(client, stored["id"], [{"op": "add", "path": "/active", "value": False}])
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert response.json()["active"] is False
    assert client.get(f"/fhir/Patient/{stored['id']}", headers=FHIR).json()["active"] is False
