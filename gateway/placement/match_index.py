"""The in-process index of units the matcher searches, kept in step with the database cheaply.

On first use it loads every HealthcareService with the Organizations and Locations they name. On each
later use it asks for directory rows stamped at or after its watermark (an index range scan over
``(rtype, last_updated)`` that normally returns nothing), re-reads only rows whose version it has not
seen, and patches the :class:`~gateway.placement.match_snapshot.Snapshot` rows of the units they
affect. A write stamped before the watermark but committed after it was read (a slow transaction)
is caught by the look-back scan every ``late_seconds``, which reaches ``margin`` seconds behind the
watermark; every ``resync_seconds`` the count and version sum of all HealthcareServices are compared
with the index's own, and a difference reloads everything.

Nothing here is state another replica needs: each process builds its own index from the database.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection

from gateway.db.session import Database
from gateway.placement import directory
from gateway.placement.directory_repository import DirectoryRepository
from gateway.placement.match_response import WINDOW_SECONDS, median_response
from gateway.placement.match_snapshot import Snapshot, UnitRecord

MAX_PARENT_DEPTH = 4


@dataclass(slots=True)
class _Place:
    version: int
    lat: float | None
    lon: float | None
    parent: str | None
    live: bool


@dataclass(slots=True)
class _Org:
    version: int
    name: str
    active: bool


@dataclass(slots=True)
class _State:
    units: dict[str, tuple[int, dict[str, Any], str]] = field(default_factory=dict)  # id → ver, doc
    deleted_units: dict[str, int] = field(default_factory=dict)
    places: dict[str, _Place] = field(default_factory=dict)
    orgs: dict[str, _Org] = field(default_factory=dict)
    watermark: float = 0.0


def _ref_id(ref: Any, rtype: str) -> str | None:
    text = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(text, str) and text.startswith(f"{rtype}/"):
        return text.split("/")[1]
    return None


def _place(version: int, deleted: bool, content: str | None) -> _Place:
    if deleted or content is None:
        return _Place(version, None, None, None, False)
    doc = orjson.loads(content)
    pos = doc.get("position") or {}
    lat, lon = pos.get("latitude"), pos.get("longitude")
    ok = isinstance(lat, int | float) and isinstance(lon, int | float)
    return _Place(
        version,
        float(lat) if ok else None,
        float(lon) if ok else None,
        _ref_id(doc.get("partOf"), "Location"),
        doc.get("status", "active") != "inactive",
    )


def _org(version: int, deleted: bool, content: str | None) -> _Org:
    if deleted or content is None:
        return _Org(version, "", False)
    doc = orjson.loads(content)
    return _Org(version, str(doc.get("name") or ""), doc.get("active", True) is not False)


class UnitIndex:
    """Units as a :class:`Snapshot`, refreshed from ``db`` whenever :meth:`snapshot` is called.

    The request path runs one cheap query; the look-back, the resync and the response times run in
    a background thread (or synchronously through :meth:`maintain`), outside the request's way.
    """

    def __init__(
        self,
        db: Database,
        *,
        margin: float = 300.0,
        late_seconds: float = 2.0,
        resync_seconds: float = 60.0,
        response_ttl: float = 300.0,
        background: bool = True,
    ) -> None:
        self.db = db
        self.margin = margin
        self.late_seconds = late_seconds
        self.resync_seconds = resync_seconds
        self.response_ttl = response_ttl
        self.background = background
        self._lock = threading.Lock()
        self._state = _State()
        self._snap: Snapshot | None = None
        self._response: dict[str, float] = {}
        self._response_at = -math.inf
        self._late_at = self._resync_at = 0.0
        self._thread: threading.Thread | None = None
        self._conn: Connection | None = None
        self.reloads = 0  # full loads so far (tests and benchmarks read it)

    # ---- public -----------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The current snapshot, after catching up with rows stamped since the last look."""
        with self._lock:
            if self._snap is None:
                self._install(*self._load())
            else:
                self._catch_up()
            snap = self._snap
            idle = not (self._thread and self._thread.is_alive())
            if self.background and idle and self._due():
                self._thread = threading.Thread(
                    target=self._maintain_quietly, name="placement-index", daemon=True
                )
                self._thread.start()
        assert snap is not None
        return snap

    def maintain(self, *, force: bool = True) -> None:
        """Run the look-back, then the resync, then the response-time refresh (all, by default)."""
        now = time.monotonic()
        if force or now >= self._late_at:
            self._late_at = now + self.late_seconds
            with self.db.unit_of_work() as session:
                repo = DirectoryRepository(session)
                rows = repo.changed_since(self._state.watermark - self.margin)
                with self._lock:
                    self._apply(repo, rows)
        if force or now >= self._resync_at:
            self._resync_at = now + self.resync_seconds
            with self.db.unit_of_work() as session:
                theirs = DirectoryRepository(session).signature("HealthcareService")
            with self._lock:
                mine = self._tally()
            if theirs != mine:
                loaded = self._load()  # outside the lock: requests go on with the old snapshot
                with self._lock:
                    self._install(*loaded)
        if force or time.time() - self._response_at >= self.response_ttl:
            self.refresh_responses()

    def refresh_responses(self) -> None:
        """Recompute facilities' median response times now (normally every ``response_ttl``)."""
        now = time.time()
        self._response_at = now
        with self.db.unit_of_work() as session:
            rows = DirectoryRepository(session).task_versions(now - WINDOW_SECONDS)
        response = median_response(rows)
        with self._lock:
            self._response = response
            if self._snap is not None:
                self._snap = self._snap.with_response(response)

    def close(self) -> None:
        """Give back the connection the request path keeps (the index stays usable)."""
        with self._lock:
            self._drop_connection()

    def invalidate(self) -> None:
        """Forget everything; the next :meth:`snapshot` reloads from the database."""
        with self._lock:
            self._snap, self._state = None, _State()

    # ---- loading ----------------------------------------------------------------------------
    def _due(self) -> bool:
        now = time.monotonic()
        stale_responses = time.time() - self._response_at >= self.response_ttl
        return now >= self._late_at or now >= self._resync_at or stale_responses

    def _maintain_quietly(self) -> None:
        try:
            self.maintain(force=False)
        except Exception:  # the next due time tries again; requests keep the last snapshot
            return

    def _load(self) -> tuple[_State, Snapshot]:
        """Read every unit and what it names into a new state and snapshot (no lock needed)."""
        state = _State()
        with self.db.unit_of_work() as session:
            repo = DirectoryRepository(session)
            if self._response_at == -math.inf:
                self._response_at = time.time()
                self._response = median_response(
                    repo.task_versions(self._response_at - WINDOW_SECONDS)
                )
            for _, rid, version, deleted, ts, content in repo.current("HealthcareService"):
                state.watermark = max(state.watermark, ts)
                if deleted or content is None:
                    state.deleted_units[rid] = version
                else:
                    state.units[rid] = (version, orjson.loads(content), content)
            self._load_refs(repo, state, list(state.units))
        records = [self._record(state, uid) for uid in sorted(state.units)]
        return state, Snapshot.build(records, self._response)

    def _install(self, state: _State, snap: Snapshot) -> None:
        self._state, self._snap = state, snap
        self._resync_at = time.monotonic() + self.resync_seconds
        self._late_at = time.monotonic() + self.late_seconds
        self.reloads += 1

    def _tally(self) -> tuple[int, int]:
        """(rows, version sum) of the HealthcareServices the index knows, deleted ones included."""
        state = self._state
        return (
            len(state.units) + len(state.deleted_units),
            sum(v for v, _d, _c in state.units.values()) + sum(state.deleted_units.values()),
        )

    def _load_refs(self, repo: DirectoryRepository, state: _State, unit_ids: list[str]) -> None:
        """Load the Organizations and Locations (with their parents) the units name."""
        org_ids, loc_ids = set(), set()
        for uid in unit_ids:
            doc = state.units[uid][1]
            org = directory.facility_id(doc)
            if org is not None and org not in state.orgs:
                org_ids.add(org)
            for ref in doc.get("location") or ():
                loc = _ref_id(ref, "Location")
                if loc is not None and loc not in state.places:
                    loc_ids.add(loc)
        for _, rid, version, deleted, _ts, content in repo.current("Organization", sorted(org_ids)):
            state.orgs[rid] = _org(version, deleted, content)
        for _ in range(MAX_PARENT_DEPTH):
            if not loc_ids:
                break
            parents = set()
            for _, rid, version, deleted, _ts, content in repo.current("Location", sorted(loc_ids)):
                place = _place(version, deleted, content)
                state.places[rid] = place
                if place.parent and place.parent not in state.places:
                    parents.add(place.parent)
            loc_ids = parents

    def _position(self, state: _State, doc: dict[str, Any]) -> tuple[float | None, float | None]:
        for ref in doc.get("location") or ():
            loc = _ref_id(ref, "Location")
            for _ in range(MAX_PARENT_DEPTH):
                place = state.places.get(loc or "")
                if place is None:
                    break
                if place.lat is not None and place.live:
                    return place.lat, place.lon
                loc = place.parent
        return None, None

    def _record(self, state: _State, uid: str) -> UnitRecord:
        if uid not in state.units:
            return UnitRecord(
                uid, state.deleted_units.get(uid, 0), "{}", directory.UnitCriteria(), live=False
            )
        version, doc, content = state.units[uid]
        org_id = directory.facility_id(doc)
        org = state.orgs.get(org_id or "")
        lat, lon = self._position(state, doc)
        return UnitRecord(
            unit_id=uid,
            version=version,
            content=content,
            criteria=directory.read_criteria(doc),
            org_id=org_id,
            facility=org.name if org else "",
            lat=lat,
            lon=lon,
            facility_active=org is None or org.active,
        )

    # ---- catching up ------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """One query on a kept autocommit connection: no pool checkout, ping or transaction.

        SQLite connections are cheap to check out, and the engine opens every SQLite transaction
        with ``BEGIN IMMEDIATE`` (even in autocommit), so SQLite uses a short unit of work instead.
        """
        if self.db.engine.dialect.name == "sqlite":
            with self.db.unit_of_work() as session:
                repo = DirectoryRepository(session)
                self._apply(repo, repo.changed_since(self._state.watermark))
            return
        if self._conn is None:
            self._conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            repo = DirectoryRepository(self._conn)
            self._apply(repo, repo.changed_since(self._state.watermark))
        except Exception:
            self._drop_connection()  # a broken connection is replaced on the next request
            raise

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _apply(
        self, repo: DirectoryRepository, changed: list[tuple[str, str, int, bool, float]]
    ) -> None:
        """Re-read the rows among ``changed`` whose version is new and patch their units."""
        state = self._state
        units, places, orgs = [], [], []
        for rtype, rid, version, _deleted, ts in changed:
            state.watermark = max(state.watermark, ts)
            if rtype == "HealthcareService":
                known = state.units[rid][0] if rid in state.units else None
                if (known or state.deleted_units.get(rid)) != version:
                    units.append(rid)
            elif rtype == "Location" and rid in state.places:
                places += [rid] if state.places[rid].version != version else []
            elif rtype == "Organization" and rid in state.orgs:
                orgs += [rid] if state.orgs[rid].version != version else []
        if not (units or places or orgs):
            return
        for _, rid, version, deleted, _ts, content in repo.current("HealthcareService", units):
            if deleted or content is None:
                state.units.pop(rid, None)
                state.deleted_units[rid] = version
            else:
                state.deleted_units.pop(rid, None)
                state.units[rid] = (version, orjson.loads(content), content)
        for _, rid, version, deleted, _ts, content in repo.current("Location", places):
            state.places[rid] = _place(version, deleted, content)
        for _, rid, version, deleted, _ts, content in repo.current("Organization", orgs):
            state.orgs[rid] = _org(version, deleted, content)
        self._load_refs(repo, state, [u for u in units if u in state.units])
        affected = set(units)
        if places or orgs:
            affected |= self._dependants(state, set(places), set(orgs))
        assert self._snap is not None
        snap = self._snap
        records = [
            self._record(state, uid)
            for uid in sorted(affected)
            if uid in state.units or uid in snap.slots
        ]
        self._snap = snap.patched(records, self._response)

    def _dependants(self, state: _State, places: set[str], orgs: set[str]) -> set[str]:
        out = set()
        for uid, (_v, doc, _c) in state.units.items():
            if directory.facility_id(doc) in orgs:
                out.add(uid)
                continue
            for ref in doc.get("location") or ():
                loc = _ref_id(ref, "Location")
                for _ in range(MAX_PARENT_DEPTH):
                    if loc is None:
                        break
                    if loc in places:
                        out.add(uid)
                        break
                    place = state.places.get(loc)
                    loc = place.parent if place else None
        return out
