"""The searchable fields of an audit leaf, derived from the AuditEvent alone.

Appending stores them next to the leaf; ``gateway audit verify --deep`` derives them again from the
canonical bytes and compares, so an edited index column (say, a deleted patient link that would hide
a disclosure from the accounting) is caught like an edited event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gateway.audit import codes as c

MAX_WHAT = 1000


@dataclass(frozen=True, slots=True)
class LeafFields:
    event_id: str
    recorded: float
    kind: str
    action: str
    outcome: str
    agency: str | None
    client_id: str | None
    username: str | None
    purpose: str | None
    disclosure: bool
    recipient: str | None
    what: str | None
    patients: tuple[str, ...]

    def columns(self) -> dict[str, Any]:
        """The ``audit_leaf`` columns (without index, leaf bytes and hash)."""
        return {
            "event_id": self.event_id,
            "recorded": self.recorded,
            "kind": self.kind,
            "action": self.action,
            "outcome": self.outcome,
            "agency": self.agency,
            "client_id": self.client_id,
            "username": self.username,
            "purpose": self.purpose,
            "disclosure": self.disclosure,
            "recipient": self.recipient,
            "what": self.what,
        }


def parse_instant(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _identifier(agent: dict[str, Any], system: str) -> str | None:
    ident = (agent.get("who") or {}).get("identifier") or {}
    return ident.get("value") if ident.get("system") == system else None


def derive(event: dict[str, Any]) -> LeafFields:
    """Read the leaf fields out of an AuditEvent built by :mod:`gateway.audit.events`."""
    subtypes = event.get("subtype") or []
    kind = str(event["type"].get("code", "?"))
    if subtypes:
        kind += "/" + str(subtypes[0].get("code", "?"))
    agency = client_id = username = purpose = None
    for agent in event.get("agent") or []:
        client_id = client_id or _identifier(agent, c.CLIENT_SYSTEM)
        username = username or _identifier(agent, c.USER_SYSTEM)
        ref = (agent.get("who") or {}).get("reference", "")
        codes = {cd.get("code") for cd in (agent.get("type") or {}).get("coding") or []}
        if "RESP" in codes and ref.startswith("Organization/"):
            agency = ref.split("/", 1)[1]
        if agent.get("requestor") and agent.get("purposeOfUse"):
            purpose = purpose or agent["purposeOfUse"][0]["coding"][0].get("code")
    disclosure = any(
        s.get("system") == c.LIFECYCLE and s.get("code") == "disclose" for s in subtypes
    )
    patients: list[str] = []
    described: list[str] = []
    for entity in event.get("entity") or []:
        role = entity.get("role") or {}
        ref = (entity.get("what") or {}).get("reference")
        if role.get("system") == c.OBJECT_ROLE and role.get("code") == "1" and ref:
            patients.append(ref)
        elif ref and (entity.get("type") or {}).get("system") == c.ENTITY_TYPE:
            described.append(ref)
        elif entity.get("description") and role.get("code") in ("24", "3"):
            described.append(str(entity["description"]))
    rest = [s.get("code") for s in subtypes if s.get("system") == c.RESTFUL]
    what = " ".join([*rest[:1], ", ".join(described)]).strip() or None
    return LeafFields(
        event_id=str(event["id"]),
        recorded=parse_instant(event["recorded"]),
        kind=kind[:64],
        action=str(event["action"]),
        outcome=str(event["outcome"]),
        agency=agency,
        client_id=client_id,
        username=username,
        purpose=purpose,
        disclosure=disclosure,
        recipient=(agency or client_id) if disclosure else None,
        what=what[:MAX_WHAT] if what else None,
        patients=tuple(dict.fromkeys(patients)),
    )
