"""Which stored Patients identity matching compares a new record with (blocking): shared identifier,
birth date or phone, or a family name starting alike together with the birth year or a first-name
initial (nicknames included). Everyone else is never read."""

from __future__ import annotations

from typing import Any

from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.mpi.service import MpiService

BASE = "http://testserver/fhir"


def _person(family: str, given: str, born: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"family": family, "given": [given]}],
        "birthDate": born,
        **extra,
    }


def _candidates(db: Database, stored: dict[str, dict[str, Any]], new: dict[str, Any]) -> set[str]:
    with db.unit_of_work() as session:
        svc = ResourceService(session, BASE)
        ids = {svc.create("Patient", body).rid: name for name, body in stored.items()}
        found = MpiService(svc).candidates({**new, "id": "new-record"}, exclude="new-record")
        return {ids[c.patient_id] for c in found}


def test_family_prefix_is_narrowed_by_birth_year_or_initial(db: Database) -> None:
    stored = {
        "same year": _person("Hernandez", "Maria", "1984-11-30"),
        "same initial": _person("Hernandes", "Marta", "1990-01-01"),
        "nickname": _person("Hernandez", "Bill", "1971-05-05"),
        "neither": _person("Hernandez", "Carlos", "1960-02-02"),
        "other family": _person("Okafor", "Maria", "1984-03-07"),
    }
    new = _person("Hernández", "Maria", "1984-03-07")
    assert _candidates(db, stored, new) == {"same year", "same initial", "other family"}


def test_nicknames_reach_the_full_name_and_back(db: Database) -> None:
    stored = {
        "william": _person("Johnson", "William", "1950-01-01"),
        "bill": _person("Johnson", "Bill", "1951-01-01"),
        "robert": _person("Johnson", "Robert", "1952-01-01"),
    }
    # From "Bill": the full form William and Bill itself; never Robert (no year, no initial).
    found = _candidates(db, stored, _person("Johnson", "Bill", "1999-09-09"))
    assert found == {"william", "bill"}


def test_from_the_full_name_to_a_nickname(db: Database) -> None:
    stored = {
        "bill": _person("Johnson", "Bill", "1951-01-01"),
        "robert": _person("Johnson", "Robert", "1952-01-01"),
    }
    assert _candidates(db, stored, _person("Johnson", "William", "1999-09-09")) == {"bill"}


def test_identifier_and_phone_find_records_whatever_the_name(db: Database) -> None:
    licence = [{"system": "urn:dl:tx", "value": "12345678"}]
    phone = [{"system": "phone", "value": "806-555-0101"}]
    stored = {
        "licence": _person("Smith", "Ann", "1970-01-01", identifier=licence),
        "phone": _person("Jones", "Bea", "1971-01-01", telecom=phone),
        "nobody": _person("Brown", "Cy", "1972-01-01"),
    }
    new = _person("Nguyen", "Dao", "2001-01-01", identifier=licence, telecom=phone)
    assert _candidates(db, stored, new) == {"licence", "phone"}
