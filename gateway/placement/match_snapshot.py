"""Column arrays of every unit, for vectorised matching: one immutable :class:`Snapshot`.

A :class:`UnitRecord` (one HealthcareService with its facility and coordinates resolved) becomes one
row: scalar columns (numpy arrays) and set-valued columns (one boolean mask per code). A snapshot is
never changed in place: :meth:`Snapshot.patched` returns a new one with some rows replaced or added,
so a request keeps the snapshot it started with while another request refreshes the index.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.placement import profiles as p
from gateway.placement.directory import UnitCriteria

SECURITY_RANK = {code: i for i, code in enumerate(p.SECURITY_LEVELS)}
ACUITY_RANK = {code: i for i, code in enumerate(p.ACUITY_LEVELS)}


@dataclass(frozen=True, slots=True)
class UnitRecord:
    """One unit as the matcher sees it."""

    unit_id: str
    version: int
    content: str
    criteria: UnitCriteria
    org_id: str | None = None
    facility: str = ""
    lat: float | None = None
    lon: float | None = None
    live: bool = True  # False once the HealthcareService is deleted
    facility_active: bool = True


def _tri(value: bool | None) -> int:
    return -1 if value is None else int(value)


def _scalars(r: UnitRecord) -> dict[str, Any]:
    c = r.criteria
    low, high = c.effective_ages
    census = c.census
    return {
        "live": r.live,
        "active": r.live and c.active and r.facility_active,
        "lat": math.nan if r.lat is None else r.lat,
        "lon": math.nan if r.lon is None else r.lon,
        "age_lo": float(low),
        "age_hi": math.inf if high is None else float(high),
        "age_stated": c.age_stated,
        "sex_stated": c.sexes is not None,
        "payer_stated": c.payers is not None,
        "involuntary": _tri(c.accepts_involuntary),
        "aggression": _tri(c.accepts_aggression),
        "clearance": _tri(c.requires_clearance),
        "security": SECURITY_RANK.get(c.security_level or "open", 0),
        "acuity": ACUITY_RANK.get(c.medical_acuity or "low", 0),
        "free": -1 if census is None else census.free,
        "total": -1 if census is None or census.total is None else census.total,
        "as_of": math.nan if census is None or census.as_of is None else census.as_of,
        "cadence": c.cadence,
    }


_DTYPES: dict[str, Any] = {
    "live": np.bool_,
    "active": np.bool_,
    "lat": np.float64,
    "lon": np.float64,
    "age_lo": np.float64,
    "age_hi": np.float64,
    "age_stated": np.bool_,
    "sex_stated": np.bool_,
    "payer_stated": np.bool_,
    "involuntary": np.int8,
    "aggression": np.int8,
    "clearance": np.int8,
    "security": np.int8,
    "acuity": np.int8,
    "free": np.int32,
    "total": np.int32,
    "as_of": np.float64,
    "cadence": np.float64,
}

SETS: dict[str, Callable[[UnitCriteria], frozenset[str] | tuple[str, ...]]] = {
    "bed_type": lambda c: c.bed_types,
    "level": lambda c: c.effective_levels,
    "sex": lambda c: c.sexes or frozenset(),
    "payer": lambda c: c.payers or frozenset(),
    "specialty": lambda c: c.specialties,
    "language": lambda c: c.effective_languages,
}


@dataclass(frozen=True)
class Snapshot:
    """All units as columns; row ``i`` of every column is ``records[i]``."""

    records: tuple[UnitRecord, ...] = ()
    cols: dict[str, NDArray[Any]] = field(default_factory=dict)
    masks: dict[str, dict[str, NDArray[np.bool_]]] = field(default_factory=dict)
    response: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    id_rank: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    slots: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)

    def col(self, name: str) -> NDArray[Any]:
        return self.cols[name]

    def mask(self, column: str, code: str) -> NDArray[np.bool_]:
        """Rows whose set column holds ``code`` (all False when no row does)."""
        found = self.masks[column].get(code)
        return found if found is not None else np.zeros(len(self.records), dtype=np.bool_)

    # ---- building -------------------------------------------------------------------------------
    @classmethod
    def build(
        cls, records: Sequence[UnitRecord], response: dict[str, float] | None = None
    ) -> Snapshot:
        """A snapshot of ``records`` with per-facility median response seconds."""
        rows = [_scalars(r) for r in records]
        cols = {
            name: np.array([row[name] for row in rows], dtype=dtype)
            for name, dtype in _DTYPES.items()
        }
        masks: dict[str, dict[str, NDArray[np.bool_]]] = {}
        n = len(records)
        for name, getter in SETS.items():
            by_code: dict[str, list[int]] = {}
            for i, r in enumerate(records):
                for code in getter(r.criteria):
                    by_code.setdefault(code, []).append(i)
            column: dict[str, NDArray[np.bool_]] = {}
            for code, idx in by_code.items():
                arr = np.zeros(n, dtype=np.bool_)
                arr[idx] = True
                column[code] = arr
            masks[name] = column
        return cls._finish(tuple(records), cols, masks, response or {})

    @classmethod
    def _finish(
        cls,
        records: tuple[UnitRecord, ...],
        cols: dict[str, NDArray[Any]],
        masks: dict[str, dict[str, NDArray[np.bool_]]],
        response: dict[str, float],
    ) -> Snapshot:
        _derive(cols)
        order = sorted(range(len(records)), key=lambda i: records[i].unit_id)
        rank = np.empty(len(records), dtype=np.int64)
        rank[order] = np.arange(len(records))
        resp = np.array([response.get(r.org_id or "", math.nan) for r in records], dtype=np.float64)
        slots = {r.unit_id: i for i, r in enumerate(records)}
        return cls(records, cols, masks, resp, rank, slots)

    def with_response(self, response: dict[str, float]) -> Snapshot:
        """The same units with new median response times (seconds, by facility id)."""
        resp = np.array(
            [response.get(r.org_id or "", math.nan) for r in self.records], dtype=np.float64
        )
        return replace(self, response=resp)

    def patched(self, changed: Sequence[UnitRecord], response: dict[str, float]) -> Snapshot:
        """A new snapshot with ``changed`` records replacing their rows (new ids appended)."""
        if not changed:
            return self
        records = list(self.records)
        new = [r for r in changed if r.unit_id not in self.slots]
        if new or len(changed) > max(64, len(records) // 4):
            for r in changed:
                if r.unit_id in self.slots:
                    records[self.slots[r.unit_id]] = r
            return Snapshot.build(records + new, response)
        cols = {name: self.cols[name].copy() for name in _DTYPES}
        masks = {name: dict(column) for name, column in self.masks.items()}
        resp = self.response.copy()
        copied: set[tuple[str, str]] = set()
        n = len(records)
        for r in changed:
            i = self.slots[r.unit_id]
            records[i] = r
            resp[i] = response.get(r.org_id or "", math.nan)
            for name, value in _scalars(r).items():
                cols[name][i] = value
            for name, getter in SETS.items():
                codes = set(getter(r.criteria))
                column = masks[name]
                for code in set(column) | codes:
                    if (name, code) not in copied:
                        column[code] = (
                            column[code].copy() if code in column else np.zeros(n, dtype=np.bool_)
                        )
                        copied.add((name, code))
                    column[code][i] = code in codes
        _derive(cols)
        return Snapshot(tuple(records), cols, masks, resp, self.id_rank, self.slots)


def _derive(cols: dict[str, NDArray[Any]]) -> None:
    """Columns computed from others once per snapshot (radians for the haversine)."""
    cols["lat_r"] = np.radians(cols["lat"])
    cols["lon_r"] = np.radians(cols["lon"])
    cols["cos_lat"] = np.cos(cols["lat_r"])
