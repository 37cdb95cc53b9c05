"""All SQL of the placement workflow: request and offer rows, bed counters and holds.

Locks: a transition first locks its ``placement_request`` row (``FOR UPDATE``; SQLite's
``BEGIN IMMEDIATE`` already serialises writers); the timers claim due rows with ``FOR UPDATE SKIP
LOCKED`` so several gateway processes never work the same request at once. Lock order everywhere:
request row → bed counter → resource rows → subscription counters.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from gateway.db.tables_placement import (
    PlacementBedHoldRow,
    PlacementOfferRow,
    PlacementRequestRow,
    PlacementUnitBedsRow,
)
from gateway.placement.transitions import Phase

_ACTIVE = (Phase.OPEN, Phase.RESERVED, Phase.TRANSPORT, Phase.EN_ROUTE, Phase.ARRIVED)


class BedResult(StrEnum):
    TAKEN = "taken"  # the counter went down by one
    NONE_LEFT = "none-left"  # the counter is at zero
    UNTRACKED = "untracked"  # no counter for this unit: nothing to take


class PlacementRepository:
    """Queries over the placement tables on one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---- requests and offers ------------------------------------------------------------------
    def add(self, row: PlacementRequestRow | PlacementOfferRow | PlacementBedHoldRow) -> None:
        self.session.add(row)
        self.session.flush()

    def add_all(self, rows: Sequence[PlacementOfferRow]) -> None:
        self.session.add_all(rows)
        self.session.flush()

    def request_pk_for_task(self, task_id: str) -> int | None:
        """The request a parent or child Task belongs to (no lock)."""
        pk = self.session.execute(
            select(PlacementRequestRow.pk).where(PlacementRequestRow.task_id == task_id)
        ).scalar_one_or_none()
        if pk is None:
            pk = self.session.execute(
                select(PlacementOfferRow.request_pk).where(PlacementOfferRow.task_id == task_id)
            ).scalar_one_or_none()
        return pk

    def request_pk_for(self, some_id: str) -> int | None:
        """The request named by its parent Task id or its ServiceRequest id."""
        pk = self.request_pk_for_task(some_id)
        if pk is None:
            pk = self.session.execute(
                select(PlacementRequestRow.pk)
                .where(PlacementRequestRow.service_request_id == some_id)
                .order_by(PlacementRequestRow.pk.desc())
                .limit(1)
            ).scalar_one_or_none()
        return pk

    def lock_request(self, pk: int) -> PlacementRequestRow | None:
        """The request row, locked until the transaction ends (re-read, never a cached copy)."""
        stmt = (
            select(PlacementRequestRow)
            .where(PlacementRequestRow.pk == pk)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def offers(self, request_pk: int) -> list[PlacementOfferRow]:
        stmt = (
            select(PlacementOfferRow)
            .where(PlacementOfferRow.request_pk == request_pk)
            .order_by(PlacementOfferRow.pk)
            .execution_options(populate_existing=True)
        )
        return list(self.session.execute(stmt).scalars())

    def offer_for_task(self, task_id: str) -> PlacementOfferRow | None:
        stmt = (
            select(PlacementOfferRow)
            .where(PlacementOfferRow.task_id == task_id)
            .execution_options(populate_existing=True)
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def is_placement_task(self, task_id: str) -> bool:
        return self.request_pk_for_task(task_id) is not None

    # ---- beds ----------------------------------------------------------------------------------
    def take_bed(self, unit_id: str, now: float) -> BedResult:
        """Take one free bed of ``unit_id`` if there is one; never lets the counter below zero."""
        result = self.session.execute(
            update(PlacementUnitBedsRow)
            .where(PlacementUnitBedsRow.unit_id == unit_id, PlacementUnitBedsRow.free > 0)
            .values(free=PlacementUnitBedsRow.free - 1, updated_at=now)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return BedResult.TAKEN
        exists = self.session.execute(
            select(PlacementUnitBedsRow.unit_id).where(PlacementUnitBedsRow.unit_id == unit_id)
        ).first()
        return BedResult.NONE_LEFT if exists else BedResult.UNTRACKED

    def give_back_bed(self, unit_id: str, now: float) -> None:
        self.session.execute(
            update(PlacementUnitBedsRow)
            .where(PlacementUnitBedsRow.unit_id == unit_id)
            .values(free=PlacementUnitBedsRow.free + 1, updated_at=now)
        )

    def free_beds(self, unit_id: str) -> int | None:
        return self.session.execute(
            select(PlacementUnitBedsRow.free).where(PlacementUnitBedsRow.unit_id == unit_id)
        ).scalar_one_or_none()

    def set_free_beds(
        self,
        unit_id: str,
        org_id: str,
        free: int,
        now: float,
        *,
        reported_free: int | None = None,
        reported_at: float | None = None,
    ) -> None:
        row = self.session.execute(
            select(PlacementUnitBedsRow)
            .where(PlacementUnitBedsRow.unit_id == unit_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one_or_none()
        if row is None:
            row = PlacementUnitBedsRow(unit_id=unit_id, org_id=org_id, free=free, updated_at=now)
            self.session.add(row)
        row.org_id, row.free, row.updated_at = org_id, max(free, 0), now
        if reported_at is not None:
            row.reported_free, row.reported_at = reported_free, reported_at
        self.session.flush()

    def holds_since(self, unit_id: str, since: float) -> int:
        """Beds of ``unit_id`` still held by acceptances made after ``since``."""
        count = self.session.execute(
            select(func.count())
            .select_from(PlacementBedHoldRow)
            .where(
                PlacementBedHoldRow.unit_id == unit_id,
                PlacementBedHoldRow.state == "held",
                PlacementBedHoldRow.tracked.is_(True),  # type: ignore[attr-defined]
                PlacementBedHoldRow.created_at > since,
            )
        ).scalar_one()
        return int(count)

    def hold_for(self, request_pk: int) -> PlacementBedHoldRow | None:
        stmt = (
            select(PlacementBedHoldRow)
            .where(PlacementBedHoldRow.request_pk == request_pk)
            .execution_options(populate_existing=True)
        )
        return self.session.execute(stmt).scalar_one_or_none()

    # ---- timers --------------------------------------------------------------------------------
    def _due(self, condition: object, limit: int) -> Sequence[PlacementRequestRow]:
        stmt = (
            select(PlacementRequestRow)
            .where(condition)  # type: ignore[arg-type]
            .order_by(PlacementRequestRow.pk)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return list(self.session.execute(stmt).scalars())

    def due_escalations(self, now: float, limit: int) -> Sequence[PlacementRequestRow]:
        return self._due(
            and_(
                PlacementRequestRow.phase == Phase.OPEN,
                PlacementRequestRow.next_escalation_at <= now,
            ),
            limit,
        )

    def due_alerts(self, now: float, limit: int) -> Sequence[PlacementRequestRow]:
        return self._due(
            and_(
                PlacementRequestRow.phase.in_([p.value for p in _ACTIVE]),  # type: ignore[attr-defined]
                PlacementRequestRow.hold_alert_at <= now,
            ),
            limit,
        )

    def due_bed_releases(self, now: float, limit: int) -> Sequence[PlacementRequestRow]:
        expired = (
            select(PlacementBedHoldRow.request_pk)
            .where(PlacementBedHoldRow.state == "held", PlacementBedHoldRow.expires_at <= now)
            .scalar_subquery()
        )
        return self._due(
            and_(
                PlacementRequestRow.pk.in_(expired),  # type: ignore[union-attr]
                or_(
                    PlacementRequestRow.phase == Phase.RESERVED,
                    PlacementRequestRow.phase == Phase.TRANSPORT,
                    PlacementRequestRow.phase == Phase.EN_ROUTE,
                ),
            ),
            limit,
        )
