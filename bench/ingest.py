"""End-to-end ingest benchmark on PostgreSQL: HL7 v2 ADT over MLLP and over HTTP, police RMS JSON over
HTTP; every message durably committed (and, for MLLP, acknowledged) before it counts.
Budget (DESIGN.md): HL7 v2 ADT ingest, end to end and durably acknowledged, >= 800 messages/s.

    .venv/bin/python bench/ingest.py [--messages 2000] [--connections 8] [--workers 2]
    .venv/bin/python bench/ingest.py --statements 200   # SQL statements per ADT, in process
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.police_rms.generate import generate  # noqa: E402
from gateway.auth.registry import Registry  # noqa: E402
from gateway.db.session import Database  # noqa: E402
from gateway.ingest.senders import add_sender  # noqa: E402
from tests.support.databases import PG_ENV, fresh_postgres  # noqa: E402
from tests.support.live import free_port  # noqa: E402
from tests.support.smart import assertion, public_jwks, rsa_key, token_form  # noqa: E402

SERVER = os.environ.get(
    "GATEWAY_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BUDGET = 800.0
FAMILIES = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Patel",
    "Okafor",
    "Hernandez",
    "Lee",
    "Brown",
    "Davis",
    "Lopez",
    "Wilson",
    "Martin",
]
GIVENS = ["Ana", "Ben", "Chidi", "Dana", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kim", "Luz"]


def adt(n: int, rng: random.Random) -> bytes:
    family, given = rng.choice(FAMILIES), rng.choice(GIVENS)
    born = f"{rng.randint(1940, 2008)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    segments = [
        f"MSH|^~\\&|EPIC|PANHANDLE|GATEWAY|GW|20261128120000||ADT^A01^ADT_A01|BENCH{n:08d}|P|2.5.1",
        "EVN|A01|20261128120000",
        f"PID|1||MRN{n:08d}^^^PANHANDLE^MR||{family}^{given}||{born}|{rng.choice('MF')}|||{rng.randint(1, 9999)} Polk St^^Amarillo^TX^79101||806555{n % 10000:04d}",
        f"PV1|1|E|ED^01^01||||1234^Doc^Ann|||||||||||V{n:08d}|||||||||||||||||||||||||20261128120000",
    ]
    return ("\r".join(segments) + "\r").encode()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def mllp_send(port: int, messages: list[bytes], latencies: list[float]) -> int:
    accepted = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        for message in messages:
            start = time.perf_counter()
            sock.sendall(b"\x0b" + message + b"\x1c\x0d")
            data = b""
            while not data.endswith(b"\x1c\x0d"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed")
                data += chunk
            latencies.append((time.perf_counter() - start) * 1000)
            accepted += b"MSA|AA|" in data
    return accepted


async def http_post(
    base: str, token: str, path: str, ctype: str, bodies: list[bytes], clients: int
) -> tuple[int, list[float]]:
    latencies: list[float] = []
    queue = list(bodies)
    ok = 0
    headers = {"Authorization": f"Bearer {token}", "Content-Type": ctype}
    async with httpx.AsyncClient(base_url=base, timeout=60, headers=headers) as client:

        async def worker() -> None:
            nonlocal ok
            while queue:
                body = queue.pop()
                start = time.perf_counter()
                response = await client.post(path, content=body)
                latencies.append((time.perf_counter() - start) * 1000)
                ok += response.status_code in (200, 201)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return ok, latencies


def report(name: str, count: int, ok: int, elapsed: float, latencies: list[float]) -> None:
    rate = count / elapsed
    print(
        f"{name:<34} {rate:8.0f} msg/s  ({rate / BUDGET:.2f}x budget)  accepted {ok}/{count}  "
        f"p50 {pct(latencies, 0.5):.1f} ms  p99 {pct(latencies, 0.99):.1f} ms"
    )


def backend_cpu(db: Database) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving ``db`` (from /proc)."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def statements_per_message(url: str, count: int) -> None:
    """Run ``count`` new ADT^A01 (then the same again, as resends) through the MLLP handler in
    this process, serially, and print per message: SQL statements (commits not counted), gateway
    CPU, PostgreSQL backend CPU (a local server) and wall time."""
    from sqlalchemy import event

    from adapters.registry import load_adapters
    from gateway.audit.log import AuditLog
    from gateway.ingest.mllp import MllpHandler
    from gateway.ingest.senders import SenderDirectory
    from gateway.ingest.service import IngestService
    from gateway.settings import load_settings
    from policies.labelling import label

    db = Database(url, pool_size=2)
    with tempfile.TemporaryDirectory() as keys:
        settings = load_settings().with_overrides(database_url=url, key_dir=Path(keys))
        service = IngestService(
            db,
            settings.fhir_base,
            load_adapters(),
            labeller=label,
            audit=AuditLog.from_settings(settings),
        )
        handler = MllpHandler(service, SenderDirectory(db).lookup)
        rng = random.Random(3)
        for i in range(30):  # warm-up: shared Location and Practitioner exist, caches filled
            handler.handle(adt(30_000_000 + i, rng), "127.0.0.1")
        seen = [0]

        def counted(*_args: object) -> None:
            seen[0] += 1

        event.listen(db.engine, "before_cursor_execute", counted)
        messages = [adt(40_000_000 + i, rng) for i in range(count)]
        for name, batch in (("new ADT^A01", messages), ("identical resend", messages)):
            seen[0] = 0
            pg, cpu, start = backend_cpu(db), time.process_time(), time.perf_counter()
            for message in batch:
                assert b"MSA|AA|" in handler.handle(message, "127.0.0.1")
            wall = time.perf_counter() - start
            cpu, pg = time.process_time() - cpu, backend_cpu(db) - pg
            print(
                f"{name:<18} {seen[0] / count:5.1f} statements  gateway CPU "
                f"{cpu / count * 1000:5.1f} ms  PostgreSQL CPU {pg / count * 1000:4.1f} ms  "
                f"wall {wall / count * 1000:6.1f} ms per message  "
                f"(load average {os.getloadavg()[0]:.1f})"
            )
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        metavar="N",
        help="only count SQL statements per message over N messages, in process",
    )
    args = parser.parse_args()
    os.environ.setdefault(PG_ENV, SERVER)
    databases = ExitStack()
    url = databases.enter_context(
        fresh_postgres("gw_bench_ingest")
    )  # created, migrated, dropped at the end
    proc = None
    try:
        key = rsa_key("bench-ingest")
        db = Database(url, pool_size=1)
        with db.unit_of_work() as session:
            registry = Registry(session)
            registry.add_agency("bench-hospital", "hospital", "Bench Hospital")
            registry.add_agency("bench-pd", "police", "Bench PD")
            registry.add_client(
                "bench-ehr",
                "bench-hospital",
                "hospital_ehr",
                "system/*.cruds",
                jwks=public_jwks(key),
                purposes=["TREAT"],
            )
            registry.add_client(
                "bench-rms",
                "bench-pd",
                "police_rms",
                "system/*.cruds",
                jwks=public_jwks(key),
                purposes=["HLEGAL"],
            )
            add_sender(session, "PANHANDLE", "127.0.0.1/32", "bench-ehr")
        db.dispose()
        if args.statements:
            statements_per_message(url, args.statements)
            return
        port, mllp_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as keys:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
            env.update(
                GATEWAY_DATABASE_URL=url,
                GATEWAY_KEY_DIR=keys,
                GATEWAY_BASE_URL=base,
                GATEWAY_MLLP_PORT=str(mllp_port),
                PYTHONPATH=str(ROOT),
            )
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "gateway.asgi:app",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--log-level",
                    "warning",
                ],
                env=env,
            )
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/fhir/metadata", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            rng = random.Random(5)
            n = args.messages
            # MLLP: one sender per connection, each waiting for its ACK (MLLP is synchronous).
            messages = [adt(i, rng) for i in range(n)]
            mllp_send(mllp_port, [adt(10_000_000 + i, rng) for i in range(50)], [])  # warm-up
            chunks = [messages[i :: args.connections] for i in range(args.connections)]
            latencies: list[float] = []
            start = time.perf_counter()
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(args.connections) as pool:
                accepted = sum(pool.map(lambda c: mllp_send(mllp_port, c, latencies), chunks))
            report("HL7 ADT^A01 over MLLP", n, accepted, time.perf_counter() - start, latencies)

            def token(client_id: str) -> str:
                form = token_form(assertion(key, client_id, f"{base}/auth/token"), "system/*.cruds")
                return str(httpx.post(f"{base}/auth/token", data=form).json()["access_token"])

            http_messages = [adt(20_000_000 + i, rng) for i in range(n)]
            start = time.perf_counter()
            ok, lat = asyncio.run(
                http_post(
                    base,
                    token("bench-ehr"),
                    "/ingest/hl7v2",
                    "x-application/hl7-v2+er7",
                    http_messages,
                    args.connections,
                )
            )
            report("HL7 ADT^A01 over HTTP", n, ok, time.perf_counter() - start, lat)

            records = [orjson.dumps(r) for r in generate(11, n)]
            start = time.perf_counter()
            ok, lat = asyncio.run(
                http_post(
                    base,
                    token("bench-rms"),
                    "/ingest/police-rms",
                    "application/json",
                    records,
                    args.connections,
                )
            )
            report("police RMS JSON over HTTP", n, ok, time.perf_counter() - start, lat)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        databases.close()


if __name__ == "__main__":
    main()
