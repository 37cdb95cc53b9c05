"""Background loops for the app's lifespan: run a blocking tick in a thread every few seconds.

The lead wires them in ``create_app``'s lifespan::

    workers = [notify_worker(app), placement_worker(app)]
    for w in workers: w.start()
    yield
    for w in workers: await w.stop()

Every tick is safe to run in every replica at once (claims use ``FOR UPDATE SKIP LOCKED``), so
nothing has to be elected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from gateway.audit.log import get_audit_log
from gateway.notify.delivery import Deliverer, queue_heartbeats
from gateway.sharing.for_subscriber import SubscriberGuards

log = logging.getLogger("gateway.notify")


class PeriodicWorker:
    """Calls ``tick()`` in a worker thread every ``interval`` seconds until stopped."""

    def __init__(
        self,
        name: str,
        tick: Callable[[], Any],
        interval: float = 2.0,
        on_stop: Callable[[], Any] | None = None,
    ) -> None:
        self.name = name
        self.tick = tick
        self.interval = interval
        self.on_stop = on_stop
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)
        return self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception:  # a bad tick must not end the loop; the next one retries
                log.exception("%s: tick failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval)

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self.on_stop is not None:
            self.on_stop()


def app_deliverer(app: Any, **options: Any) -> Deliverer:
    """The app's :class:`Deliverer`: its database, audit log and agreements (``options`` are
    :class:`Deliverer`'s keywords and replace them)."""
    state = app.state
    wiring: dict[str, Any] = {
        "audit": get_audit_log(state),
        "guards": SubscriberGuards.load(state.settings.agreements_file),
    }
    return Deliverer(state.db, state.settings.fhir_base, **{**wiring, **options})


def notify_worker(app: Any, interval: float = 1.0) -> PeriodicWorker:
    """Heartbeats, then delivery of everything due, for the app's database."""
    state = app.state
    clock = getattr(getattr(state, "placement", None), "clock", None)
    deliverer = app_deliverer(app)

    def tick() -> None:
        now = clock.now() if clock is not None else time.time()
        queue_heartbeats(state.db, state.settings.fhir_base, now)
        deliverer.run_once(now)

    return PeriodicWorker("notify-delivery", tick, interval, on_stop=deliverer.client.close)
