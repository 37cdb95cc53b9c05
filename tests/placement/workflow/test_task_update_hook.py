"""FHIR updates of placement Tasks go through the workflow hook: every illegal transition, every
wrong-owner update and every change to a protected element is refused, on the real tables."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from gateway.db.session import Database
from gateway.fhir.errors import FhirError
from gateway.placement import workflow_hooks as hooks
from gateway.placement.transitions import PHASE_TASK, REQUEST_RULES, Actor, Phase
from gateway.placement.workflow_codes import BUSINESS_STATUS_SYSTEM, CLOSE_REASON_SYSTEM
from gateway.placement.workflow_types import PlacementContext
from gateway.placement.workflow_updates import PlacementWorkflow
from tests.placement.workflow.support import ORIGIN, REQUESTER, caller, read, run, service_request

Resource = dict[str, Any]
PATH = [Phase.RESERVED, Phase.TRANSPORT, Phase.EN_ROUTE, Phase.ARRIVED, Phase.COMPLETED]
WHO = {Actor.REQUESTER: REQUESTER, Actor.FACILITY: "org-f1"}


def open_one(db: Database, ctx: PlacementContext) -> tuple[str, list[str]]:
    opened = run(
        db, ctx, lambda wf: wf.open_request(caller(REQUESTER), service_request(), near=ORIGIN)
    )
    return opened.parent["id"], [c["id"] for c in opened.children]


def put(db: Database, ctx: PlacementContext, who: str, task: Resource, **kw: Any) -> Resource:
    def step(wf: PlacementWorkflow) -> Resource:
        stored = hooks.on_task_update(wf.session, ctx, caller(who), task["id"], task, **kw)
        assert stored is not None
        return read_stored(stored.content)

    return run(db, ctx, step)


def read_stored(content: str | None) -> Resource:
    import orjson

    return orjson.loads(content or "{}")


def shows(task: Resource, phase: Phase, reason: bool = True) -> Resource:
    out = copy.deepcopy(task)
    status, business = PHASE_TASK[phase]
    out["status"] = status
    out.pop("businessStatus", None)
    if business:
        out["businessStatus"] = {"coding": [{"system": BUSINESS_STATUS_SYSTEM, "code": business}]}
    if reason and phase in (Phase.CANCELLED, Phase.FAILED):
        out["statusReason"] = {"coding": [{"system": CLOSE_REASON_SYSTEM, "code": "test"}]}
    return out


def drive(db: Database, ctx: PlacementContext, target: Phase) -> tuple[str, str]:
    """A request in ``target`` (the accepted child is org-f1's); returns (parent id, child id)."""
    parent, children = open_one(db, ctx)
    child = children[0]
    if target == Phase.OPEN:
        return parent, child
    if target == Phase.CANCELLED:
        put(db, ctx, REQUESTER, shows(read(db, "Task", parent), Phase.CANCELLED))
        return parent, child
    accepted = read(db, "Task", child)
    accepted["status"] = "accepted"
    accepted["output"] = [
        {
            "type": {
                "coding": [{"system": "urn:crisis-exchange:placement", "code": "reserved-bed"}]
            },
            "valueString": "bed 4",
        }
    ]
    put(db, ctx, "org-f1", accepted)
    moves = {
        Phase.TRANSPORT: REQUESTER,
        Phase.EN_ROUTE: REQUESTER,
        Phase.ARRIVED: REQUESTER,
        Phase.COMPLETED: "org-f1",
    }
    if target == Phase.FAILED:
        put(db, ctx, REQUESTER, shows(read(db, "Task", parent), Phase.FAILED))
        return parent, child
    for phase in PATH[1 : PATH.index(target) + 1]:
        who = moves[phase]
        task_id = parent if who == REQUESTER else child
        put(db, ctx, who, shows(read(db, "Task", task_id), phase))
    return parent, child


@pytest.mark.parametrize("current", list(Phase))
def test_every_transition_not_in_the_table_is_refused(
    seeded: Database, ctx: PlacementContext, current: Phase
) -> None:
    parent, child = drive(seeded, ctx, current)
    before = (read(seeded, "Task", parent), read(seeded, "Task", child))
    accepted = current not in (Phase.OPEN, Phase.CANCELLED)
    for wanted, actor in itertools.product(Phase, (Actor.REQUESTER, Actor.FACILITY)):
        if wanted == current or actor in REQUEST_RULES.get((current, wanted), frozenset()):
            continue
        if actor == Actor.FACILITY and not accepted:
            continue  # before acceptance the child Task is an offer (tested below)
        task_id = parent if actor == Actor.REQUESTER else child
        with pytest.raises(FhirError) as info:
            put(seeded, ctx, WHO[actor], shows(read(seeded, "Task", task_id), wanted))
        assert info.value.status == 409, (current, wanted, actor, info.value.diagnostics)
    assert (read(seeded, "Task", parent), read(seeded, "Task", child)) == before


@pytest.mark.parametrize(
    ("current", "wanted", "actor"),
    [
        (frm, to, actor)
        for (frm, to), actors in REQUEST_RULES.items()
        for actor in (Actor.REQUESTER, Actor.FACILITY)
        if actor in actors and frm != Phase.OPEN
    ],
)
def test_every_transition_in_the_table_is_allowed_over_fhir(
    seeded: Database, ctx: PlacementContext, current: Phase, wanted: Phase, actor: Actor
) -> None:
    parent, child = drive(seeded, ctx, current)
    task_id = parent if actor == Actor.REQUESTER else child
    put(seeded, ctx, WHO[actor], shows(read(seeded, "Task", task_id), wanted))
    for task in (read(seeded, "Task", parent), read(seeded, "Task", child)):
        assert (
            task["status"],
            (task.get("businessStatus") or {}).get("coding", [{}])[0].get("code"),
        ) == PHASE_TASK[wanted]


def test_wrong_owner_and_protected_elements(seeded: Database, ctx: PlacementContext) -> None:
    parent, children = open_one(seeded, ctx)
    mine = read(seeded, "Task", children[0])
    received = {**mine, "status": "received"}
    for who in ("org-f2", REQUESTER, "nobody"):
        with pytest.raises(FhirError) as info:
            put(seeded, ctx, who, received)
        assert info.value.status == 403
    with pytest.raises(FhirError) as info:
        put(seeded, ctx, "org-f1", {**read(seeded, "Task", parent), "status": "cancelled"})
    assert info.value.status == 403
    for key, value in (
        ("owner", {"reference": "Organization/org-f2"}),
        ("focus", {"reference": "ServiceRequest/other"}),
        ("partOf", []),
        ("for", {"reference": "Patient/someone-else"}),
    ):
        with pytest.raises(FhirError) as info:
            put(seeded, ctx, "org-f1", {**received, key: value})
        assert info.value.status == 409 and key in info.value.diagnostics
    got = put(seeded, ctx, "org-f1", {**received, "note": [{"text": "looking at it"}]})
    assert got["status"] == "received" and got["note"] == [{"text": "looking at it"}]


def test_patch_and_if_match(seeded: Database, ctx: PlacementContext) -> None:
    _, children = open_one(seeded, ctx)

    def patch(ops: list[Resource], if_match: str | None = None) -> Resource:
        def step(wf: PlacementWorkflow) -> Resource:
            stored = hooks.on_task_patch(
                wf.session, ctx, caller("org-f1"), children[0], ops, if_match
            )
            assert stored is not None
            return read_stored(stored.content)

        return run(seeded, ctx, step)

    with pytest.raises(FhirError) as info:
        patch([{"op": "replace", "path": "/status", "value": "received"}], 'W/"9"')
    assert info.value.status == 412
    got = patch([{"op": "replace", "path": "/status", "value": "received"}], 'W/"1"')
    assert got["status"] == "received"
    with pytest.raises(FhirError) as info:
        patch([{"op": "replace", "path": "/status", "value": "completed"}])
    assert info.value.status == 409


def test_fhir_created_parent_task_opens_a_request(seeded: Database, ctx: PlacementContext) -> None:
    sr_body = {**service_request(), "requester": {"reference": f"Organization/{REQUESTER}"}}

    def create_sr(wf: PlacementWorkflow) -> Resource:
        return wf.create(sr_body)

    sr = run(seeded, ctx, create_sr)
    task = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]
        },
        "focus": {"reference": f"ServiceRequest/{sr['id']}"},
        "note": [{"text": "from the EHR"}],
    }

    def create(wf: PlacementWorkflow, body: Resource, who: str = REQUESTER) -> Any:
        return hooks.on_task_create(wf.session, ctx, caller(who), body)

    with pytest.raises(FhirError) as info:
        run(seeded, ctx, lambda wf: create(wf, task, "hosp-b"))
    assert info.value.status == 403
    stored = run(seeded, ctx, lambda wf: create(wf, task))
    assert stored is not None and stored.created
    parent = read_stored(stored.content)
    assert parent["note"] == [{"text": "from the EHR"}]
    summary = run(seeded, ctx, lambda wf: wf.summary(caller(REQUESTER), parent["id"]))
    assert summary["phase"] == "open" and len(summary["offers"]) == 2  # the SR named no place: 0 km
    hand_made = {**task, "partOf": [{"reference": f"Task/{parent['id']}"}]}
    with pytest.raises(FhirError) as info:
        run(seeded, ctx, lambda wf: create(wf, hand_made))
    assert info.value.status == 409
    plain = {**task, "focus": None}
    assert run(seeded, ctx, lambda wf: create(wf, plain)) is None
    with pytest.raises(FhirError) as info:
        run(seeded, ctx, lambda wf: hooks.on_task_delete(wf.session, parent["id"]))
    assert info.value.status == 409
    assert (
        run(
            seeded,
            ctx,
            lambda wf: hooks.on_task_update(wf.session, ctx, caller(REQUESTER), "x", {}),
        )
        is None
    )


