"""Wiring the placement workflow and notifications into an app.

What ``create_app`` needs (the lead adds it there; tests call :func:`install` on a built app)::

    from gateway.placement.workflow_setup import install, workers
    install(app, candidates=matcher)        # app.state.placement, /placement and /notify, write hooks
    # in the lifespan:
    running = workers(app); [w.start() for w in running]; yield; [await w.stop() for w in running]
"""

from __future__ import annotations

from typing import Any

from gateway.notify.endpoints import router as notify_router
from gateway.notify.fhir_hooks import install_subscription_hooks
from gateway.notify.worker import PeriodicWorker, notify_worker
from gateway.placement.escalation import placement_worker
from gateway.placement.fhir_hooks import install_task_hooks
from gateway.placement.workflow_endpoints import router as placement_router
from gateway.placement.workflow_types import (
    CandidateFinder,
    Clock,
    PlacementContext,
    SystemClock,
    WorkflowConfig,
    no_candidates,
)


def install(
    app: Any,
    *,
    candidates: CandidateFinder | None = None,
    config: WorkflowConfig | None = None,
    clock: Clock | None = None,
    routers: bool = True,
) -> PlacementContext:
    """Put a :class:`PlacementContext` on ``app.state.placement`` and include the routers."""
    state = app.state
    ctx = PlacementContext(
        fhir_base=state.settings.fhir_base,
        candidates=candidates or no_candidates,
        config=config or WorkflowConfig.from_env(),
        clock=clock or SystemClock(),
        labeller=getattr(state, "labeller", None),
    )
    state.placement = ctx
    install_task_hooks(app)  # FHIR writes of placement Tasks go through the workflow
    install_subscription_hooks(app)  # POST /fhir/Subscription as POST /notify/subscriptions
    if routers:
        app.include_router(placement_router)
        app.include_router(notify_router)
    return ctx


def workers(
    app: Any, *, delivery_interval: float = 1.0, timers_interval: float = 5.0
) -> list[PeriodicWorker]:
    """The two background loops: notification delivery and placement timers."""
    return [notify_worker(app, delivery_interval), placement_worker(app, timers_interval)]
