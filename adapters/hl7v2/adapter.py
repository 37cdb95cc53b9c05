"""The hospital HL7 v2 adapter: ER7 bytes in, one FHIR R4 transaction Bundle per message out."""

from __future__ import annotations

from typing import ClassVar

from adapters.base import AdapterError, Conversion, SourceInfo, SourceRecord
from adapters.hl7v2.batch import decode, split_messages
from adapters.hl7v2.er7 import Message, read_message
from adapters.hl7v2.messages import convert


class Hl7v2Adapter:
    """HL7 v2.x (ER7 encoding) ADT, REF and OMG messages → FHIR R4 (see ``docs/adapters/hl7v2.md``)."""

    name: ClassVar[str] = "hl7v2"
    version: ClassVar[str] = "0.1.0"
    media_types: ClassVar[tuple[str, ...]] = ("x-application/hl7-v2+er7", "text/plain")

    def parse(self, payload: bytes, media_type: str) -> list[SourceRecord]:
        """Split a payload into messages (HL7 v2.5.1 §2.10.3 batches included), key = MSH-10.

        Only a payload that cannot be read at all is refused here (wrong media type, undecodable, no
        MSH, a broken batch). A message that is malformed on its own becomes a record whose
        :meth:`to_fhir` refuses it, so the rest of a batch still goes through; its key is MSH-10 if
        that could be read, else ``#n`` for the n-th message of the payload.
        """
        kind, charset = _media_type(media_type)
        if kind not in self.media_types:
            raise AdapterError(
                f"media type {kind or '(none)'} is not read by the {self.name} adapter "
                f"(it reads {', '.join(self.media_types)})"
            )
        if not payload.strip():
            raise AdapterError("the payload is empty")
        text, codec = decode(payload, charset)
        records: list[SourceRecord] = []
        for index, lines in enumerate(split_messages(text)):
            try:
                message = read_message(lines, index, codec)
            except AdapterError as exc:
                records.append(SourceRecord(exc.where.record or f"#{index + 1}", index, exc))
            else:
                records.append(SourceRecord(message.key, index, message))
        return records

    def to_fhir(self, record: SourceRecord, source: SourceInfo) -> Conversion:
        """Convert one message (see :mod:`adapters.hl7v2.messages` for what each type becomes)."""
        data = record.data
        if isinstance(data, AdapterError):
            raise type(data)(data.message, data.where)
        if not isinstance(data, Message):
            raise AdapterError(f"this record was not read by the {self.name} adapter")
        return convert(data, source, self.name, self.version)


def _media_type(value: str) -> tuple[str, str | None]:
    kind, _, params = value.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val.strip():
            charset = val.strip().strip('"')
    return kind.strip().lower(), charset
