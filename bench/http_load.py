"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, one request in flight each.

It speaks just enough HTTP/1.1 (Content-Length and chunked bodies) to drive the gateway over loopback,
because a full client library would spend more CPU than the server it measures on a 2-core machine.
Latency is measured from just before the request is written to just after the last body byte is read.
Every loop is bounded by a deadline, and every connection goes to the host it was given (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

# A request maker returns (method, path, body or None). It is called once per request.
T = TypeVar("T")
RequestMaker = Callable[[], tuple[str, str, bytes | None]]


@dataclass
class Outcome:
    """What one scenario measured."""

    name: str
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    totals: list[int] = field(default_factory=list)  # Bundle.total of sampled search responses
    entries: list[int] = field(default_factory=list)  # entries on the sampled search pages
    client_cpu: float = 0.0  # share of one core the load generator itself used
    first_error: str | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


class Connection:
    """One keep-alive connection."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        # Fixed headers (e.g. the bearer token), formatted once.
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
            self.writer = self.reader = None

    async def request(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "Accept: application/fhir+json\r\n" + self.fixed
        if body is not None:
            head += f"Content-Type: application/fhir+json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            data = await self._chunked()
        else:
            data = b""
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, data

    async def _chunked(self) -> bytes:
        assert self.reader is not None
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


async def _client(
    conn: Connection,
    make: RequestMaker,
    ok: tuple[int, ...],
    record_from: float,
    deadline: float,
    out: Outcome,
    sample_every: int,
    timeout: float,
) -> None:
    n = 0
    while True:
        method, path, body = make()
        start = time.perf_counter()
        if start >= deadline:
            return
        try:
            status, data = await asyncio.wait_for(conn.request(method, path, body), timeout)
        except (
            OSError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            TimeoutError,
        ) as exc:
            await conn.close()
            if start >= record_from:
                out.errors += 1
                out.first_error = out.first_error or f"{type(exc).__name__}: {exc}"
            continue
        end = time.perf_counter()
        if start < record_from:
            continue  # warm-up
        out.statuses[status] = out.statuses.get(status, 0) + 1
        if status not in ok:
            out.errors += 1
            out.first_error = out.first_error or f"HTTP {status}: {data[:300]!r}"
            continue
        out.requests += 1
        out.latencies_ms.append((end - start) * 1000.0)
        n += 1
        if sample_every and (n - 1) % sample_every == 0:
            doc = orjson.loads(data)
            if doc.get("resourceType") == "Bundle":
                out.totals.append(int(doc.get("total", -1)))
                out.entries.append(len(doc.get("entry", [])))


async def run_scenario(
    name: str,
    make: RequestMaker,
    *,
    host: str,
    port: int,
    clients: int,
    duration: float,
    warmup: float,
    ok: tuple[int, ...] = (200, 201),
    sample_every: int = 0,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Outcome:
    """Drive ``clients`` connections for ``warmup + duration`` seconds; record the last ``duration``."""
    out = Outcome(name)
    conns = [Connection(host, port, headers) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in conns))
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    now = time.perf_counter()
    record_from, deadline = now + warmup, now + warmup + duration
    await asyncio.gather(
        *(_client(c, make, ok, record_from, deadline, out, sample_every, timeout) for c in conns)
    )
    ended = time.perf_counter()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.gather(*(c.close() for c in conns))
    # In-flight requests finish after the deadline, so the recorded window is slightly longer.
    out.seconds = ended - record_from
    used = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    out.client_cpu = used / (ended - now)
    return out


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on uvloop when it is installed (it is, with uvicorn[standard])."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def get_ok(host: str, port: int, path: str) -> bool:
    """One GET; True on HTTP 200."""
    conn = Connection(host, port)
    try:
        status, _ = await conn.request("GET", path, None)
        return status == 200
    except (OSError, asyncio.IncompleteReadError):
        return False
    finally:
        await conn.close()