TASK_STATUSES = (
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "cancelled",
    "in-progress",
    "on-hold",
    "failed",
    "completed",
    "entered-in-error",
)
OFFER_ALLOWED = {
    ("requested", "received"),
    ("requested", "accepted"),
    ("requested", "rejected"),
    ("received", "accepted"),
    ("received", "rejected"),
    ("requested", "requested"),  # a note, no transition
    ("received", "received"),
}


@pytest.mark.parametrize("state", ["requested", "received", "rejected", "cancelled"])
def test_every_offer_status_change_not_in_the_table_is_refused(
    seeded: Database, ctx: PlacementContext, state: str
) -> None:
    _, children = open_one(seeded, ctx)
    mine, other = children
    if state != "requested":
        put(seeded, ctx, "org-f1", {**read(seeded, "Task", mine), "status": "received"})
    if state == "rejected":
        decline = {
            "coding": [{"system": "urn:crisis-exchange:placement-decline-reason", "code": "payer"}]
        }
        put(
            seeded,
            ctx,
            "org-f1",
            {**read(seeded, "Task", mine), "status": "rejected", "statusReason": decline},
        )
    if state == "cancelled":  # the other facility wins
        won = read(seeded, "Task", other)
        won["status"] = "accepted"
        won["output"] = [
            {
                "type": {
                    "coding": [{"system": "urn:crisis-exchange:placement", "code": "reserved-bed"}]
                },
                "valueString": "bed 9",
            }
        ]
        put(seeded, ctx, "org-f2", won)
    before = read(seeded, "Task", mine)
    assert before["status"] == state
    for status in TASK_STATUSES:
        if (state, status) in OFFER_ALLOWED:
            continue
        with pytest.raises(FhirError) as info:
            put(seeded, ctx, "org-f1", {**before, "status": status})
        assert info.value.status == 409, (state, status, info.value.diagnostics)
    assert read(seeded, "Task", mine) == before
