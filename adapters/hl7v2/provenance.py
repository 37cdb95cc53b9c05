"""The Provenance every converted message carries, and the list of what was not mapped.

One Provenance per message (id from the agency and MSH-10): ``target`` is every other resource of the
Bundle, ``recorded`` is MSH-7 (the time the message was sent, so a resend is identical), ``occurred``
is EVN-6 or EVN-2 (HL7 v2.5.1 §3.4.1), ``activity`` the trigger event (HL7 table 0003). Agents: the
sending agency (author) and this adapter with its version (assembler). Entity: the source message,
``what.identifier.value`` = MSH-10. Segments and fields that held data but were not mapped are listed
as ``extension`` entries with url :data:`UNMAPPED_URL`, one ``valueString`` each ("segment ZPD",
"PID-10"), in the order they first appear in the message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from adapters.base import stable_id
from adapters.hl7v2.context import Context, Resource, hl7_table
from adapters.hl7v2.er7 import Message

UNMAPPED_URL = "urn:gateway:extension:hl7v2-unmapped"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
AGENCY_SYSTEM = "urn:gateway:agency"
ADAPTER_SYSTEM = "urn:gateway:adapter"

# MSH fields that address, frame or route the message (read by the transport and this Provenance);
# MSH-8 (security) is the one that says something the adapter does not act on.
ENVELOPE = (1, 2, 3, 4, 5, 6, 7, 9, 10, *range(11, 26))


def unmapped(msg: Message) -> list[str]:
    """What the message held that no mapper took: "segment X" for a segment left whole, "X-n" for a
    field of a mapped segment (checked per field; components inside a mapped field are not)."""
    msg.msh.mark(*ENVELOPE)
    seen: dict[str, None] = {}
    for seg in msg.segments:
        for item in seg.unmapped() if seg.touched else [f"segment {seg.name}"]:
            seen.setdefault(item, None)
    return list(seen)


def provenance(ctx: Context, version: str) -> Resource:
    """The Provenance of one converted message (see the module docstring)."""
    msh = ctx.msg.msh
    evn = ctx.msg.first("EVN")
    occurred = None
    if evn is not None:
        evn.mark(1)
        occurred = ctx.date_time(evn, 6) or ctx.date_time(evn, 2)
    items = unmapped(ctx.msg)
    agency = ctx.source.agency
    sender = " at ".join(p for p in (msh.text(3), msh.text(4)) if p) or "an unnamed application"
    kind = f"{ctx.code}^{ctx.event}"
    version_note = f", HL7 v{msh.text(12)}" if msh.text(12) else ""
    resource: Resource = {
        "resourceType": "Provenance",
        "id": stable_id(agency, "provenance", ctx.key),
        "meta": {"source": ctx.source.source_uri},
    }
    if items:
        resource["extension"] = [{"url": UNMAPPED_URL, "valueString": item} for item in items]
    resource["target"] = [{"reference": f"{t}/{i}"} for t, i in ctx.resources]
    if occurred:
        resource["occurredDateTime"] = occurred
    resource["recorded"] = ctx.sent.instant(ctx.offset) if ctx.sent else ""
    resource["activity"] = {
        "coding": [{"system": hl7_table("0003"), "code": ctx.event}],
        "text": kind,
    }
    resource["agent"] = [
        _agent(
            "author", {"identifier": {"system": AGENCY_SYSTEM, "value": agency}, "display": agency}
        ),
        _agent(
            "assembler",
            {
                "identifier": {"system": ADAPTER_SYSTEM, "value": f"{ctx.adapter}/{version}"},
                "display": f"{ctx.adapter} adapter {version}",
            },
        ),
    ]
    resource["entity"] = [
        {
            "role": "source",
            "what": {
                "identifier": {
                    "system": f"urn:gateway:hl7v2:control-id:{quote(agency, safe='')}",
                    "value": ctx.key,
                },
                "display": f"{kind} message {ctx.key} from {sender}{version_note}",
            },
        }
    ]
    return resource


def _agent(role: str, who: dict[str, Any]) -> dict[str, Any]:
    return {"type": {"coding": [{"system": PARTICIPANT_TYPE, "code": role}]}, "who": who}
