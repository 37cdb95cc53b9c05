"""Version and index rows are held back in the session and sent in one statement per table: every
reader in the same transaction still sees them, a second write replaces them, and savepoints
(batch Bundle entries) that roll back take exactly their own rows with them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text

from gateway.db.session import Database
from gateway.fhir.service import ResourceService

BASE = "http://testserver/fhir"


def _patient(family: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "name": [{"family": family}]}


def _found(svc: ResourceService, rtype: str, query: list[tuple[str, str]]) -> list[str]:
    return [hit.rid for hit in svc.search(svc.parse_search(rtype, query)).hits]


def _index_rows(db: Database, rid: str) -> int:
    with db.unit_of_work() as session:
        return int(
            session.execute(
                text(
                    "SELECT COUNT(*) FROM idx_string s JOIN fhir_resource r ON r.pk = s.res_pk "
                    "WHERE r.res_id = :rid AND s.param = 'family'"
                ),
                {"rid": rid},
            ).scalar_one()
        )


def test_a_search_in_the_same_transaction_sees_what_was_just_written(db: Database) -> None:
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        made = svc.create("Patient", _patient("Okafor"))
        assert _found(svc, "Patient", [("family", "okafor")]) == [made.rid]
        assert svc.vread("Patient", made.rid, 1).version == 1  # the version row is there too


def test_writes_of_a_transaction_are_sent_in_one_statement_per_table(db: Database) -> None:
    statements: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement.split("(")[0].strip())

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with db.unit_of_work() as session:
            svc = ResourceService(session, BASE)
            for n in range(20):
                svc.create("Patient", _patient(f"Family{n}"))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert statements.count("INSERT INTO fhir_resource") == 20
    assert statements.count("INSERT INTO fhir_resource_version") == 1
    assert statements.count("INSERT INTO idx_string") == 1
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        assert len(_found(svc, "Patient", [("family", "family1")])) == 11  # 1, 10..19


def test_a_second_write_replaces_the_held_back_rows(db: Database) -> None:
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        made = svc.create("Patient", _patient("Before"))
        svc.update("Patient", made.rid, {**_patient("Between"), "id": made.rid})
        svc.update("Patient", made.rid, {**_patient("After"), "id": made.rid})
    assert _index_rows(db, made.rid) == 1
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        assert _found(svc, "Patient", [("family", "before")]) == []
        assert _found(svc, "Patient", [("family", "between")]) == []
        assert _found(svc, "Patient", [("family", "after")]) == [made.rid]
        assert svc.read("Patient", made.rid).version == 3


def test_a_rolled_back_savepoint_takes_only_its_own_rows(db: Database) -> None:
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        kept = svc.create("Patient", _patient("Kept"))  # held back, not sent yet
        nested = session.begin_nested()
        undone = svc.create("Patient", _patient("Undone"))
        # A read inside the savepoint sends everything, the rows written before it included ...
        assert _found(svc, "Patient", [("family", "kept")]) == [kept.rid]
        nested.rollback()  # ... and the rollback undoes those too: they must be sent again.
        released = session.begin_nested()
        also = svc.create("Patient", _patient("Also"))
        released.commit()
    assert _index_rows(db, kept.rid) == 1
    assert _index_rows(db, also.rid) == 1
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        assert _found(svc, "Patient", [("family", "undone")]) == []
        assert svc.repo.current("Patient", undone.rid) is None
        assert svc.vread("Patient", kept.rid, 1).version == 1


def test_a_rolled_back_transaction_leaves_nothing_behind(db: Database) -> None:
    try:
        with db.unit_of_work() as session:
            svc = ResourceService(session, BASE)
            svc.create("Patient", _patient("Ghost"))
            raise RuntimeError("the request failed")
    except RuntimeError:
        pass
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        assert _found(svc, "Patient", [("family", "ghost")]) == []
        count = session.execute(text("SELECT COUNT(*) FROM fhir_resource_version")).scalar_one()
        assert count == 0
