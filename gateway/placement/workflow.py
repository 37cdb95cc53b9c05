"""Opening a placement request and asking facilities (the broadcast), on one unit of work.

:class:`WorkflowBase` holds what every step needs (the resource service, the placement repository,
the outbox, the clock reading of this unit of work) and the notices each step raises. Opening a
request writes the ServiceRequest, the parent Task, one child Task per candidate unit, the workflow
rows and the outbox messages in the caller's transaction: all of it commits, or none of it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.auth.schemas import Caller
from gateway.db.tables_placement import PlacementOfferRow, PlacementRequestRow
from gateway.fhir.dates import BadDate, date_range
from gateway.fhir.errors import Conflict, Forbidden, InvalidRequest, NotFound
from gateway.fhir.service import ResourceService
from gateway.notify.outbox import Notice, Outbox
from gateway.notify.topics import NEW_PLACEMENT_TASK, PLACEMENT_STATUS
from gateway.placement import workflow_codes as codes
from gateway.placement.transitions import Phase
from gateway.placement.workflow_repository import PlacementRepository
from gateway.placement.workflow_sharing import profile_of, related
from gateway.placement.workflow_types import Candidate, Criteria, PlacementContext
from gateway.sharing.profile import agency_uri

Resource = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Opened:
    """What opening a request wrote."""

    service_request: Resource
    parent: Resource
    children: list[Resource]


class WorkflowBase:
    """Shared plumbing of the placement steps; never commits (the caller's unit of work does)."""

    def __init__(self, session: Session, ctx: PlacementContext, now: float | None = None) -> None:
        self.session = session
        self.ctx = ctx
        self.now = ctx.clock.now() if now is None else now
        self.svc = ResourceService(session, ctx.fhir_base, labeller=ctx.labeller)
        # Reference checks of everything this unit of work writes run once, in finish() (as for a
        # transaction Bundle): one query per referenced type instead of several per write.
        self.svc.deferred_refs = []
        self.repo = PlacementRepository(session)
        self.outbox = Outbox(session, ctx.fhir_base, self.now)
        self._related: dict[tuple[str, Any], tuple[Resource | None, list[Resource]]] = {}
        self._reduced: dict[tuple[str, Any], Resource] = {}

    # ---- resources ---------------------------------------------------------------------------
    def read(self, rtype: str, rid: str) -> Resource:
        stored = self.svc.read(rtype, rid)
        doc: Resource = orjson.loads(stored.content or "{}")
        return doc

    def write(self, doc: Resource, *, if_match: str | None = None) -> Resource:
        stored = self.svc.update(doc["resourceType"], doc["id"], doc, if_match=if_match)
        out: Resource = orjson.loads(stored.content or "{}")
        return out

    def create(
        self, doc: Resource, *, author: str | None = None, rid: str | None = None
    ) -> Resource:
        """Create ``doc``; ``author``: the agency it is written for (``meta.source``, which the
        sharing rules read as the resource's owner); ``rid``: an id a transaction assigned."""
        if author is not None:
            doc = {**doc, "meta": {**(doc.get("meta") or {}), "source": agency_uri(author)}}
        stored = self.svc.create(doc["resourceType"], doc, rid=rid)
        out: Resource = orjson.loads(stored.content or "{}")
        return out

    def lock(self, some_id: str) -> PlacementRequestRow:
        """The request named by a parent/child Task id or ServiceRequest id, locked."""
        pk = self.repo.request_pk_for(some_id)
        row = None if pk is None else self.repo.lock_request(pk)
        if row is None:
            raise NotFound(f"no placement request is known by {some_id}")
        return row

    # ---- notices -----------------------------------------------------------------------------
    def tell_requester(self, row: PlacementRequestRow, focus: Resource, *extra: Resource) -> None:
        self.outbox.publish(
            Notice(PLACEMENT_STATUS, row.requester, focus, (focus, *extra), tuple(extra))
        )

    def tell_facility(
        self, offer: PlacementOfferRow, child: Resource, service_request: Resource
    ) -> None:
        """Tell the facility about its child Task, with the request as far as it may see it.

        Before its acceptance: the reduced ServiceRequest (minimum necessary, ``ctx.reduce``);
        once it accepted: the clinical packet (ServiceRequest, Patient, Coverages).
        """
        patient, coverages = self.related(service_request)
        if offer.state == "accepted":
            packet = tuple(d for d in (service_request, patient, *coverages) if d is not None)
        else:
            key = _version_key(service_request)
            if key not in self._reduced:
                self._reduced[key] = self.ctx.reduce(service_request, patient, coverages, self.now)
            packet = (self._reduced[key],)
            child = {k: v for k, v in child.items() if k != "for"}  # not even the patient's id
        self.outbox.publish(
            Notice(NEW_PLACEMENT_TASK, offer.org_id, child, (child, *packet), packet)
        )

    def related(self, sr: Resource) -> tuple[Resource | None, list[Resource]]:
        """The Patient and Coverages ``sr`` refers to (read once per unit of work)."""
        key = _version_key(sr)
        if key not in self._related:
            self._related[key] = related(self.svc, sr)
        return self._related[key]

    def finish(self) -> None:
        """Check the deferred references, then write the outbox messages (call last)."""
        self.svc.finish_transaction()
        self.svc.deferred_refs = []
        self.outbox.flush()

    # ---- opening -----------------------------------------------------------------------------
    def open_request(
        self,
        caller: Caller,
        service_request: Resource,
        *,
        task: Resource | None = None,
        task_id: str | None = None,
        near: tuple[float, float] | None = None,
        n: int | None = None,
    ) -> Opened:
        """Store the request (ServiceRequest + parent Task) and ask the first candidates."""
        agency = requester_agency(caller)
        sr = self._service_request(agency, service_request)
        parent = self.create(
            codes.parent_task(task, sr, agency, self.now), author=agency, rid=task_id
        )
        patient, coverages = self.related(sr)
        profile = profile_of(sr, patient, coverages, self.now)
        hold = codes.extension_value(sr, codes.HOLD_EXPIRES_EXT)
        hold_at = _instant(hold, "ServiceRequest.extension") if hold else None
        near = near or self._location_of(sr)
        row = PlacementRequestRow(
            task_id=parent["id"],
            service_request_id=sr["id"],
            patient_id=codes.ref_id(sr.get("subject"), "Patient"),
            requester=agency,
            phase=Phase.OPEN,
            hold_expires_at=hold_at,
            hold_alert_at=None if hold_at is None else hold_at - self.ctx.config.hold_alert_seconds,
            criteria=orjson.dumps({"near": near, "n": n or self.ctx.config.top_n}).decode(),
            level_of_care=_short(profile["level_of_care"]),
            age_band=_short(profile["age_band"]),
            sex=_short(profile["sex"]),
            payer=_short(profile["payer"], 128),
            created_at=self.now,
            updated_at=self.now,
        )
        self.repo.add(row)
        children = self.ask(row, sr, parent, first=True)
        self.tell_requester(row, parent)
        self.finish()
        return Opened(sr, parent, children)

    def _service_request(self, agency: str, body: Resource) -> Resource:
        if not isinstance(body, dict) or body.get("resourceType") != "ServiceRequest":
            raise InvalidRequest("send a ServiceRequest resource", expression="resourceType")
        if codes.level_of_care(body) is None:
            raise InvalidRequest(
                "ServiceRequest.code must carry a bed type or level of care from "
                + " or ".join(codes.CARE_SYSTEMS),
                expression="ServiceRequest.code",
                code="required",
            )
        requester = codes.ref_id(body.get("requester"), "Organization")
        if body.get("requester") is not None and requester != agency:
            raise Forbidden(
                "ServiceRequest.requester must be your own agency's Organization",
                expression="ServiceRequest.requester",
            )
        rid = body.get("id")
        if rid and self.repo.request_pk_for(str(rid)) is not None:
            raise Conflict(f"ServiceRequest/{rid} already has a placement request")
        if rid and self.svc.repo.live_exists([("ServiceRequest", str(rid))]):
            # Stored already (the FHIR-native path): used as stored, and only by its requester.
            stored = self.read("ServiceRequest", str(rid))
            named = codes.ref_id(stored.get("requester"), "Organization")
            written_by = (stored.get("meta") or {}).get("source")
            if named != agency and (named is not None or written_by != agency_uri(agency)):
                raise Forbidden(
                    f"ServiceRequest/{rid} was not requested by your agency",
                    expression="ServiceRequest.requester",
                )
            return stored
        doc = copy.deepcopy(body)
        doc["requester"] = codes.ref("Organization", agency)
        doc.pop("id", None)
        return self.create(doc, author=agency)

    def _location_of(self, sr: Resource) -> tuple[float, float] | None:
        for item in sr.get("locationReference") or []:
            lid = codes.ref_id(item, "Location")
            if lid is None:
                continue
            try:
                position = self.read("Location", lid).get("position") or {}
            except (NotFound, InvalidRequest):
                continue
            if "latitude" in position and "longitude" in position:
                return float(position["latitude"]), float(position["longitude"])
        return None

    def criteria(self, row: PlacementRequestRow, sr: Resource) -> Criteria:
        stored = orjson.loads(row.criteria)
        near = stored.get("near")
        patient, coverages = self.related(sr)
        profile = profile_of(sr, patient, coverages, self.now)
        age = profile["age"]
        return Criteria(
            service_request=sr,
            level_of_care=row.level_of_care,
            age=age if isinstance(age, int) else None,
            sex=row.sex,
            payer=row.payer,
            near=(float(near[0]), float(near[1])) if near else None,
        )

    # ---- asking ------------------------------------------------------------------------------
    def ask(
        self, row: PlacementRequestRow, sr: Resource, parent: Resource, *, first: bool
    ) -> list[Resource]:
        """Ask the next best units not asked yet, widening the radius until some are found.

        The first ask starts at the smallest radius; a later one (escalation) asks the next best
        units within the radius reached so far and widens it step by step when none are left.
        Returns the child Tasks written (none when nobody else is within the widest radius).
        """
        config = self.ctx.config
        asked = (
            frozenset() if first else frozenset(o.unit_id for o in self.repo.offers(row.pk or 0))
        )
        n = int(orjson.loads(row.criteria).get("n") or config.top_n)
        criteria = self.criteria(row, sr)
        step = 0 if first else _step_of(config.radii_km, row.radius_km)
        found: list[Candidate] = []
        while True:
            found = self._candidates(criteria, n, config.radius(step), asked)
            if found or step >= len(config.radii_km) - 1:
                break
            step += 1
        if found and not first:
            row.wave += 1
        row.radius_km = config.radius(step)
        row.next_escalation_at = self.now + config.response_seconds
        row.updated_at = self.now
        respond_by = self.now + config.response_seconds
        children, offers = [], []
        for cand in found:
            child = self.create(
                codes.child_task(parent, cand.org_id, cand.unit_id, self.now, respond_by),
                author=row.requester,
            )
            offers.append(
                PlacementOfferRow(
                    request_pk=row.pk or 0,
                    task_id=child["id"],
                    org_id=cand.org_id,
                    unit_id=cand.unit_id,
                    wave=row.wave,
                    state="requested",
                    distance_km=cand.distance_km,
                    census_stale=cand.census_stale,
                    asked_at=self.now,
                )
            )
            children.append(child)
        self.repo.add_all(offers)
        for offer, child in zip(offers, children, strict=True):
            self.tell_facility(offer, child, sr)
        return children

    def _candidates(
        self, criteria: Criteria, n: int, max_km: float, asked: frozenset[str]
    ) -> list[Candidate]:
        out: list[Candidate] = []
        seen: set[str] = set(asked)
        for cand in self.ctx.candidates(self.session, criteria, n, max_km, asked):
            if cand.unit_id not in seen:
                seen.add(cand.unit_id)
                out.append(cand)
        return out[:n]


def requester_agency(caller: Caller) -> str:
    if not caller.agency:
        raise Forbidden("only a registered agency can request a placement")
    return caller.agency


def _instant(text: Any, where: str) -> float:
    try:
        return date_range(str(text))[0]
    except BadDate:
        raise InvalidRequest("a date-time such as 2025-03-14T06:30:00Z", expression=where) from None


def _step_of(radii: tuple[float, ...], radius: float | None) -> int:
    """The index of the widest radius step not beyond ``radius``."""
    steps = [i for i, r in enumerate(radii) if radius is not None and r <= radius]
    return steps[-1] if steps else 0


def _version_key(resource: Resource) -> tuple[str, Any]:
    return str(resource.get("id")), (resource.get("meta") or {}).get("versionId")


def _short(value: Any, size: int = 64) -> str | None:
    return None if value is None else str(value)[:size]
