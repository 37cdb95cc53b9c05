"""HL7 v2 acknowledgements (HL7 v2.5.1 §2.9 original acknowledgement mode, §3.3.? ACK, MSA, ERR).

``AA`` is only sent after the message's data is committed; ``AE`` when a supported message could not be
stored; ``AR`` when the message is refused (unreadable, unsupported, unknown sender). The ACK echoes
MSH-10 in MSA-2 and never quotes field values of the refused message.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.base import AdapterError
from adapters.hl7v2.er7 import Separators, read_separators


@dataclass(frozen=True, slots=True)
class Header:
    """The parts of a message's MSH an acknowledgement needs."""

    seps: Separators
    sending_app: str
    sending_facility: str
    receiving_app: str
    receiving_facility: str
    trigger: str
    control_id: str
    processing_id: str
    version: str


def _component(value: str, seps: Separators) -> str:
    return value.split(seps.component, 1)[0]


def read_header(message: str) -> Header | None:
    """Read the MSH of a message (``None`` when there is no readable MSH)."""
    first = message.lstrip("\r\n").split("\r", 1)[0].split("\n", 1)[0]
    if not first.startswith("MSH"):
        return None
    try:
        seps = read_separators(first)
    except AdapterError:
        return None
    fields = first.split(seps.field)

    # fields[0] = "MSH", fields[1] = encoding characters, so MSH-n is fields[n - 1] for n >= 3.
    def f(n: int) -> str:
        return fields[n - 1] if len(fields) >= n else ""

    event = f(9).split(seps.component)
    return Header(
        seps=seps,
        sending_app=f(3),
        sending_facility=f(4),
        receiving_app=f(5),
        receiving_facility=f(6),
        trigger=event[1] if len(event) > 1 else "",
        control_id=f(10),
        processing_id=_component(f(11), seps) or "P",
        version=_component(f(12), seps) or "2.5.1",
    )


def _clean(text: str, seps: Separators) -> str:
    """Keep delimiter characters out of a text we put into a field."""
    for ch in (
        seps.field,
        seps.component,
        seps.repetition,
        seps.escape,
        seps.subcomponent,
        "\r",
        "\n",
    ):
        if ch:
            text = text.replace(ch, " ")
    return text[:200]


def build_ack(
    header: Header | None, code: str, *, text: str = "", error_code: str = "", location: str = ""
) -> bytes:
    """An ACK for ``header`` with MSA-1 ``code`` (AA, AE or AR) and an ERR segment on error."""
    seps = header.seps if header else Separators()
    fs, cs = seps.field, seps.component
    encoding = f"{cs}{seps.repetition}{seps.escape}{seps.subcomponent}"
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    trigger = header.trigger if header else ""
    msh = fs.join(
        [
            "MSH",
            encoding,
            "CRISIS-EXCHANGE-GATEWAY",
            "CRISIS-EXCHANGE-GATEWAY",
            header.sending_app if header else "",
            header.sending_facility if header else "",
            now,
            "",
            f"ACK{cs}{trigger}{cs}ACK" if trigger else "ACK",
            secrets.token_hex(10),
            header.processing_id if header else "P",
            header.version if header else "2.5.1",
        ]
    )
    msa = fs.join(
        [
            "MSA",
            code,
            header.control_id if header else "",
            _clean(text, seps) if code != "AA" else "",
        ]
    )
    segments = [msh, msa]
    if code != "AA":
        # ERR-2 error location (segment^sequence^field), ERR-3 HL7 error code (table 0357), ERR-4 severity.
        where = location.replace("-", cs, 1) if location else ""
        hl7_code = error_code or ("200" if code == "AR" else "207")
        segments.append(
            fs.join(["ERR", "", where, f"{hl7_code}{cs}{_clean(text, seps)}{cs}HL70357", "E"])
        )
    return ("\r".join(segments) + "\r").encode()
