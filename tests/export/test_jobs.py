"""An export's life: files and manifest, ``_since`` and the transaction time, polling while it runs,
resuming after its process died, failing, cancelling, and who may see it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.db.tables_export import ExportFileRow, ExportJobRow
from gateway.export.repository import ExportRepository, LeaseLost
from gateway.export.runner import ExportRunner
from gateway.fhir.search import SearchRunner
from tests.export.support import (
    condition,
    contents,
    download,
    export,
    finished,
    hospital,
    ids,
    kick_off,
    local,
    manifest,
    patient,
    post,
    search_ids,
    started,
)


@pytest.fixture()
def paused(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Kick-offs and polls start no work until ``paused.undo()``: the job waits as if its
    process had not got to it yet."""
    monkeypatch.setattr(ExportRunner, "run", lambda self, job_id: None)
    return monkeypatch


def job_of(client: TestClient, status: str) -> ExportJobRow:
    with client.app.state.db.unit_of_work() as session:
        job = ExportRepository(session).job(status.rsplit("/", 1)[1])
        assert job is not None
        session.expunge(job)
        return job


def test_a_system_export_gives_what_a_search_gives_in_files_of_at_most_n(
    gateway: TestClient,
) -> None:
    headers = hospital(gateway)
    people = [patient(gateway, headers, f"Files{i}") for i in range(2)]
    conditions = [condition(gateway, headers, people[i % 2]) for i in range(5)]
    post(gateway, headers, {"resourceType": "Organization", "name": "Panhandle Regional"})
    response = kick_off(gateway, headers, params={"_type": "Condition,Patient,Condition"})
    status = started(response)
    assert response.json()["resourceType"] == "OperationOutcome"
    body = manifest(gateway, headers, status)
    assert body["requiresAccessToken"] is True and body["error"] == []
    assert (
        body["request"]
        == str(gateway.base_url) + "/fhir/$export?_type=Condition%2CPatient%2CCondition"
    )
    assert body["transactionTime"].endswith("Z") and "T" in body["transactionTime"]
    # types in the order asked (each once), each split into files of at most two resources
    assert [(o["type"], o["count"]) for o in body["output"]] == [
        ("Condition", 2),
        ("Condition", 2),
        ("Condition", 1),
        ("Patient", 2),
    ]
    found = contents(gateway, headers, body)
    assert (
        ids(found, "Condition") == sorted(conditions) == search_ids(gateway, headers, "Condition")
    )
    assert ids(found, "Patient") == sorted(people) == search_ids(gateway, headers, "Patient")
    assert "Organization" not in found
    again = gateway.get(status, headers=headers)
    assert again.status_code == 200 and "expires" in again.headers


def test_since_and_the_transaction_time_bound_what_is_exported(
    gateway: TestClient, paused: pytest.MonkeyPatch
) -> None:
    headers = hospital(gateway)
    patient(gateway, headers, "Before")
    time.sleep(0.01)
    since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    time.sleep(0.01)
    changed = patient(gateway, headers, "Changed")
    status = started(kick_off(gateway, headers, params={"_type": "Patient", "_since": since}))
    time.sleep(0.01)
    patient(gateway, headers, "After")  # written after the kick-off: after the transaction time
    paused.undo()
    body = finished(gateway, headers, status)
    assert ids(contents(gateway, headers, body), "Patient") == [changed]


def test_a_running_export_answers_202_with_its_progress(
    gateway: TestClient, paused: pytest.MonkeyPatch
) -> None:
    headers = hospital(gateway)
    patient(gateway, headers, "Waiting")
    status = started(kick_off(gateway, headers, params={"_type": "Patient,Condition"}))
    response = gateway.get(status, headers=headers)
    assert response.status_code == 202
    assert response.headers["x-progress"] == "0 of 2 types done; 0 resources in 0 files"
    assert int(response.headers["retry-after"]) > 0
    paused.undo()
    # the job had not been started: this poll starts it, and the next finds it done
    assert gateway.get(status, headers=headers).status_code == 202
    assert [o["type"] for o in manifest(gateway, headers, status)["output"]] == ["Patient"]


def test_a_job_whose_process_died_resumes_from_its_last_file(
    gateway: TestClient, paused: pytest.MonkeyPatch
) -> None:
    headers = hospital(gateway)
    pid = patient(gateway, headers, "Resumed")
    conditions = [condition(gateway, headers, pid) for _ in range(5)]
    status = started(kick_off(gateway, headers, params={"_type": "Condition"}))
    job_id = status.rsplit("/", 1)[1]
    db = gateway.app.state.db
    runner = ExportRunner(gateway.app.state)
    now = time.time()
    with db.unit_of_work() as session:  # a runner claims the job, writes one file, and dies
        assert ExportRepository(session).claim(job_id, "dead-runner", now, now + 60)
    assert runner._step(job_id, "dead-runner")
    assert gateway.get(status, headers=headers).status_code == 202  # its lease still holds
    with db.unit_of_work() as session:  # ... until it runs out
        session.execute(
            update(ExportJobRow).where(ExportJobRow.id == job_id).values(lease_until=now - 1)
        )
    paused.undo()
    assert gateway.get(status, headers=headers).status_code == 202  # this poll resumes it
    body = manifest(gateway, headers, status)
    assert [o["count"] for o in body["output"]] == [2, 2, 1]
    exported = [r["id"] for rs in contents(gateway, headers, body).values() for r in rs]
    assert sorted(exported) == sorted(conditions)  # each once: nothing lost, nothing twice
    assert job_of(gateway, status).attempts == 2


