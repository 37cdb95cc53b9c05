"""Wiring the referral workflow into an app::

from gateway.referral.setup import install, worker
install(app)                     # app.state.referral, the /referrals router, FHIR Task hooks
# in the lifespan: worker(app).start() … await worker.stop()
"""

from __future__ import annotations

from typing import Any

from gateway.notify.worker import PeriodicWorker
from gateway.placement.workflow_types import Clock, SystemClock
from gateway.referral.endpoints import router
from gateway.referral.escalation import referral_worker
from gateway.referral.fhir_hooks import install_task_hooks
from gateway.referral.types import ReferralConfig, ReferralContext


def install(
    app: Any,
    *,
    config: ReferralConfig | None = None,
    clock: Clock | None = None,
    routers: bool = True,
) -> ReferralContext:
    """Put a :class:`ReferralContext` on ``app.state.referral``; add the router and FHIR hooks."""
    state = app.state
    ctx = ReferralContext(
        fhir_base=state.settings.fhir_base,
        config=config or ReferralConfig.from_env(),
        clock=clock or SystemClock(),
        labeller=getattr(state, "labeller", None),
    )
    already = getattr(state, "referral", None) is not None
    state.referral = ctx
    install_task_hooks(app)
    if routers and not already:
        app.include_router(router)
    return ctx


def worker(app: Any, interval: float | None = None) -> PeriodicWorker:
    """The referral timers (intake, shift flags, escalation) for the app's lifespan; every
    ``interval`` seconds (default: the installed context's ``timer_seconds``)."""
    ctx = getattr(app.state, "referral", None)
    every = interval or (ctx.config.timer_seconds if isinstance(ctx, ReferralContext) else 5.0)
    return referral_worker(app, every)
