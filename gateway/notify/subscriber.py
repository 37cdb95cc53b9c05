"""Who a subscription's notifications are decided for: its owner, as stored and as authorised now.

The access token that created a subscription is gone by the time a notification is sent, so the
owner's identity (client, user, role and purposes of use; the agency is the subscription row's) is
stored on the ``Subscription`` resource in the ``subscriber`` extension when it is created, from the
caller's token; a client cannot set it. At delivery the registry has the last word: a client or user
that has been disabled, or moved to another agency, receives nothing more, and a changed role
decides from then on. Identities the registry does not hold (tokens of unregistered test clients)
are decided as stored. Break-the-glass is never stored: a notification never breaks the glass.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy.orm import Session

from gateway.auth.repository import AuthRepository
from gateway.auth.schemas import Caller
from gateway.db.tables_placement import NotifySubscriptionRow
from gateway.fhir.errors import FhirError
from gateway.fhir.service import ResourceService

Resource = dict[str, Any]
SUBSCRIBER_EXT = "urn:crisis-exchange:extension:subscriber"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def subscriber_extension(caller: Caller) -> Resource:
    """The ``subscriber`` extension recording who ``caller`` is (stored on the Subscription)."""
    parts: list[Resource] = [{"url": "client", "valueString": caller.client_id}]
    if caller.role:
        parts.append({"url": "role", "valueCode": caller.role})
    if caller.user:
        parts.append({"url": "user", "valueString": caller.user})
    parts.extend(
        {"url": "purpose", "valueCoding": {"system": ACT_REASON, "code": purpose}}
        for purpose in caller.purposes
        if purpose != "BTG"
    )
    return {"url": SUBSCRIBER_EXT, "extension": parts}


def without_subscriber(extensions: Any) -> list[Any]:
    """``extensions`` minus any ``subscriber`` extension (the gateway alone writes it)."""
    return [
        e for e in extensions or [] if not (isinstance(e, dict) and e.get("url") == SUBSCRIBER_EXT)
    ]


def stored_subscriber(doc: Resource, agency: str) -> Caller | None:
    """The identity recorded on a stored Subscription, or None when it has none."""
    found = next(
        (
            e
            for e in doc.get("extension") or []
            if isinstance(e, dict) and e.get("url") == SUBSCRIBER_EXT
        ),
        None,
    )
    if found is None:
        return None
    client, role, user, purposes = None, None, None, []
    for part in found.get("extension") or []:
        name = part.get("url")
        if name == "client":
            client = part.get("valueString")
        elif name == "role":
            role = part.get("valueCode")
        elif name == "user":
            user = part.get("valueString")
        elif name == "purpose":
            purposes.append(str((part.get("valueCoding") or {}).get("code")))
    if not client:
        return None
    return Caller(client_id=client, agency=agency, role=role, user=user, purposes=tuple(purposes))


def _registered(session: Session, row: NotifySubscriptionRow) -> Caller | None:
    """A subscription stored without the extension: its client's registry entry."""
    client = AuthRepository(session).client(row.client_id)
    if client is None:
        return None
    purposes = tuple(p for p in client.purposes.split(",") if p and p != "BTG")
    return Caller(client_id=row.client_id, agency=row.agency, role=client.role, purposes=purposes)


def _as_authorised_now(session: Session, caller: Caller) -> Caller | None:
    repo = AuthRepository(session)
    client = repo.client(caller.client_id)
    if client is not None and (not client.enabled or client.agency_id != caller.agency):
        return None
    user = repo.user(caller.user) if caller.user else None
    if user is not None:
        if not user.enabled or user.agency_id != caller.agency:
            return None
        return replace(caller, role=user.role)
    if client is not None:
        return replace(caller, role=client.role)
    return caller


def subscriber_of(session: Session, row: NotifySubscriptionRow, fhir_base: str) -> Caller | None:
    """The identity ``row``'s notifications are decided for now; None when it may receive nothing
    (disabled, moved to another agency, or unknown)."""
    try:
        stored = ResourceService(session, fhir_base).read("Subscription", row.id)
        doc: Resource = orjson.loads(stored.content or "{}")
    except FhirError:  # deleted over FHIR: such a subscription is switched off first
        doc = {}
    caller = stored_subscriber(doc, row.agency) or _registered(session, row)
    if caller is None or caller.client_id != row.client_id:
        return None
    return _as_authorised_now(session, caller)
