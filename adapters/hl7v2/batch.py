"""Payloads: bytes to text, text to messages (HL7 v2.5.1 §2.10.3, batch protocol).

A payload is one message, several messages back to back, or a batch file: ``FHS`` … ``BHS`` …
messages … ``BTS`` … ``FTS``. Segments end with a carriage return (§2.5.1); line feeds and CR LF are
taken too, since files written on other systems use them. A UTF-8 byte-order mark and MLLP framing
bytes (``0x0B`` before a message, ``0x1C`` after it) are ignored.
"""

from __future__ import annotations

import re
from codecs import lookup

from adapters.base import AdapterError, Location

_LINES = re.compile(r"\r\n|\r|\n")
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")

# HL7 table 0211 (alternate character sets, MSH-18) to Python codecs, for payloads that are not UTF-8.
CHARSETS = {
    "ASCII": "ascii",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "GB 18030-2000": "gb18030",
    "BIG-5": "big5",
    "KS X 1001": "euc_kr",
    "WINDOWS-1252": "cp1252",
}


def decode(payload: bytes, charset: str | None = None) -> tuple[str, str]:
    """Bytes to text: the media type's charset if given, else UTF-8, else what MSH-18 declares.

    HL7 v2.5.1 §2.14.9.18: MSH-18 names the character set when it is not ASCII; v2.8 makes UTF-8 the
    preferred one. Returns the text and the codec used (escaped ``\\X…\\`` bytes decode with it).
    """
    if charset:
        try:
            codec = lookup(charset).name
        except LookupError:
            raise AdapterError(
                "the media type names a character set this adapter does not know"
            ) from None
        try:
            return payload.decode(codec).removeprefix("\ufeff"), codec
        except UnicodeDecodeError:
            raise AdapterError(
                "the payload is not in the character set its media type names"
            ) from None
        except LookupError:  # a bytes-to-bytes codec such as base64 is not a character set
            raise AdapterError(
                "the media type names a character set this adapter does not know"
            ) from None
    try:
        return payload.decode("utf-8").removeprefix("\ufeff"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = _declared_charset(payload)
    if declared is None:
        raise AdapterError(
            "the payload is not UTF-8 and MSH-18 names no character set this adapter reads",
            Location(segment="MSH", field="MSH-18"),
        )
    try:
        return payload.decode(declared), declared
    except UnicodeDecodeError:
        raise AdapterError(
            "the payload is not in the character set MSH-18 names",
            Location(segment="MSH", field="MSH-18"),
        ) from None


def _declared_charset(payload: bytes) -> str | None:
    head = payload.decode("latin-1")
    start = head.find("MSH")
    if start < 0 or len(head) < start + 4:
        return None
    line = _LINES.split(head[start:], maxsplit=1)[0]
    fields = [line[:3], line[3], *line[4:].split(line[3])]
    if len(fields) <= 18:
        return None
    name = fields[18].split("~")[0].split("^")[0].strip().upper()
    return CHARSETS.get(name)


def split_messages(text: str) -> list[list[str]]:
    """Group the lines of a payload into messages, each starting with its MSH line.

    Batch and file envelopes (HL7 v2.5.1 §2.10.3: FHS/BHS headers, BTS/FTS trailers) are taken off;
    a BTS-1 message count that disagrees with the messages found is refused, since it means part of
    the batch was lost on the way.
    """
    messages: list[list[str]] = []
    in_batch: list[list[str]] | None = None
    for number, raw in enumerate(_LINES.split(text), start=1):
        line = raw.lstrip().removeprefix("\x0b").removesuffix("\x1c")
        if not line.strip():
            continue
        name = line[:3]
        if name == "MSH":
            messages.append([line])
            if in_batch is not None:
                in_batch.append(messages[-1])
        elif name == "BHS":
            in_batch = []
        elif name == "BTS":
            _check_count(line, in_batch)
            in_batch = None
        elif name in ("FHS", "FTS"):
            continue
        elif not messages:
            raise AdapterError(
                "the payload must start with an MSH segment (or a BHS/FHS batch header)",
                Location(segment=f"line {number}"),
            )
        else:
            messages[-1].append(line)
    if not messages:
        raise AdapterError("the payload holds no HL7 v2 message (no MSH segment)")
    return messages


def _check_count(line: str, batch: list[list[str]] | None) -> None:
    if batch is None or len(line) < 5:
        return
    count = line[4:].split(line[3])[0].strip()
    if re.fullmatch(r"[0-9]{1,9}", count) and int(count) != len(batch):
        raise AdapterError(
            f"the batch trailer counts {int(count)} messages but the batch holds {len(batch)}",
            Location(segment="BTS", field="BTS-1"),
        )
