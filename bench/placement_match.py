"""Placement ``$match`` benchmark: the national facility list plus synthetic units to 10,000.

Budget (DESIGN.md): placement match over the full national facility list plus synthetic units to
10,000 services, p99 <= 20 ms.

1. Creates (or, with ``--keep``, reuses) the PostgreSQL database ``gw_bench_placement`` (or a SQLite
   file with ``--sqlite``), migrates it and loads, through the gateway's own service layer, the open
   psychiatric hospitals of ``../shared/data/facilities/hifld_hospitals.csv`` (Organization, Location,
   default unit) and synthetic units (random bed type, criteria and census) on random facilities until
   there are ``--units`` HealthcareServices.
2. In-process: builds the unit index, then times ``--requests`` random requests end to end (parse
   the Parameters, catch the index up with the database, match, render the Bundle) and the matcher
   alone; again with census churn (a census write every 10th request, so the index patches rows);
   and with ``explain=true`` (every excluded unit listed).
3. Over HTTP: starts ``uvicorn`` (``--workers``) on 127.0.0.1 with the placement routes installed
   and drives ``POST /fhir/ServiceRequest/$match`` with ``--clients`` keep-alive connections for
   ``--duration`` seconds (after ``--warmup``), each request a random Parameters body.

Prints p50/p90/p99 and the ratio to the budget for each, and writes ``bench/results/placement-*.json``.

    .venv/bin/python bench/placement_match.py                 # PostgreSQL, 10,000 units
    .venv/bin/python bench/placement_match.py --sqlite --keep # SQLite file var/bench-placement.db
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import crud_search  # shares its server helpers (free port, worker pids, CPU seconds)
import http_load
import orjson

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
HIFLD = ROOT.parent / "shared" / "data" / "facilities" / "hifld_hospitals.csv"
PG_SERVER = os.environ.get(
    "GATEWAY_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
DB_NAME = "gw_bench_placement"
BUDGET_P99_MS = 20.0
FHIR_BASE_FALLBACK = "http://127.0.0.1:8000/fhir"


def make_app() -> Any:
    """The gateway app with the placement routes (uvicorn ``--factory`` target)."""
    from gateway.app import create_app
    from gateway.placement.directory_endpoints import install

    app = create_app()
    if not any(getattr(r, "path", "") == "/fhir/ServiceRequest/$match" for r in app.router.routes):
        install(app)  # until gateway/app.py wires them
    return app


# ---- database -----------------------------------------------------------------------------------
def database_url(args: argparse.Namespace) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if args.sqlite:
        path = ROOT / "var" / "bench-placement.db"
        path.parent.mkdir(exist_ok=True)
        if not args.keep and path.exists():
            path.unlink()
        return f"sqlite:///{path}"
    server = make_url(PG_SERVER)
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME}
        ).first()
        if exists and not args.keep:
            conn.execute(text(f'DROP DATABASE "{DB_NAME}" WITH (FORCE)'))
            exists = None
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    return server.set(database=DB_NAME).render_as_string(hide_password=False)


def drop_database(args: argparse.Namespace) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if args.sqlite or args.keep:
        return
    admin = create_engine(make_url(PG_SERVER), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    admin.dispose()


def synthetic_unit(
    rng: random.Random, n: int, facility: dict[str, Any], now: float
) -> dict[str, Any]:
    """A random unit on ``facility`` (an Organization/Location pair already stored)."""
    from gateway.placement import census, directory, directory_write
    from gateway.placement import profiles as p

    bed = rng.choice(list(p.BED_TYPES))
    rid = facility["id"]
    doc: dict[str, Any] = {
        "resourceType": "HealthcareService",
        "id": f"bench-unit-{n:05d}",
        "active": rng.random() > 0.02,
        "providedBy": {"reference": f"Organization/{rid}", "display": facility["name"]},
        "type": [{"coding": [{"system": p.BED_TYPE_SYSTEM, "code": bed}]}],
        "location": [{"reference": f"Location/{rid}"}],
        "name": f"{facility['name']} - {p.BED_TYPES[bed]} {n}",
    }
    changes: dict[str, Any] = {
        "payers": rng.sample(list(p.PAYERS), rng.randint(1, 4)) if rng.random() < 0.7 else None,
        "acceptsInvoluntary": rng.random() < 0.7 if rng.random() < 0.7 else None,
        "securityLevel": rng.choice(list(p.SECURITY_LEVELS)) if rng.random() < 0.6 else None,
        "medicalAcuity": rng.choice(list(p.ACUITY_LEVELS)) if rng.random() < 0.6 else None,
        "acceptsAggression": rng.random() < 0.5 if rng.random() < 0.5 else None,
        "requiresMedicalClearance": rng.random() < 0.6 if rng.random() < 0.6 else None,
        "specialties": rng.sample(list(p.SPECIALTIES), rng.choice([0, 0, 1, 2])) or None,
        "languages": rng.sample(["en", "es", "vi", "zh"], rng.randint(1, 2))
        if rng.random() < 0.4
        else None,
        "cadenceMinutes": rng.choice([240, 480, 720]),
    }
    if rng.random() < 0.5:
        changes["ageRange"] = {"low": rng.choice([0, 12, 18]), "high": rng.choice([17, 64, None])}
        if (
            changes["ageRange"]["high"] is not None
            and changes["ageRange"]["low"] > changes["ageRange"]["high"]
        ):
            changes["ageRange"]["low"] = 0
    doc = directory_write.apply_criteria(doc, changes)
    if rng.random() < 0.85:
        free = rng.randint(0, 12)
        cen = directory.Census(
            free, free + rng.randint(0, 20), float(int(now - rng.uniform(0, 16) * 3600)), "unit"
        )
        doc = directory_write.replace_extensions(doc, {p.CENSUS}, [census.census_extension(cen)])
    return doc


def load(url: str, units: int, seed: int) -> dict[str, Any]:
    """Load the national list and synthetic units (skipped when already there); return counts."""
    from sqlalchemy import func, select
    from tqdm import tqdm

    from gateway.db.migrate import upgrade
    from gateway.db.session import Database
    from gateway.db.tables import ResourceRow
    from gateway.fhir.service import ResourceService
    from gateway.placement.directory_hifld import facility_resources, read_hifld
    from gateway.placement.facilities_cli import import_rows

    upgrade(url)
    db = Database(url, pool_size=2)
    started = time.perf_counter()
    rows, _ = read_hifld(HIFLD)
    facilities = [facility_resources(r)[0] for r in rows]

    def count() -> int:
        with db.unit_of_work() as session:
            q = (
                select(func.count())
                .select_from(ResourceRow)
                .where(ResourceRow.rtype == "HealthcareService")
            )
            return int(session.execute(q).scalar_one())

    have = count()
    if have < len(rows):
        with db.unit_of_work() as session:
            import_rows(
                ResourceService(session, FHIR_BASE_FALLBACK), tqdm(rows, desc="national list")
            )
        have = count()
    rng, now = random.Random(seed), time.time()
    bar = tqdm(total=max(0, units - have), desc="synthetic units")
    n = have
    while n < units:
        with db.unit_of_work() as session:
            svc = ResourceService(session, FHIR_BASE_FALLBACK)
            for _ in range(min(500, units - n)):
                doc = synthetic_unit(rng, n, rng.choice(facilities), now)
                svc.update("HealthcareService", doc["id"], doc)
                n += 1
                bar.update()
    bar.close()
    db.dispose()
    return {
        "facilities": len(rows),
        "units": count(),
        "load_seconds": time.perf_counter() - started,
    }


# ---- requests -----------------------------------------------------------------------------------
def random_parameters(
    rng: random.Random, origins: list[tuple[float, float]], explain: bool = False
) -> dict[str, Any]:
    """A placement request as a crisis team would send it (origin near a real facility)."""
    from gateway.placement import profiles as p

    lat, lon = rng.choice(origins)
    parts: list[dict[str, Any]] = [
        {"name": "latitude", "valueDecimal": round(lat + rng.uniform(-0.5, 0.5), 4)},
        {"name": "longitude", "valueDecimal": round(lon + rng.uniform(-0.5, 0.5), 4)},
        {"name": "age", "valueInteger": rng.randint(8, 85)},
        {"name": "sex", "valueCode": rng.choice(["male", "female"])},
        {"name": "payer", "valueCode": rng.choice(list(p.PAYERS))},
        {"name": "count", "valueInteger": 20},
    ]
    if rng.random() < 0.7:
        parts.append({"name": "maxDistance", "valueDecimal": rng.choice([100, 200, 400, 800])})
    if rng.random() < 0.5:
        parts.append({"name": "bedType", "valueCode": rng.choice(list(p.BED_TYPES))})
    if rng.random() < 0.4:
        parts.append({"name": "involuntary", "valueBoolean": True})
    if rng.random() < 0.3:
        parts.append({"name": "securityLevel", "valueCode": "locked"})
    if rng.random() < 0.2:
        parts.append({"name": "language", "valueCode": "es"})
    if explain:
        parts.append({"name": "explain", "valueBoolean": True})
    return {"resourceType": "Parameters", "parameter": parts}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def summary(name: str, ms: list[float], **extra: Any) -> dict[str, Any]:
    row = {
        "scenario": name,
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 3),
        "p90_ms": round(pct(ms, 90), 3),
        "p99_ms": round(pct(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "p99_vs_budget": round(pct(ms, 99) / BUDGET_P99_MS, 3),
        **extra,
    }
    print(
        f"{name:<44} n={row['n']:>6}  p50 {row['p50_ms']:>7.2f} ms  p90 {row['p90_ms']:>7.2f}  "
        f"p99 {row['p99_ms']:>7.2f} ms  ({row['p99_vs_budget']:.2f} x budget)"
        + "".join(f"  {k}={v}" for k, v in extra.items())
    )
    return row


def in_process(
    url: str, args: argparse.Namespace, origins: list[tuple[float, float]]
) -> list[dict[str, Any]]:
    """Time the matcher in this process: end to end, matcher alone, with census churn, explain."""
    from gateway.db.session import Database
    from gateway.fhir.service import ResourceService
    from gateway.placement.census import set_unit_census
    from gateway.placement.match_bundle import match_bundle
    from gateway.placement.match_index import UnitIndex
    from gateway.placement.match_request import read_request
    from gateway.placement.matching import match

    db = Database(url, pool_size=2)
    index = UnitIndex(db)
    started = time.perf_counter()
    snap = index.snapshot()
    load_ms = (time.perf_counter() - started) * 1000
    print(f"index: {len(snap)} units loaded in {load_ms:.0f} ms")
    rng = random.Random(args.seed)
    bodies = [random_parameters(rng, origins) for _ in range(args.requests)]
    rows = []

    cpu: list[float] = []

    def end_to_end(body: dict[str, Any]) -> tuple[float, int]:
        t0, c0 = time.perf_counter(), time.thread_time()
        now = time.time()
        req = read_request(body, [], now)
        result = match(index.snapshot(), req, now)
        match_bundle(FHIR_BASE_FALLBACK, req, result)
        cpu.append((time.thread_time() - c0) * 1000)
        return (time.perf_counter() - t0) * 1000, result.total

    for body in bodies[:50]:
        end_to_end(body)  # warm-up
    cpu.clear()
    timed = [end_to_end(b) for b in bodies]
    ms, totals = [t for t, _ in timed], [n for _, n in timed]
    rows.append(
        summary(
            "in-process $match (parse+catch-up+match+Bundle)",
            ms,
            median_matches=statistics.median(totals),
            index_load_ms=round(load_ms),
            cpu_p50_ms=round(pct(cpu, 50), 3),
            cpu_p99_ms=round(pct(cpu, 99), 3),
        )
    )
    reqs = [read_request(b, [], time.time()) for b in bodies]
    snap, now = index.snapshot(), time.time()
    alone, alone_cpu = [], []
    for req in reqs:
        t0, c0 = time.perf_counter(), time.thread_time()
        match(snap, req, now)
        alone.append((time.perf_counter() - t0) * 1000)
        alone_cpu.append((time.thread_time() - c0) * 1000)
    rows.append(
        summary(
            "in-process matcher alone",
            alone,
            cpu_p50_ms=round(pct(alone_cpu, 50), 3),
            cpu_p99_ms=round(pct(alone_cpu, 99), 3),
        )
    )
    unit_ids = [r.unit_id for r in snap.records if r.live]
    churn = []
    for i, body in enumerate(bodies[: max(200, args.requests // 2)]):
        if i % 10 == 0:
            with db.unit_of_work() as session:
                set_unit_census(
                    ResourceService(session, FHIR_BASE_FALLBACK),
                    rng.choice(unit_ids),
                    rng.randint(0, 9),
                )
        churn.append(end_to_end(body)[0])
    rows.append(summary("in-process $match, census write every 10th", churn))
    explain_bodies = [
        random_parameters(rng, origins, explain=True) for _ in range(max(50, args.requests // 10))
    ]
    rows.append(
        summary(
            "in-process $match explain=true (all excluded)",
            [end_to_end(b)[0] for b in explain_bodies],
        )
    )
    db.dispose()
    return rows


def over_http(
    url: str, args: argparse.Namespace, origins: list[tuple[float, float]]
) -> dict[str, Any]:
    """Start uvicorn with the placement routes and drive $match with concurrent clients."""
    from gateway.auth.keys import KeyStore
    from gateway.auth.tokens import TokenService

    port = crud_search.free_port()
    base = f"http://127.0.0.1:{port}"
    key_dir = Path(tempfile.mkdtemp(prefix="bench-placement-keys-"))
    keys = KeyStore(key_dir)
    keys.load()
    env = dict(
        os.environ, GATEWAY_DATABASE_URL=url, GATEWAY_BASE_URL=base, GATEWAY_KEY_DIR=str(key_dir)
    )
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "placement_match:make_app",
        "--factory",
        "--app-dir",
        str(ROOT / "bench"),
    ]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)]
    cmd += ["--no-access-log", "--log-level", "warning"]
    log = key_dir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while not http_load.run(http_load.get_ok("127.0.0.1", port, "/fhir/metadata")):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        tokens = TokenService(keys, issuer=base, audience=f"{base}/fhir")
        token = tokens.issue(
            client_id="bench-placement",
            agency="bench-crisis-team",
            role="crisis_team_system",
            scope="system/HealthcareService.rs",
            purposes=["TREAT"],
        )["access_token"]
        rng = random.Random(args.seed + 1)
        bodies = [orjson.dumps(random_parameters(rng, origins)) for _ in range(2000)]
        workers = [proc.pid, *crud_search.worker_pids(proc)]
        pick = random.Random(args.seed + 2)

        def make() -> tuple[str, str, bytes | None]:
            return "POST", "/fhir/ServiceRequest/$match", pick.choice(bodies)

        cpu_before = crud_search.cpu_seconds(workers)
        outcome = http_load.run(
            http_load.run_scenario(
                "$match over HTTP",
                make,
                host="127.0.0.1",
                port=port,
                clients=args.clients,
                duration=args.duration,
                warmup=args.warmup,
                sample_every=50,
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        cpu_after = crud_search.cpu_seconds(workers)
        server_cpu = sum(t - cpu_before.get(pid, 0.0) for pid, t in cpu_after.items())
        if outcome.errors:
            print(f"errors: {outcome.errors} (first: {outcome.first_error})")
        return summary(
            f"HTTP $match, {args.clients} clients, {args.workers} workers",
            outcome.latencies_ms,
            rps=round(outcome.rps, 1),
            errors=outcome.errors,
            server_cpu_ms_per_request=round(1000 * server_cpu / max(1, outcome.requests), 2),
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=10_000, help="HealthcareServices in all")
    parser.add_argument("--requests", type=int, default=2000, help="in-process requests")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead of PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the database")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    if not HIFLD.is_file():
        sys.exit(f"{HIFLD} is not there (the shared data folder sits beside the project)")
    url = database_url(args)
    load_before = os.getloadavg()
    try:
        counts = load(url, args.units, args.seed)
        print(f"database: {'SQLite' if args.sqlite else 'PostgreSQL'}; {counts}")
        from gateway.placement.directory_hifld import read_hifld

        origins = [(float(r["LATITUDE"]), float(r["LONGITUDE"])) for r in read_hifld(HIFLD)[0]]
        rows = in_process(url, args, origins)
        if not args.no_http:
            rows.append(over_http(url, args, origins))
    finally:
        drop_database(args)
    load_after = os.getloadavg()
    print(f"machine load average (1 min) before/after: {load_before[0]:.1f} / {load_after[0]:.1f}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"placement-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "budget_p99_ms": BUDGET_P99_MS,
                "counts": counts,
                "cpus": os.cpu_count(),
                "load_average": [load_before[0], load_after[0]],
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"\nwritten {out.relative_to(ROOT)}\n")
    print("| scenario | p50 ms | p99 ms | p99 / 20 ms |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['scenario']} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | {row['p99_vs_budget']:.2f} |"
        )


if __name__ == "__main__":
    main()
