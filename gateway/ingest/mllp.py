"""The MLLP listener for hospital HL7 v2 feeds (HL7 v2 Minimal Lower Layer Protocol, release 2).

Each frame is ``0x0B`` message ``0x1C 0x0D``. Every message gets an ACK: ``AA`` only after its data is
committed, ``AE`` when a supported message could not be stored, ``AR`` when it is refused. Bytes outside
a frame are discarded; a connection dropped mid-frame stores nothing. The sender is identified by its
sending facility (MSH-4) and its network address, mapped to a registered client.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from adapters.base import SourceInfo, SourceRecord
from gateway.audit.events import AuditContext
from gateway.auth.scopes import Scope, covers
from gateway.fhir.errors import Forbidden
from gateway.ingest.ack import Header, build_ack, read_header
from gateway.ingest.service import IngestService

log = logging.getLogger("gateway.mllp")

START, END, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_FRAME = 4 * 1024 * 1024
ADAPTER = "hl7v2"
MEDIA_TYPE = "x-application/hl7-v2+er7"


@dataclass(frozen=True, slots=True)
class Sender:
    """A registered system allowed to send over MLLP."""

    client_id: str
    agency: str
    scopes: tuple[Scope, ...]


SenderLookup = Callable[[str, str], Sender | None]  # (MSH-4 facility, peer address) -> sender


class MllpHandler:
    """Turns one framed message into stored data and an ACK."""

    def __init__(self, service: IngestService, senders: SenderLookup) -> None:
        self.service = service
        self.senders = senders

    def handle(self, frame: bytes, peer: str) -> bytes:
        text = frame.decode("utf-8", errors="replace")
        header = read_header(text)
        if header is None:
            return build_ack(
                None, "AR", text="no readable MSH segment", error_code="100", location="MSH-1"
            )
        facility = header.sending_facility.split(header.seps.component, 1)[0]
        sender = self.senders(facility, peer)
        if sender is None:
            return build_ack(
                header,
                "AR",
                text="sending facility and address are not registered",
                location="MSH-4",
            )
        return self._store(header, frame, sender, peer)

    def _store(self, header: Header, frame: bytes, sender: Sender, peer: str) -> bytes:
        try:
            records = self.service.parse(ADAPTER, frame, MEDIA_TYPE)
        except Exception as exc:  # a refusal from the adapter, already located
            issues = getattr(exc, "issues", None)
            text = issues[0].diagnostics if issues else "the message cannot be read"
            return build_ack(header, "AR", text=text)
        if len(records) != 1:
            return build_ack(header, "AR", text="send one message per MLLP frame")
        record: SourceRecord = records[0]
        source = SourceInfo(agency=sender.agency, client_id=sender.client_id)

        def authorize(interaction: str, rtype: str) -> None:
            if not covers(sender.scopes, interaction, rtype):
                raise Forbidden(f"the sender may not '{interaction}' {rtype}")

        ctx = AuditContext(
            client_id=sender.client_id,
            agency=sender.agency,
            request_id=header.control_id[:64] or None,
            address=peer or None,
        )
        result = self.service.store_record(ADAPTER, record, source, authorize, ctx)
        if result.outcome != "refused":
            return build_ack(header, "AA")
        issue = result.issues[0] if result.issues else None
        text = issue.diagnostics if issue else "the message was not stored"
        location = issue.expression[0] if issue and issue.expression else ""
        code = "AR" if issue is not None and issue.code in ("not-supported", "forbidden") else "AE"
        return build_ack(header, code, text=text, location=location)


def frames(buffer: bytearray) -> list[bytes]:
    """Take every complete frame out of ``buffer``; junk before a start block is dropped."""
    out: list[bytes] = []
    while True:
        start = buffer.find(START)
        if start < 0:
            buffer.clear()
            return out
        if start:
            del buffer[:start]
        end = buffer.find(END + CR)
        if end < 0:
            return out
        out.append(bytes(buffer[1:end]))
        del buffer[: end + 2]


class MllpServer:
    """An asyncio TCP (optionally TLS) server speaking MLLP."""

    def __init__(self, handler: MllpHandler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> int:
        self.server = await asyncio.start_server(
            self._client, host, port, ssl=self.tls, reuse_port=True
        )
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str((writer.get_extra_info("peername") or ("", 0))[0])
        buffer = bytearray()
        loop = asyncio.get_running_loop()
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return  # closed; a partial frame is dropped, nothing of it was stored
                buffer.extend(chunk)
                if len(buffer) > MAX_FRAME:
                    writer.write(START + build_ack(None, "AR", text="frame too large") + END + CR)
                    await writer.drain()
                    return
                for frame in frames(buffer):
                    ack = await loop.run_in_executor(None, self.handler.handle, frame, peer)
                    writer.write(START + ack + END + CR)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            return
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def in_network(address: str, networks: str) -> bool:
    """Whether ``address`` is inside any of the comma-separated CIDR ``networks``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in (n.strip() for n in networks.split(",") if n.strip()):
        with contextlib.suppress(ValueError):
            if ip in ipaddress.ip_network(net, strict=False):
                return True
    return False