def test_a_job_interrupted_too_often_fails(gateway: TestClient, paused: pytest.MonkeyPatch) -> None:
    headers = hospital(gateway)
    status = started(kick_off(gateway, headers, params={"_type": "Patient"}))
    limit = gateway.app.state.export_config.max_attempts
    with gateway.app.state.db.unit_of_work() as session:
        session.execute(
            update(ExportJobRow)
            .where(ExportJobRow.id == status.rsplit("/", 1)[1])
            .values(status="in-progress", attempts=limit, lease_until=time.time() - 1)
        )
    paused.undo()
    assert gateway.get(status, headers=headers).status_code == 202  # one more run: refused
    response = gateway.get(status, headers=headers)
    assert response.status_code == 500
    assert "interrupted" in response.json()["issue"][0]["diagnostics"]


def test_a_failing_export_says_so_and_names_no_data(
    gateway: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = hospital(gateway)
    patient(gateway, headers, "Failing")

    def broken(self: SearchRunner, req: Any) -> Any:
        raise RuntimeError("Failing is in the database")

    monkeypatch.setattr(SearchRunner, "run", broken)
    status = started(kick_off(gateway, headers, params={"_type": "Patient"}))
    response = gateway.get(status, headers=headers)
    assert response.status_code == 500
    assert response.json()["issue"][0]["code"] == "exception"
    assert "Failing" not in response.text


def test_cancelling_deletes_the_job_and_its_files(gateway: TestClient) -> None:
    headers = hospital(gateway)
    patient(gateway, headers, "Cancelled")
    status = started(kick_off(gateway, headers, params={"_type": "Patient"}))
    (output,) = manifest(gateway, headers, status)["output"]
    response = gateway.delete(status, headers=headers)
    assert response.status_code == 202
    assert gateway.get(status, headers=headers).status_code == 404
    assert gateway.get(local(output["url"]), headers=headers).status_code == 404
    assert gateway.delete(status, headers=headers).status_code == 404
    with gateway.app.state.db.unit_of_work() as session:
        assert session.execute(select(ExportFileRow)).first() is None


def test_a_cancelled_running_job_writes_nothing_more(
    gateway: TestClient, paused: pytest.MonkeyPatch
) -> None:
    headers = hospital(gateway)
    pid = patient(gateway, headers, "Stopped")
    condition(gateway, headers, pid)
    status = started(kick_off(gateway, headers, params={"_type": "Patient,Condition"}))
    job_id = status.rsplit("/", 1)[1]
    now = time.time()
    with gateway.app.state.db.unit_of_work() as session:
        assert ExportRepository(session).claim(job_id, "runner", now, now + 60)
    runner = ExportRunner(gateway.app.state)
    assert runner._step(job_id, "runner")  # one file written
    assert gateway.delete(status, headers=headers).status_code == 202
    with pytest.raises(LeaseLost):
        runner._step(job_id, "runner")
    with gateway.app.state.db.unit_of_work() as session:
        assert session.execute(select(ExportFileRow)).first() is None


def test_only_the_client_and_person_that_started_a_job_see_it(gateway: TestClient) -> None:
    headers = hospital(gateway, user="dr.ames")
    patient(gateway, headers, "Private")
    status = started(kick_off(gateway, headers, params={"_type": "Patient"}))
    (output,) = manifest(gateway, headers, status)["output"]
    for other in (
        hospital(gateway, client_id="another-client", user="dr.ames"),
        hospital(gateway, user="dr.other"),
        hospital(gateway),  # the same system without the person
    ):
        assert gateway.get(status, headers=other).status_code == 404
        assert gateway.get(local(output["url"]), headers=other).status_code == 404
        assert gateway.delete(status, headers=other).status_code == 404
    unknown = gateway.get("/fhir/$export-status/no-such-job", headers=headers)
    assert unknown.status_code == 404
    # a new token of the same client and person is the same owner
    again = hospital(gateway, user="dr.ames")
    assert gateway.get(status, headers=again).status_code == 200
    download(gateway, again, output["url"])


def test_status_and_files_need_a_token(gateway: TestClient) -> None:
    headers = hospital(gateway)
    patient(gateway, headers, "Tokened")
    status = started(kick_off(gateway, headers, params={"_type": "Patient"}))
    (output,) = manifest(gateway, headers, status)["output"]
    for path in (status, local(output["url"])):
        response = gateway.get(path)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (
        gateway.get(local(output["url"]), headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )


def test_a_file_needs_read_scope_on_its_type(gateway: TestClient) -> None:
    headers = hospital(gateway)
    patient(gateway, headers, "Narrowed")
    body = export(gateway, headers, params={"_type": "Patient"})
    narrower = hospital(gateway, scope="system/Condition.rs")
    assert gateway.get(local(body["output"][0]["url"]), headers=narrower).status_code == 403


def test_expired_jobs_are_gone(gateway: TestClient) -> None:
    headers = hospital(gateway)
    patient(gateway, headers, "Expired")
    status = started(kick_off(gateway, headers, params={"_type": "Patient"}))
    (output,) = manifest(gateway, headers, status)["output"]
    with gateway.app.state.db.unit_of_work() as session:
        session.execute(update(ExportJobRow).values(expires_at=time.time() - 1))
    assert gateway.get(status, headers=headers).status_code == 404
    assert gateway.get(local(output["url"]), headers=headers).status_code == 404
    started(kick_off(gateway, headers, params={"_type": "Patient"}))  # purges expired jobs
    with gateway.app.state.db.unit_of_work() as session:
        assert len(session.execute(select(ExportJobRow)).all()) == 1
