"""Audit log benchmark on PostgreSQL, against the budgets in DESIGN.md.

1. **Audit cost on writes and reads.** In a database of its own (``gw_bench_audit``, migrated), the
   same unit of work with and without the audit append (and with the append but without the WAL
   flush of its commit), interleaved so load drifts hit all alike:
   ``create Patient`` (``ResourceService.create``) and ``read Patient`` (``ResourceService.read``),
   each timed from opening the unit of work to its commit. Budget: audit adds <= 10 %.
   Reads also run with the INSERT pipelined with the COMMIT (``mark_read_only``, what the FHIR
   read endpoints do), and with the commit's WAL flush taken out (not durable: for scale only).
1b. **Concurrent reads.** ``--readers`` clients reading back to back for ``--seconds`` per variant,
   three interleaved rounds: reads/s and latency without audit, with the event in the read's
   transaction, and with the pipelined commit.
2. **Concurrent appends.** Threads doing read + audit for a few seconds: appends take no lock, so
   throughput scales with the database, not with one serialised counter.
3. **Sequencing and checkpoints.** Ed25519 signing of a checkpoint note; sequencing 10,000 new
   events (index, leaf hash, the AuditEvent resource copy and its search index rows); a checkpoint
   over them (extend the tree, store its nodes, sign).
4. **Verification of 1,000,000 events.** Synthetic but real-sized events (a BALP police read, ~1.3 kB
   of canonical JSON, distinct ids and patients) are written with ``COPY`` straight into
   ``audit_leaf`` of the benchmark database, sequenced, then checkpointed once (storing the tree:
   about 2,000,000 nodes). Then ``verify_log`` runs end to end against PostgreSQL (reading every
   leaf from the database, recomputing every leaf hash and root, checking the checkpoint), with 1
   and 2 worker processes; the read pass alone and the pure pipeline (the same verification loop
   over rows already in memory) are timed on their own. Budget: >= 200,000 events/s.

    .venv/bin/python bench/audit_log.py --keep         # everything; keep gw_bench_audit
    .venv/bin/python bench/audit_log.py --verify-only  # section 4 again on the kept database
    .venv/bin/python bench/audit_log.py --events 200000 --skip-latency
    .venv/bin/python bench/audit_log.py --latency-only --rounds 400 --readers 16 --seconds 5

The figures depend on the machine being otherwise idle: the script prints the load average, and the
pure pipeline's rate per CPU-second, which contention does not change.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text

from gateway.audit.canonical import canonical_json, leaf_bytes
from gateway.audit.checkpoint import checkpoint, sequence
from gateway.audit.events import AuditContext
from gateway.audit.fields import derive
from gateway.audit.log import AuditLog, mark_read_only
from gateway.audit.notes import Checkpoint
from gateway.audit.reader import read_leaves
from gateway.audit.verify import scan_rows, verify_log
from gateway.db.migrate import upgrade
from gateway.db.session import Database
from gateway.fhir.service import ResourceService
from gateway.settings import Settings

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NAME = "gw_bench_audit"
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{NAME}"
BASE = "http://bench.example/fhir"
OVERHEAD_BUDGET, VERIFY_BUDGET = 0.10, 200_000.0

POLICE = AuditContext(
    client_id="amarillo-rms",
    agency="amarillo-pd",
    role="police_officer",
    user="officer.jones",
    purposes=("HLEGAL",),
    request_id="00000000-0000-4000-8000-000000000000",
    address="10.20.30.40",
    token_id="5f0c2a9e7b1d4c3a",
)
CLINICIAN = AuditContext(
    client_id="panhandle-ehr",
    agency="panhandle-er",
    role="ed_clinician",
    user="dr.smith",
    purposes=("TREAT",),
    request_id="00000000-0000-4000-8000-000000000001",
    address="10.20.30.41",
)


def fresh_database() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{NAME}"')
    upgrade(URL)


def drop_database() -> None:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values: list[float]) -> str:
    return (
        f"mean {statistics.fmean(values) * 1e3:6.2f} ms  p50 {pct(values, 0.5) * 1e3:6.2f}  "
        f"p99 {pct(values, 0.99) * 1e3:6.2f}"
    )


def patient(i: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "name": [{"family": f"Bench{i}", "given": ["Ada"]}],
        "birthDate": "1980-01-01",
        "gender": "female",
    }


# ---- 1. latency ----------------------------------------------------------------------------------
# Variants: no audit; the append; the append with synchronous_commit off for that transaction (what
# is left once the WAL flush that a read's commit now needs is taken out: that flush is durability,
# not audit code). The AuditEvent resource copy is made later by the sequencer (section 3).
# Reads also run with the INSERT pipelined with the COMMIT (gateway.audit.log.mark_read_only, what
# the FHIR read endpoints do): one round trip fewer, the same durable commit.
VARIANTS = ("no audit", "audit", "audit, no commit flush")
READ_VARIANTS = ("no audit", "audit", "audit, pipelined commit", "audit, no commit flush")


def latency(db: Database, log: AuditLog, rounds: int) -> dict[str, Any]:
    ids: list[str] = []

    def audit(session: Any, variant: str, event: dict[str, Any]) -> None:
        if variant == "no audit":
            return
        if variant == "audit, no commit flush":
            session.execute(text("SET LOCAL synchronous_commit = off"))
        if variant == "audit, pipelined commit":
            mark_read_only(session)
        log.append(session, event)

    def create(variant: str, i: int) -> None:
        with db.unit_of_work() as session:
            stored = ResourceService(session, BASE).create("Patient", patient(i))
            ref = f"Patient/{stored.rid}"
            audit(
                session,
                variant,
                log.events.rest(CLINICIAN, "create", resources=[ref], patients=[ref]),
            )
        ids.append(stored.rid)

    def read(variant: str, i: int) -> None:
        rid = ids[i % len(ids)]
        with db.unit_of_work() as session:
            ResourceService(session, BASE).read("Patient", rid)
            ref = f"Patient/{rid}"
            audit(
                session, variant, log.events.rest(POLICE, "read", resources=[ref], patients=[ref])
            )

    out: dict[str, Any] = {}
    for name, run, variants in (
        ("create Patient", create, VARIANTS),
        ("read Patient", read, READ_VARIANTS),
    ):
        for i in range(30):  # warm up pools, caches and the statement cache
            for variant in variants:
                run(variant, i)
        times: dict[str, list[float]] = {v: [] for v in variants}
        cpu: dict[str, float] = dict.fromkeys(variants, 0.0)
        for i in range(rounds):
            order = variants if i % 2 == 0 else tuple(reversed(variants))
            for variant in order:
                began, began_cpu = time.perf_counter(), time.process_time()
                run(variant, i)
                times[variant].append(time.perf_counter() - began)
                cpu[variant] += time.process_time() - began_cpu
        base = statistics.median(times["no audit"])
        result: dict[str, Any] = {}
        for variant in variants:
            median = statistics.median(times[variant])
            overhead = median / base - 1
            mark = ""
            if variant != "no audit":
                verdict = "OK" if overhead <= OVERHEAD_BUDGET else "over budget"
                mark = f"  {overhead * 100:+6.1f} % ({verdict})"
            per_cpu = cpu[variant] / rounds * 1e3
            print(f"  {name} {variant:25s} {ms(times[variant])}  client CPU {per_cpu:.2f} ms{mark}")
            result[variant] = {"median_ms": median * 1e3, "overhead": overhead, "cpu_ms": per_cpu}
        out[name] = result
    print(f"  (budget: audit adds <= {OVERHEAD_BUDGET * 100:.0f} % to the median)")
    return {"ids": ids, **out}


def concurrent_reads(
    db: Database, log: AuditLog, ids: list[str], threads: int, seconds: float, rounds: int
) -> dict[str, Any]:
    """``threads`` clients reading Patients back to back, each read its own unit of work, for
    ``seconds`` per variant and round (variants interleaved); requests/s and per-read latency."""
    variants = ("no audit", "audit", "audit, pipelined commit")

    def one(variant: str, rid: str) -> None:
        with db.unit_of_work() as session:
            ResourceService(session, BASE).read("Patient", rid)
            if variant == "no audit":
                return
            if variant == "audit, pipelined commit":
                mark_read_only(session)
            ref = f"Patient/{rid}"
            log.append(session, log.events.rest(POLICE, "read", resources=[ref], patients=[ref]))

    def run(variant: str) -> tuple[int, list[float]]:
        stop = time.monotonic() + seconds
        latencies: list[list[float]] = [[] for _ in range(threads)]

        def worker(n: int) -> None:
            i = n
            while time.monotonic() < stop:
                began = time.perf_counter()
                one(variant, ids[i % len(ids)])
                latencies[n].append(time.perf_counter() - began)
                i += threads

        pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        flat = [x for per in latencies for x in per]
        return len(flat), flat

    totals: dict[str, list[float]] = {v: [] for v in variants}
    counts = dict.fromkeys(variants, 0)
    run("audit, pipelined commit")  # warm up the connections and prepared statements
    for r in range(rounds):
        for variant in variants if r % 2 == 0 else tuple(reversed(variants)):
            n, flat = run(variant)
            counts[variant] += n
            totals[variant].extend(flat)
    base_rate = counts["no audit"] / (seconds * rounds)
    base_median = statistics.median(totals["no audit"])
    out: dict[str, Any] = {}
    for variant in variants:
        rate = counts[variant] / (seconds * rounds)
        median = statistics.median(totals[variant])
        mark = ""
        if variant != "no audit":
            slower = median / base_median - 1
            verdict = "OK" if slower <= OVERHEAD_BUDGET else "over budget"
            mark = f"  latency {slower * 100:+6.1f} %, rate {(rate / base_rate - 1) * 100:+6.1f} % ({verdict})"
        print(
            f"  {threads} readers, {variant:25s} {rate:7,.0f} reads/s  {ms(totals[variant])}{mark}"
        )
        out[variant] = {
            "rate": rate,
            "median_ms": median * 1e3,
            "p99_ms": pct(totals[variant], 0.99) * 1e3,
        }
    return out


# ---- 2. concurrency ------------------------------------------------------------------------------
def concurrent_appends(db: Database, log: AuditLog, threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        while time.monotonic() < stop:
            with db.unit_of_work() as session:
                ref = f"Patient/t{n}-{done[n]}"
                log.append(
                    session, log.events.rest(POLICE, "read", resources=[ref], patients=[ref])
                )
            done[n] += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    rate = sum(done) / seconds
    print(f"  {threads} threads appending (each its own transaction): {rate:,.0f} events/s")
    return rate


# ---- 3. checkpoints ------------------------------------------------------------------------------
def checkpoints(db: Database, log: AuditLog) -> dict[str, float]:
    assert log.signer is not None
    text = Checkpoint(log.origin, 1_000_000, hashlib.sha256(b"x").digest()).text()
    n = 2000
    began = time.perf_counter()
    for _ in range(n):
        log.signer.sign(text)
    sign_us = (time.perf_counter() - began) / n * 1e6
    checkpoint(db, log.signer)
    insert_synthetic(db, 10_000, sequenced=False)
    began, began_cpu = time.perf_counter(), time.process_time()
    sequence(db)
    sequenced, sequenced_cpu = time.perf_counter() - began, time.process_time() - began_cpu
    began = time.perf_counter()
    signed = checkpoint(db, log.signer)
    whole = time.perf_counter() - began
    print(f"  Ed25519 signature of a checkpoint note: {sign_us:.0f} µs")
    print(
        f"  sequencing 10,000 new events (indexes, leaf hashes, AuditEvent copies with their "
        f"search index): {sequenced:.2f} s = {10_000 / sequenced:,.0f} events/s "
        f"(gateway process CPU {sequenced_cpu / 10_000 * 1e6:.0f} µs per event)"
    )
    print(f"  then a checkpoint over them (tree, stored nodes, signature): {whole:.2f} s")
    print(f"    (log size now {signed.size})")
    return {"sign_us": sign_us, "sequence_10k_s": sequenced, "checkpoint_10k_s": whole}


# ---- 4. 1M events --------------------------------------------------------------------------------
def template() -> tuple[bytes, dict[str, Any]]:
    log_events = AuditLog.from_settings(
        Settings(database_url=URL, base_url="http://bench.example", key_dir=KEY_DIR)
    ).events
    event = log_events.rest(
        POLICE, "read", resources=["Patient/PATIENT_ID"], patients=["Patient/PATIENT_ID"]
    )
    event["id"] = "EVENT_ID"
    body = canonical_json(event).replace(b"%", b"%%")
    body = body.replace(b"EVENT_ID", b"%(e)s").replace(b"PATIENT_ID", b"%(p)s")
    return body, derive({**event, "id": "x"}).columns()


def synthetic_bodies(start: int, count: int) -> list[bytes]:
    body, _ = TEMPLATE
    return [
        body % {b"e": b"%08x-bench-4000-8000-%012x" % (i, i), b"p": b"p%d" % (i % 250_000)}
        for i in range(start, start + count)
    ]


def insert_synthetic(
    db: Database, count: int, *, sequenced: bool, start: int | None = None
) -> None:
    """COPY ``count`` events into audit_leaf (sequenced ones with their index and leaf hash)."""
    _, columns = TEMPLATE
    dsn = URL.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(dsn) as conn:
        if start is None:
            start = conn.execute("SELECT coalesce(max(seq), 0) FROM audit_leaf").fetchone()[0]
        first_index = conn.execute("SELECT coalesce(max(idx) + 1, 0) FROM audit_leaf").fetchone()[0]
        names = ["seq", "idx", "event_id", "body", "leaf_hash", "recorded", "kind", "action"]
        names += ["outcome", "agency", "client_id", "username", "purpose", "disclosure"]
        names += ["recipient", "what"]
        fixed = [columns[k] for k in names[5:]]
        fixed[0] = time.time()
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY audit_leaf ({', '.join(names)}) FROM STDIN") as cp,
        ):
            for chunk in range(0, count, 50_000):
                bodies = synthetic_bodies(start + chunk, min(50_000, count - chunk))
                for j, body in enumerate(bodies):
                    n = start + chunk + j
                    index = first_index + chunk + j
                    leaf = leaf_bytes(body, index)
                    cp.write_row(
                        (
                            n + 1,
                            index if sequenced else None,
                            f"bench-{uuid.UUID(int=n)}",
                            body,
                            hashlib.sha256(b"\x00" + leaf).digest() if sequenced else None,
                            *fixed,
                        )
                    )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('audit_leaf', 'seq'), max(seq)) FROM audit_leaf"
        )
        conn.commit()
        with psycopg.connect(dsn, autocommit=True) as c2:
            c2.execute("ANALYZE audit_leaf")


def pure_pipeline(count: int) -> tuple[float, float]:
    """The verification loop (``scan_rows``: leaf hashing, stored-hash check, tree) over rows
    already in memory: verification without the database. Returns events/s of wall and CPU time."""
    total = total_cpu = 0.0
    chunk = 1 << 17  # aligned blocks, as the verifier's workers get them
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        bodies = synthetic_bodies(start, size)
        rows = [
            (start + i, body, hashlib.sha256(leaf_bytes(body, start + i)).digest())
            for i, body in enumerate(bodies)
        ]
        began, began_cpu = time.perf_counter(), time.process_time()
        scan_rows(rows, start, start + size, ())
        total += time.perf_counter() - began
        total_cpu += time.process_time() - began_cpu
    return count / total, count / total_cpu


def read_pass(count: int) -> float:
    """Only reading the leaves out of PostgreSQL (``read_leaves``), nothing computed."""
    began = time.perf_counter()
    n = sum(1 for _ in read_leaves(URL, 0, count))
    return n / (time.perf_counter() - began)


def million(db: Database, log: AuditLog, count: int, *, load: bool = True) -> dict[str, float]:
    assert log.signer is not None
    out: dict[str, float] = {}
    if load:
        began = time.perf_counter()
        insert_synthetic(db, count, sequenced=True)
        print(f"  wrote {count:,} events with COPY in {time.perf_counter() - began:.0f} s")
        began = time.perf_counter()
        checkpoint(db, log.signer)
        out["first_checkpoint_s"] = first = time.perf_counter() - began
        print(f"  first checkpoint over the backlog (stores ~{2 * count:,} nodes): {first:.0f} s")
    signed = checkpoint(db, log.signer)
    for jobs in (1, 2):
        began_cpu = time.process_time()
        report = verify_log(db, log.signer.verifier, jobs=jobs)
        used = time.process_time() - began_cpu
        assert report.ok, report.summary()
        rate = report.entries / report.seconds
        out[f"verify_jobs{jobs}"] = rate
        cpu = (
            f", verifier process CPU {report.entries / used:,.0f} events/CPU-s" if jobs == 1 else ""
        )
        print(
            f"  verify end to end from PostgreSQL, {jobs} process(es): {report.entries:,} events, "
            f"{report.seconds:.1f} s = {rate:,.0f} events/s (budget {VERIFY_BUDGET:,.0f}, ratio "
            f"{rate / VERIFY_BUDGET:.2f}){cpu}"
        )
    reading = read_pass(signed.size)
    out["read_pass"] = reading
    print(f"  of which reading the leaves out of PostgreSQL alone: {reading:,.0f} events/s")
    pure, pure_cpu = pure_pipeline(signed.size)
    out["pure"], out["pure_cpu"] = pure, pure_cpu
    print(
        f"  verification pipeline without the database (leaf hash, stored-hash check, tree over "
        f"rows in memory): {pure:,.0f} events/s (ratio {pure / VERIFY_BUDGET:.2f}); "
        f"{pure_cpu:,.0f} events per CPU-second (ratio {pure_cpu / VERIFY_BUDGET:.2f})"
    )
    return out


KEY_DIR = Path(tempfile.gettempdir()) / "gw-bench-audit-keys"
TEMPLATE: tuple[bytes, dict[str, Any]] = (b"", {})


def main() -> None:
    global TEMPLATE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=400, help="latency samples per variant")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--latency-only", action="store_true", help="sections 1, 1b and 2 only")
    parser.add_argument("--readers", type=int, default=16, help="concurrent readers in 1b")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per variant in 1b")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--verify-only", action="store_true", help="only section 4, on the database kept before"
    )
    args = parser.parse_args()
    if not args.verify_only:
        fresh_database()
    TEMPLATE = template()
    settings = Settings(database_url=URL, base_url="http://bench.example", key_dir=KEY_DIR)
    log = AuditLog.from_settings(settings)
    db = Database(URL, pool_size=20)
    print(f"audit log benchmark on {NAME}; one event is {len(TEMPLATE[0])} bytes of canonical JSON")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    try:
        if not (args.skip_latency or args.verify_only):
            print("1. audit cost per request (same unit of work with and without the append)")
            ids = latency(db, log, args.rounds)["ids"]
            print(
                f"1b. audit cost on concurrent reads ({args.readers} clients, {args.seconds:g} s x 3)"
            )
            concurrent_reads(db, log, ids, args.readers, args.seconds, 3)
            print("2. concurrent appends")
            concurrent_appends(db, log, 16, 5.0)
        if args.latency_only:
            return
        if not args.verify_only:
            print("3. checkpoints")
            checkpoints(db, log)
        print(f"4. verification over {args.events:,} events")
        million(db, log, args.events, load=not args.verify_only)
    finally:
        print(f"load average at end: {os.getloadavg()[0]:.1f}")
        db.dispose()
        if not (args.keep or args.verify_only):
            drop_database()


if __name__ == "__main__":
    main()
