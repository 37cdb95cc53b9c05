from fastapi.testclient import TestClient

from tests.conftest import create


def test_create_then_read(client: TestClient) -> None:
    stored = create(client, {"resourceType": "Patient", "gender": "female"})
    got = client.get(f"/fhir/Patient/{stored['id']}")
    assert got.status_code == 200
    assert got.json()["gender"] == "female"
    assert got.headers["etag"] == 'W/"1"'
