"""Subscriptions over the FHIR REST API (registered in :mod:`gateway.fhir.write_hooks`).

``POST /fhir/Subscription`` is the same as ``POST /notify/subscriptions``: the Subscription is checked
and stored with ``status=requested``, its signing secret comes back once in the
``X-Subscription-Secret`` header, and the handshake is queued. Inside a batch or transaction Bundle a
Subscription cannot be created (there is no header to return the secret in: 400).

A gateway-managed Subscription is not changed by ``PUT``/``PATCH`` (409: delete it and subscribe
again); ``DELETE`` switches it off (nothing more is delivered) and then deletes the resource. Who
may do either is decided as on ``/notify``: the subscribing agency (or a gateway administrator).
"""

from __future__ import annotations

import time
from typing import Any

from gateway.fhir.errors import Conflict, InvalidRequest
from gateway.fhir.service import ResourceService, Stored
from gateway.fhir.write_hooks import WriteContext, WriteHook, registry
from gateway.notify import subscriptions
from gateway.notify.repository import NotifyRepository

SECRET_HEADER = "X-Subscription-Secret"


def _now(state: Any) -> float:
    ctx = getattr(state, "placement", None)
    clock = getattr(ctx, "clock", None)
    return clock.now() if clock is not None else time.time()


def _service(w: WriteContext) -> ResourceService:
    """The notifications' own service (the subscription rows decide who may see what)."""
    return ResourceService(w.session, w.service.base_url)


class SubscriptionHook(WriteHook):
    """Subscriptions created, refused or switched off through the notification service."""

    def create(self, w: WriteContext, rtype: str, body: Any, rid: str | None) -> Stored | None:
        if w.bundle:
            raise InvalidRequest(
                "create a Subscription on its own (POST /fhir/Subscription or "
                "/notify/subscriptions): its signing secret is returned in a response header",
                expression="Subscription",
                code="not-supported",
            )
        settings = w.state.settings
        stored, secret = subscriptions.create_subscription(
            _service(w),
            w.caller,
            body,
            now=_now(w.state),
            https_only=settings.production,
            guard=w.service.guard,
        )
        w.response_headers[SECRET_HEADER] = secret
        w.response_headers["Cache-Control"] = "no-store"
        stored.created = True
        return stored

    def update(
        self, w: WriteContext, rtype: str, rid: str, body: Any, if_match: str | None
    ) -> Stored | None:
        self._refuse_change(w, rid)
        return None

    def patch(
        self, w: WriteContext, rtype: str, rid: str, operations: Any, if_match: str | None
    ) -> Stored | None:
        self._refuse_change(w, rid)
        return None

    def delete(self, w: WriteContext, rtype: str, rid: str) -> Stored | None:
        if NotifyRepository(w.session).subscription(rid) is None:
            return None  # not one of ours: the generic delete, under the sharing rules
        svc = _service(w)
        subscriptions.switch_off(svc, w.caller, rid, _now(w.state))  # 403 unless its owner's
        return svc.delete("Subscription", rid)

    @staticmethod
    def _refuse_change(w: WriteContext, rid: str) -> None:
        if NotifyRepository(w.session).subscription(rid) is not None:
            raise Conflict(
                f"Subscription/{rid} is managed by the gateway and cannot be changed; DELETE it "
                "(which switches it off) and create a new one"
            )


def install_subscription_hooks(app: Any) -> None:
    """Route FHIR writes of Subscriptions through the notification service (idempotent)."""
    hooks = registry(app.state)
    if not any(isinstance(h, SubscriptionHook) for h in hooks.hooks("Subscription")):
        hooks.register("Subscription", SubscriptionHook())
