"""The console's own reads of the placement tables: an agency's requests and a facility's asks.

Only these queries touch the session for the console's lists; everything else goes through the
services the API uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gateway.db.tables_placement import PlacementOfferRow, PlacementRequestRow

OPEN_STATES = ("requested", "received")


class ConsoleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def requests_of(self, agency: str, limit: int = 20) -> Sequence[PlacementRequestRow]:
        """The agency's latest placement requests, newest first."""
        stmt = (
            select(PlacementRequestRow)
            .where(PlacementRequestRow.requester == agency)
            .order_by(PlacementRequestRow.created_at.desc(), PlacementRequestRow.pk.desc())
            .limit(limit)
        )
        return self.session.scalars(stmt).all()

    def offers_to(
        self, org: str, limit: int = 50
    ) -> list[tuple[PlacementOfferRow, PlacementRequestRow]]:
        """The facility's asks, open ones first, then the latest answered, with their requests."""
        stmt = (
            select(PlacementOfferRow, PlacementRequestRow)
            .join(PlacementRequestRow, PlacementRequestRow.pk == PlacementOfferRow.request_pk)
            .where(PlacementOfferRow.org_id == org)
            .order_by(PlacementOfferRow.asked_at.desc(), PlacementOfferRow.pk.desc())
            .limit(limit)
        )
        rows = [(offer, req) for offer, req in self.session.execute(stmt).all()]
        rows.sort(key=lambda pair: pair[0].state not in OPEN_STATES)
        return rows

    def last_verification(self) -> Any:
        """The latest audit event recording a verification of the log (from the console)."""
        return self.session.execute(
            text(
                "SELECT recorded, what, username FROM audit_leaf WHERE what LIKE :w "
                "ORDER BY seq DESC LIMIT 1"
            ),
            {"w": "audit log verification%"},
        ).first()
