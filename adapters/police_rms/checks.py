"""Rules the schema cannot state: real calendar dates, times that run forwards (FHIR Period invariant
per-1), one primary officer, no badge listed twice."""

from __future__ import annotations

import itertools
from typing import Any

from adapters.base import AdapterError, Location
from adapters.recordkit.timestamps import parse_date, parse_instant, require_order

Json = dict[str, Any]

_TIMELINE = ("reported_at", "dispatched_at", "on_scene_at", "cleared_at")


def check(rec: Json, record: str) -> None:
    """Raise a located :class:`AdapterError` for the first rule the record breaks."""

    def at(field: str) -> Location:
        return Location(record=record, field=field)

    times = {f: parse_instant(rec[f], at(f)) for f in (*_TIMELINE, "updated_at") if f in rec}
    seen = [f for f in _TIMELINE if f in times]
    for earlier, later in itertools.pairwise(seen):
        require_order(times[earlier], times[later], f"is before {earlier}", at(later))
    transport = rec.get("transport", {})
    legs = {
        f: parse_instant(transport[f], at(f"transport.{f}"))
        for f in ("departed_at", "arrived_at")
        if f in transport
    }
    require_order(
        legs.get("departed_at"),
        legs.get("arrived_at"),
        "is before transport.departed_at",
        at("transport.arrived_at"),
    )
    require_order(
        times.get("on_scene_at"),
        legs.get("departed_at"),
        "is before on_scene_at",
        at("transport.departed_at"),
    )
    require_order(
        legs.get("arrived_at"),
        times.get("cleared_at"),
        "is before transport.arrived_at",
        at("cleared_at"),
    )
    reported_day = times["reported_at"].date()
    for i, person in enumerate(rec["persons"]):
        if "birth_date" in person:
            where = at(f"persons[{i}].birth_date")
            born = parse_date(person["birth_date"], where)
            require_order(born, reported_day, "is after the call was reported", where)
    if sum(1 for o in rec["officers"] if o.get("primary")) > 1:
        raise AdapterError("more than one officer is marked primary", at("officers"))
    badges = [o["badge"] for o in rec["officers"]]
    for i, badge in enumerate(badges):
        if badge in badges[:i]:
            raise AdapterError("this badge is listed twice", at(f"officers[{i}].badge"))
