"""One unit of work of the referral workflow: resources, the referral rows, the outbox.

The same engine as placement (``gateway/placement/workflow.py``): resources written through the
FHIR :class:`ResourceService` with the app's labeller, reference checks deferred to :meth:`finish`,
notices collected in the transactional :class:`Outbox` and written with the data. Never commits.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.db.tables_referral import ReferralRow
from gateway.fhir.errors import FhirError
from gateway.fhir.service import ResourceService
from gateway.notify.outbox import Notice, Outbox
from gateway.notify.topics import NEW_REFERRAL_TASK, REFERRAL_ESCALATION, REFERRAL_STATUS
from gateway.referral.repository import ReferralRepository
from gateway.referral.types import ReferralContext
from gateway.sharing.profile import agency_uri

Resource = dict[str, Any]


class ReferralUnit:
    """Shared plumbing of the referral steps."""

    def __init__(self, session: Session, ctx: ReferralContext, now: float | None = None) -> None:
        self.session = session
        self.ctx = ctx
        self.now = ctx.clock.now() if now is None else now
        self.svc = ResourceService(session, ctx.fhir_base, labeller=ctx.labeller)
        self.svc.deferred_refs = []
        self.repo = ReferralRepository(session)
        self.outbox = Outbox(session, ctx.fhir_base, self.now)

    # ---- resources ---------------------------------------------------------------------------
    def read(self, rtype: str, rid: str) -> Resource:
        stored = self.svc.read(rtype, rid)
        doc: Resource = orjson.loads(stored.content or "{}")
        return doc

    def find(self, rtype: str, rid: str) -> Resource | None:
        """``rtype/rid`` if it exists (and is not deleted), else None."""
        try:
            return self.read(rtype, rid)
        except FhirError:
            return None

    def write(self, doc: Resource) -> Resource:
        stored = self.svc.update(doc["resourceType"], doc["id"], doc)
        out: Resource = orjson.loads(stored.content or "{}")
        return out

    def create(
        self, doc: Resource, *, author: str | None = None, rid: str | None = None
    ) -> Resource:
        """Create ``doc`` held by ``author`` (``meta.source``: whom the sharing rules see as owner)."""
        if author is not None:
            doc = {**doc, "meta": {**(doc.get("meta") or {}), "source": agency_uri(author)}}
        stored = self.svc.create(doc["resourceType"], doc, rid=rid)
        out: Resource = orjson.loads(stored.content or "{}")
        return out

    # ---- notices -----------------------------------------------------------------------------
    def tell_referrer(self, row: ReferralRow, task: Resource, *extra: Resource) -> None:
        self.outbox.publish(
            Notice(REFERRAL_STATUS, row.referrer, task, (task, *extra), tuple(extra))
        )

    def tell_receiver(self, row: ReferralRow, task: Resource, *extra: Resource) -> None:
        if row.receiver:
            self.outbox.publish(
                Notice(NEW_REFERRAL_TASK, row.receiver, task, (task, *extra), tuple(extra))
            )

    def tell_supervisor(self, row: ReferralRow, alert: Resource, task: Resource) -> None:
        if row.receiver:
            self.outbox.publish(
                Notice(REFERRAL_ESCALATION, row.receiver, alert, (alert, task), (task,))
            )

    def finish(self) -> None:
        """Check the deferred references, then write the outbox messages (call last)."""
        self.svc.finish_transaction()
        self.svc.deferred_refs = []
        self.outbox.flush()
