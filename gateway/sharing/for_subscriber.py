"""The policy enforcement point outside a request: a subscription's owner, at delivery time.

A FHIR request gets its :class:`SharingGuard` from the access token (``gateway.app.guard_factory``).
A notification is sent by a background worker long after the token that created the subscription
expired, so its guard is built from the identity stored with the subscription, with the agency's
kind from the registry and the agreements the gateway runs under, and with the facts (consents,
relations, placements) as they are at the moment of sending. It never breaks the glass: nobody
states a reason at delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from gateway.auth.repository import AuthRepository
from gateway.auth.schemas import Caller
from gateway.sharing.guard import SharingGuard
from policies.agreements import AgreementSet


def load_agreements(path: Path | None) -> AgreementSet:
    """The agreements the gateway decides with: ``GATEWAY_AGREEMENTS_FILE``, else the example."""
    return AgreementSet.load(path) if path else AgreementSet.load()


@dataclass(frozen=True, slots=True)
class SubscriberGuards:
    """Builds a guard for a subscriber; one per delivery worker (the agreements are read once)."""

    agreements: AgreementSet | None

    @classmethod
    def load(cls, path: Path | None = None) -> SubscriberGuards:
        return cls(load_agreements(path))

    def guard(self, session: Session, subscriber: Caller) -> SharingGuard:
        """A fresh guard (no cached facts) deciding for ``subscriber`` on ``session``."""
        kind = None
        if subscriber.agency:
            row = AuthRepository(session).agency(subscriber.agency)
            kind = row.kind if row is not None else None
        return SharingGuard(session, subscriber, agency_kind=kind, agreements=self.agreements)
