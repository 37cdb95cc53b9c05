"""Rules for a bha record that the schema cannot state: real dates, periods that run forwards (FHIR
invariant per-1), ids unique within the record, episode links that resolve, and a Condition that has
abated only with an inactive clinical status (R4 invariant con-4)."""

from __future__ import annotations

from typing import Any

from adapters.base import AdapterError, Location
from adapters.recordkit.timestamps import parse_date, parse_instant, require_order

Json = dict[str, Any]


def check(rec: Json, record: str) -> None:
    """Raise a located :class:`AdapterError` for the first rule the record breaks."""

    def at(field: str) -> Location:
        return Location(record=record, field=field)

    parse_instant(rec["updated_at"], at("updated_at"))
    if "birth_date" in rec["client"]:
        parse_date(rec["client"]["birth_date"], at("client.birth_date"))
    episodes: set[str] = set()
    for group, id_key in (("enrolments", "enrolment_id"), ("substance_use_episodes", "episode_id")):
        for i, item in enumerate(rec.get(group, [])):
            _span(item, "start", "end", f"{group}[{i}]", at)
            if item[id_key] in episodes:
                raise AdapterError("this episode id is used twice", at(f"{group}[{i}].{id_key}"))
            episodes.add(item[id_key])
    for group, id_key in (
        ("diagnoses", "diagnosis_id"),
        ("cssrs_screenings", "screening_id"),
        ("consents", "consent_id"),
    ):
        seen: set[str] = set()
        for i, item in enumerate(rec.get(group, [])):
            where = f"{group}[{i}]"
            if item[id_key] in seen:
                raise AdapterError("this id is used twice", at(f"{where}.{id_key}"))
            seen.add(item[id_key])
            if "episode_id" in item and item["episode_id"] not in episodes:
                raise AdapterError(
                    "names no enrolment or substance-use episode of this record",
                    at(f"{where}.episode_id"),
                )
    for i, diagnosis in enumerate(rec.get("diagnoses", [])):
        where = f"diagnoses[{i}]"
        _span(diagnosis, "onset", "abatement", where, at)
        if "recorded_on" in diagnosis:
            parse_date(diagnosis["recorded_on"], at(f"{where}.recorded_on"))
        if "abatement" in diagnosis and diagnosis["clinical_status"] not in (
            "inactive",
            "remission",
            "resolved",
        ):
            raise AdapterError(
                "an abated diagnosis must be inactive, in remission or resolved",
                at(f"{where}.clinical_status"),
            )
    for i, screening in enumerate(rec.get("cssrs_screenings", [])):
        parse_instant(screening["assessed_at"], at(f"cssrs_screenings[{i}].assessed_at"))
        answers = screening["answers"]
        if answers.get("suicidal_behavior_past_3_months") and not answers.get(
            "suicidal_behavior_ever"
        ):
            raise AdapterError(
                "behavior in the past 3 months needs suicidal_behavior_ever to be true",
                at(f"cssrs_screenings[{i}].answers.suicidal_behavior_past_3_months"),
            )
    for i, consent in enumerate(rec.get("consents", [])):
        parse_date(consent["signed_on"], at(f"consents[{i}].signed_on"))
        _span(consent.get("period", {}), "start", "end", f"consents[{i}].period", at)


def _span(item: Json, start: str, end: str, where: str, at: Any) -> None:
    first = parse_date(item[start], at(f"{where}.{start}")) if start in item else None
    last = parse_date(item[end], at(f"{where}.{end}")) if end in item else None
    require_order(first, last, f"is before {start}", at(f"{where}.{end}"))
