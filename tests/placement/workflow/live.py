"""A live gateway (real HTTP on a loopback port) with the placement workflow, and a client that
speaks as any agency; plus the FHIR-native way to open a request."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from gateway.placement.workflow_codes import PLACEMENT_SYSTEM, TASK_CODE_SYSTEM
from tests.conftest import bearer
from tests.placement.workflow.support import REQUESTER, service_request

Resource = dict[str, Any]
FHIR = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
PATCH = {"Content-Type": "application/json-patch+json"}


class Api:
    """An HTTP client of the live gateway that can speak as any agency."""

    def __init__(self, app: Any, http: httpx.Client) -> None:
        self.app, self.http = app, http

    def auth(self, agency: str, role: str = "hospital_ehr") -> dict[str, str]:
        scope = "user/*.cruds" if role == "facility_intake" else "system/*.cruds"
        return bearer(self.app, scope, agency=agency, role=role, client_id=f"{agency}-client")

    def send(
        self, method: str, path: str, agency: str, body: Any = None, **kw: Any
    ) -> httpx.Response:
        role = kw.pop("role", "hospital_ehr" if agency == REQUESTER else "facility_system")
        headers = {**FHIR, **kw.pop("headers", {}), **self.auth(agency, role)}
        content = None if body is None else orjson.dumps(body)
        return self.http.request(method, path, content=content, headers=headers, **kw)

    def read(self, rtype: str, rid: str, agency: str = REQUESTER) -> Resource:
        response = self.send("GET", f"/fhir/{rtype}/{rid}", agency)
        assert response.status_code == 200, response.text
        doc: Resource = response.json()
        return doc


def parent_task(sr_ref: str) -> Resource:
    return {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": TASK_CODE_SYSTEM, "code": "fulfill"}]},
        "focus": {"reference": sr_ref},
        "requester": {"reference": f"Organization/{REQUESTER}"},
    }


def children(api: Api, parent_id: str) -> list[Resource]:
    response = api.send("GET", f"/fhir/Task?part-of=Task/{parent_id}", REQUESTER)
    assert response.status_code == 200, response.text
    return [e["resource"] for e in response.json().get("entry", [])]


def open_request(api: Api) -> tuple[Resource, list[Resource]]:
    """POST a ServiceRequest and its parent Task; the parent and its child Tasks (by owner)."""
    sr = api.send("POST", "/fhir/ServiceRequest", REQUESTER, service_request())
    assert sr.status_code == 201, sr.text
    parent = api.send(
        "POST", "/fhir/Task", REQUESTER, parent_task(f"ServiceRequest/{sr.json()['id']}")
    )
    assert parent.status_code == 201, parent.text
    kids = children(api, parent.json()["id"])
    return parent.json(), sorted(kids, key=lambda t: t["owner"]["reference"])


def bed(label: str = "bed 4") -> list[Resource]:
    return [
        {
            "type": {"coding": [{"system": PLACEMENT_SYSTEM, "code": "reserved-bed"}]},
            "valueString": label,
        }
    ]
