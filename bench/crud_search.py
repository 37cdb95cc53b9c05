"""CRUD and search benchmark of the FHIR store on PostgreSQL, against the budgets in DESIGN.md.

For each size it creates (or, with --keep, reuses) a PostgreSQL database ``<prefix>_<size>``, loads
that many synthetic resources through the gateway's own service layer, starts the real server
(``uvicorn gateway.asgi:app --workers 2``) and drives it with concurrent keep-alive HTTP clients over
loopback, one scenario at a time. It prints requests/s and p50/p90/p99 per scenario with the ratio
to the budget, the 1M/10k latency ratio for searches, writes
``bench/results/crud_search-<timestamp>.json`` and prints a Markdown table for ``bench/README.md``.

    .venv/bin/python bench/crud_search.py --sizes 10000 1000000 --clients 32 --duration 20 --keep 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import fhir_data
import http_load
import httpx
import orjson
import psycopg
import smart_client
import spy

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"

READ_RPS, READ_P99 = 1500.0, 25.0  # DESIGN.md: GET /fhir/Patient/{id} at 32 clients
SEARCH_P50, SEARCH_GROWTH = 20.0, 1.5  # DESIGN.md: search over 1M, and 1M vs 10k
SEARCHES = (
    "search Patient?family",
    "search Patient?identifier",
    "search Observation?subject",
    "search Observation?code&date",
    "search Patient?birthdate&gender",
)
SCENARIOS = ("read Patient", *SEARCHES, "create Patient")


# ---- databases ------------------------------------------------------------------------------
def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(ADMIN_DSN, autocommit=True)


def db_exists(name: str) -> bool:
    with _admin() as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def drop_db(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sa_url(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def dsn(name: str) -> str:
    return ADMIN_DSN.replace("dbname=postgres", f"dbname={name}")


def prepare_database(name: str, size: int, args: argparse.Namespace, keep: bool) -> dict[str, Any]:
    """Create/migrate/load ``name`` up to ``size`` resources; return what was done."""
    from gateway.db.migrate import upgrade

    if db_exists(name) and not keep:
        print(f"[{name}] dropping the database left by an earlier run (no --keep for this size)")
        drop_db(name)
    if not db_exists(name):
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        print(f"[{name}] created")
    upgrade(sa_url(name))
    with _admin() as conn:
        # A pathological search must not keep a backend busy for minutes after its client has
        # given up (that would slow every later scenario): the server then answers with an error.
        conn.execute(
            f"ALTER DATABASE \"{name}\" SET statement_timeout = '{args.statement_timeout}s'"
        )
    with psycopg.connect(dsn(name), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_load (batch integer PRIMARY KEY, "
            "resources integer NOT NULL, seed integer NOT NULL, batch_size integer NOT NULL)"
        )
        done = conn.execute("SELECT batch, resources, seed, batch_size FROM bench_load").fetchall()
    for _, _, seed, batch_size in done[:1]:
        if (seed, batch_size) != (args.seed, args.batch_size):
            sys.exit(
                f"{name} was loaded with --seed {seed} --batch-size {batch_size}; use those, or drop "
                f"it (DROP DATABASE {name}) to load afresh"
            )
    sizes = fhir_data.batch_sizes(size, args.batch_size)
    have = {row[0]: row[1] for row in done}
    if any(have.get(i, n) != n for i, n in enumerate(sizes)) or max(have, default=-1) >= len(sizes):
        sys.exit(f"{name} holds a load of another size; drop it (DROP DATABASE {name}) first")
    jobs = [(i, n, args.seed, args.batch_size) for i, n in enumerate(sizes) if i not in have]
    info: dict[str, Any] = {"database": name, "reused_resources": sum(have.values())}
    if jobs:
        info["load"] = load(name, jobs, args.load_procs, args.load_minutes)
    info["consents"] = ensure_consents(name)
    if jobs:
        print(f"[{name}] VACUUM ANALYZE ...", flush=True)
        started = time.perf_counter()
        with psycopg.connect(dsn(name), autocommit=True) as conn:
            conn.execute("SET statement_timeout = 0")
            conn.execute("VACUUM ANALYZE")
        info["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
    else:
        print(f"[{name}] reusing {sum(have.values()):,} loaded resources")
    with psycopg.connect(dsn(name), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rtype, count(*) FROM fhir_resource GROUP BY rtype ORDER BY rtype"
        ).fetchall()
        info["stored"] = {r[0]: r[1] for r in rows}
        info["stored_total"] = sum(info["stored"].values())
        info["max_pk"] = conn.execute("SELECT coalesce(max(pk), 0) FROM fhir_resource").fetchone()[
            0
        ]
        info["db_size_mb"] = round(
            conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20
        )
    return info


def ensure_consents(name: str) -> int:
    """One Consent per CONSENT_EVERY of the reading agency's patients (made once, after loading)."""
    from gateway.sharing.profile import agency_uri

    with psycopg.connect(dsn(name), autocommit=True) as conn:
        have = conn.execute(
            "SELECT count(*) FROM fhir_resource WHERE rtype = 'Consent'"
        ).fetchone()[0]
        if have:
            return int(have)
        rows = conn.execute(
            "SELECT res_id FROM fhir_resource WHERE rtype = 'Patient' AND NOT deleted "
            "AND content::jsonb -> 'meta' ->> 'source' = %s ORDER BY pk",
            (agency_uri(fhir_data.READER_AGENCY),),
        ).fetchall()
    ids = [r[0] for r in rows[:: fhir_data.CONSENT_EVERY]]
    made = fhir_data.add_consents(sa_url(name), ids)
    print(f"[{name}] {made} patients have a Consent on file (Organizations for the agencies too)")
    return made


def load(
    name: str, jobs: list[tuple[int, int, int, int]], procs: int, minutes: float | None
) -> dict[str, Any]:
    """Load the missing batches in ``procs`` processes, with a progress bar and ETA.

    With ``minutes``, start no batch after that long (those started finish); a later run with --keep
    carries on from there.
    """
    import multiprocessing

    from tqdm import tqdm

    total = sum(job[1] for job in jobs)
    print(f"[{name}] loading {total:,} resources in {len(jobs)} batches, {procs} processes")
    started = time.perf_counter()
    # Workers skip batches whose turn comes after the deadline; batches already started finish.
    deadline = time.time() + minutes * 60 if minutes is not None else float("inf")
    loaded = 0
    ctx = multiprocessing.get_context("spawn")
    with (
        ctx.Pool(procs, initializer=fhir_data.init_worker, initargs=(sa_url(name),)) as pool,
        tqdm(total=total, unit="res", unit_scale=True, smoothing=0.05, mininterval=2) as bar,
    ):
        for count in pool.imap_unordered(fhir_data.load_batch, [(*j, deadline) for j in jobs]):
            bar.update(count)
            loaded += count
    seconds = time.perf_counter() - started
    rate = loaded / seconds
    print(f"[{name}] loaded {loaded:,} resources in {seconds:,.0f} s: {rate:,.0f} resources/s")
    stopped = loaded < total
    if stopped:
        print(f"[{name}] stopped loading after --load-minutes {minutes}: measuring what is stored")
    return {
        "resources": loaded,
        "seconds": round(seconds, 1),
        "per_second": round(rate, 1),
        "stopped_early": stopped,
    }


def sample_targets(name: str, max_pk: int, rng: random.Random) -> dict[str, Any]:
    """Real values to search for, drawn from stored resources (so every search can match)."""
    from gateway.sharing.profile import agency_uri

    with psycopg.connect(dsn(name)) as conn:
        total = conn.execute("SELECT count(*) FROM fhir_resource").fetchone()[0]
        share = min(100.0, 12000 * 100.0 / max(total, 1))
        rows = conn.execute(
            "SELECT rtype, res_id, content FROM fhir_resource TABLESAMPLE BERNOULLI (%s) "
            "WHERE rtype IN ('Patient', 'Observation') AND pk <= %s AND NOT deleted",
            (share, max_pk),
        ).fetchall()
    # Only records the reading agency holds: the ones its EHR is allowed to read and find.
    mine = agency_uri(fhir_data.READER_AGENCY)
    docs = [(t, rid, orjson.loads(c)) for t, rid, c in rows]
    docs = [d for d in docs if d[2].get("meta", {}).get("source") == mine]
    patients = [(rid, doc) for t, rid, doc in docs if t == "Patient"]
    observations = [doc for t, _, doc in docs if t == "Observation"]
    rng.shuffle(patients)
    rng.shuffle(observations)
    females = [p for _, p in patients if p["gender"] == "female"]
    return {
        "patient_ids": [rid for rid, _ in patients],
        "families": [p["name"][0]["family"] for _, p in patients],
        "identifiers": [
            f"{i['system']}|{i['value']}"
            for i in (rng.choice(p["identifier"]) for _, p in patients)
        ],
        "obs_subjects": [o["subject"]["reference"] for o in observations],
        "obs_codes": [
            f"{o['code']['coding'][0]['system']}|{o['code']['coding'][0]['code']}"
            for o in observations
        ],
        "female_birthdates": [p["birthDate"] for p in females],
    }


# ---- server ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    name: str, port: int, workers: int, log: Path, key_dir: Path, app: str = "gateway.asgi:app"
) -> subprocess.Popen[bytes]:
    from gateway.auth.keys import KeyStore

    KeyStore(key_dir).load()  # the signing key exists before the workers race to make one
    env = dict(os.environ)
    env["GATEWAY_DATABASE_URL"] = sa_url(name)
    env["GATEWAY_BASE_URL"] = f"http://127.0.0.1:{port}"
    env["GATEWAY_KEY_DIR"] = str(key_dir)
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    cmd += ["--log-level", "warning"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        if http_load.run(http_load.get_ok("127.0.0.1", port, "/fhir/metadata")):
            # Every worker must be up before measuring: a few more probes land on all of them.
            time.sleep(1.0)
            return proc
        time.sleep(0.3)
    stop_server(proc)
    sys.exit(f"the server did not answer /fhir/metadata within 90 s:\n{log.read_text()[-3000:]}")


def worker_pids(proc: subprocess.Popen[bytes]) -> list[int]:
    path = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    pids = []
    try:
        for pid in path.read_text().split():
            # Skip multiprocessing's resource tracker: only the uvicorn workers serve requests.
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"resource_tracker" not in cmdline:
                pids.append(int(pid))
    except OSError:
        pass
    return pids


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds each process has used so far (processes that are gone are left out)."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / _TICK
    return out


def backend_pids(name: str) -> list[int]:
    """PostgreSQL backends serving the benchmark database (not other people's tests)."""
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return [r[0] for r in rows]


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def settle(name: str, limit: float) -> None:
    """Wait (at most ``limit`` s) until no backend still runs a statement of the last scenario."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND state = 'active'",
                (name,),
            ).fetchone()[0]
        if not busy:
            return
        time.sleep(1.0)


def stop_server(proc: subprocess.Popen[bytes], workers: list[int] | None = None) -> None:
    """Stop uvicorn, then any worker it left behind (a worker busy in a long request can outlive a
    killed master and keep PostgreSQL busy)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [pid for pid in workers or [] if Path(f"/proc/{pid}").exists()]
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if alive:
            time.sleep(5)


# ---- scenarios ------------------------------------------------------------------------------
def request_makers(targets: dict[str, Any], seed: int) -> dict[str, http_load.RequestMaker]:
    rng = random.Random(seed)
    pick = rng.choice
    serial = iter(range(10**9, 2 * 10**9))  # identifiers far from the loaded ones
    last_day = fhir_data.EPOCH + timedelta(days=fhir_data.SPAN_DAYS)

    def recent() -> str:  # one of the last 90 days of the data
        return (last_day - timedelta(days=rng.randrange(1, 91))).date().isoformat()

    def create() -> tuple[str, str, bytes | None]:
        return "POST", "/fhir/Patient", orjson.dumps(fhir_data.patient(rng, next(serial)))

    return {
        "read Patient": lambda: ("GET", f"/fhir/Patient/{pick(targets['patient_ids'])}", None),
        "search Patient?family": lambda: (
            "GET",
            f"/fhir/Patient?family={quote(pick(targets['families']))}",
            None,
        ),
        "search Patient?identifier": lambda: (
            "GET",
            f"/fhir/Patient?identifier={quote(pick(targets['identifiers']), safe='')}",
            None,
        ),
        "search Observation?subject": lambda: (
            "GET",
            f"/fhir/Observation?subject={quote(pick(targets['obs_subjects']))}",
            None,
        ),
        "search Observation?code&date": lambda: (
            "GET",
            f"/fhir/Observation?code={quote(pick(targets['obs_codes']), safe='')}"
            f"&date=ge{recent()}&_count=20",
            None,
        ),
        "search Patient?birthdate&gender": lambda: (
            "GET",
            f"/fhir/Patient?birthdate={pick(targets['female_birthdates'])}&gender=female",
            None,
        ),
        "create Patient": create,
    }


def budget(name: str, rps: float, p50: float, p99: float) -> tuple[str, str]:
    """(the budget in words, measured/budget ratios)."""
    if name == "read Patient":
        return (
            f">= {READ_RPS:,.0f} req/s, p99 <= {READ_P99:.0f} ms",
            f"{rps / READ_RPS:.2f}x rps, {p99 / READ_P99:.2f}x p99",
        )
    if name in SEARCHES:
        return f"p50 <= {SEARCH_P50:.0f} ms at 1M", f"{p50 / SEARCH_P50:.2f}x p50"
    return "none in DESIGN.md", "-"


def plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(label, scenario, clients) in run order: reads and searches, then writes."""
    out = []
    for scenario in SCENARIOS:
        if args.only and not any(word in scenario for word in args.only):
            continue
        out.append((f"{scenario} @{args.clients}", scenario, args.clients))
        if scenario in SEARCHES and args.serial_clients:
            n = args.serial_clients
            out.append((f"{scenario} @{n}", scenario, n))
    return out


def run_size(size: int, args: argparse.Namespace, stamp: str) -> dict[str, Any]:
    name = f"{args.db_prefix}_{size}"
    keep = args.keep is not None and (not args.keep or size in args.keep)
    info = prepare_database(name, size, args, keep)
    info["kept"] = keep
    targets = sample_targets(name, info["max_pk"], random.Random(args.seed))
    makers = request_makers(targets, args.seed + size)
    client = smart_client.BenchClient()
    client.register(sa_url(name))
    port = args.port or free_port()
    log = Path(tempfile.gettempdir()) / f"{name}-server.log"
    key_dir = Path(tempfile.mkdtemp(prefix=f"{name}-keys-"))
    proc = start_server(name, port, args.workers, log, key_dir, args.app)
    pids = worker_pids(proc)
    print(f"[{name}] server pid {proc.pid}, workers {pids}, port {port}")
    scenarios: dict[str, Any] = {}
    try:
        for label, scenario, clients in plan(args):
            spies = []
            if args.profile and spy.available() and scenario != "create Patient":
                for pid in pids:
                    raw = Path(tempfile.gettempdir()) / f"{name}-{pid}-{len(scenarios)}.txt"
                    spies.append((raw, spy.start(pid, args.warmup + args.duration, raw)))
            settle(name, args.statement_timeout + 5)
            try:  # tokens live 300 s: one per scenario
                token = client.token(f"http://127.0.0.1:{port}")
            except (RuntimeError, httpx.HTTPError) as exc:
                print(f"[{name}] {label}: skipped, no access token ({type(exc).__name__})")
                scenarios[label] = {"scenario": scenario, "clients": clients, "skipped": str(exc)}
                continue
            load_before = os.getloadavg()[0]
            workers_before = cpu_seconds(pids)
            backends_before = cpu_seconds(backend_pids(name))
            out = http_load.run(
                http_load.run_scenario(
                    label,
                    makers[scenario],
                    host="127.0.0.1",
                    port=port,
                    clients=clients,
                    duration=args.duration,
                    warmup=args.warmup,
                    sample_every=10 if scenario in SEARCHES else 0,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=args.statement_timeout + 30,
                )
            )
            workers_cpu = cpu_used(workers_before, cpu_seconds(pids))
            backends_cpu = cpu_used(backends_before, cpu_seconds(backend_pids(name)))
            row = report_row(out)
            # CPU per request over warm-up + measurement: where the server's time goes.
            done = out.requests * (args.warmup + args.duration) / args.duration
            row["cpu_s_total"] = {"gateway_workers": workers_cpu, "postgresql": backends_cpu}
            row["cpu_ms_per_request"] = {
                "gateway_workers": round(1000 * workers_cpu / done, 2) if done else None,
                "postgresql": round(1000 * backends_cpu / done, 2) if done else None,
            }
            row["scenario"], row["clients"] = scenario, clients
            row["loadavg_1m_before"] = round(load_before, 2)
            if spies:
                for _raw, sp in spies:
                    sp.wait()
                merged = Path(tempfile.gettempdir()) / f"{name}-merged.txt"
                merged.write_text("".join(r.read_text() for r, _ in spies if r.exists()))
                row["profile"] = spy.summarize(merged)
            scenarios[label] = row
            words, ratio = budget(scenario, out.rps, row["p50_ms"], row["p99_ms"])
            print(
                f"[{name}] {label:42} {out.rps:8,.0f} req/s  p50 {row['p50_ms']:7.2f}  "
                f"p90 {row['p90_ms']:7.2f}  p99 {row['p99_ms']:7.2f} ms  err {out.errors}  "
                f"cpu/req: gateway {row['cpu_ms_per_request']['gateway_workers']} ms, "
                f"pg {row['cpu_ms_per_request']['postgresql']} ms  "
                f"client cpu {out.client_cpu:.0%}  budget {words}: {ratio}",
                flush=True,
            )
            if out.first_error:
                print(f"    first error: {out.first_error}")
    finally:
        stop_server(proc, pids)
        shutil.rmtree(key_dir, ignore_errors=True)
        # Patients made by the create scenario go away again (index rows and versions cascade).
        with psycopg.connect(dsn(name), autocommit=True) as conn:
            conn.execute("DELETE FROM fhir_resource WHERE pk > %s", (info["max_pk"],))
        if not keep:
            drop_db(name)
            print(f"[{name}] dropped")
    info["scenarios"] = scenarios
    info["server"] = {"workers": args.workers, "port": port}
    return info


def report_row(out: http_load.Outcome) -> dict[str, Any]:
    row: dict[str, Any] = {
        "requests": out.requests,
        "errors": out.errors,
        "seconds": round(out.seconds, 2),
        "rps": round(out.rps, 1),
        "p50_ms": round(out.pct(50), 2),
        "p90_ms": round(out.pct(90), 2),
        "p99_ms": round(out.pct(99), 2),
        "max_ms": round(max(out.latencies_ms, default=float("nan")), 1),
        "statuses": {str(k): v for k, v in sorted(out.statuses.items())},
        "client_cpu_share_of_one_core": round(out.client_cpu, 2),
    }
    if out.totals:
        row["mean_bundle_total"] = round(sum(out.totals) / len(out.totals), 1)
        row["mean_entries"] = round(sum(out.entries) / len(out.entries), 1)
    if out.first_error:
        row["first_error"] = out.first_error
    return row


# ---- report ---------------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    with _admin() as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]
        settings = {
            k: conn.execute(f"SHOW {k}").fetchone()[0]
            for k in ("shared_buffers", "work_mem", "effective_cache_size", "max_connections")
        }
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "postgresql": pg,
        "postgresql_settings": settings,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| stored | scenario | req/s | p50 ms | p90 ms | p99 ms | errors | mean total "
        "| gateway CPU ms/req | PostgreSQL CPU ms/req | budget | vs budget |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for info in result["sizes"].values():
        for scenario, row in info["scenarios"].items():
            if "skipped" in row:
                lines.append(
                    f"| {info['stored_total']:,} | {scenario} | skipped: {row['skipped']} |"
                )
                continue
            words, ratio = budget(row["scenario"], row["rps"], row["p50_ms"], row["p99_ms"])
            cpu = row.get("cpu_ms_per_request", {})
            lines.append(
                f"| {info['stored_total']:,} | {scenario} | {row['rps']:,.0f} | {row['p50_ms']:.1f} | "
                f"{row['p90_ms']:.1f} | {row['p99_ms']:.1f} | {row['errors']} | "
                f"{row.get('mean_bundle_total', '')} | {cpu.get('gateway_workers')} | "
                f"{cpu.get('postgresql')} | {words} | {ratio} |"
            )
    growth = result.get("growth")
    if growth:
        small, large = growth["from"], growth["to"]
        lines += [
            "",
            f"| search | p50 at {small:,} | p50 at {large:,} | p50 ratio (budget <= {SEARCH_GROWTH}) "
            "| p99 ratio |",
            "|---|---:|---:|---:|---:|",
        ]
        for scenario, g in growth["searches"].items():
            lines.append(
                f"| {scenario} | {g['p50_small']:.1f} ms | {g['p50_large']:.1f} ms | "
                f"{g['p50_ratio']:.2f} | {g['p99_ratio']:.2f} |"
            )
    return "\n".join(lines)


def growth(result: dict[str, Any]) -> dict[str, Any] | None:
    sizes = sorted(int(s) for s in result["sizes"])
    if len(sizes) < 2:
        return None
    small, large = result["sizes"][str(sizes[0])], result["sizes"][str(sizes[-1])]
    # Stored counts, not the sizes asked for: a load stopped by --load-minutes holds fewer.
    out: dict[str, Any] = {
        "from": small["stored_total"],
        "to": large["stored_total"],
        "searches": {},
    }
    for label, row in small["scenarios"].items():
        a, b = row, large["scenarios"].get(label)
        if a["scenario"] in SEARCHES and b and "p50_ms" in a and "p50_ms" in b:
            out["searches"][label] = {
                "p50_small": a["p50_ms"],
                "p50_large": b["p50_ms"],
                "p50_ratio": round(b["p50_ms"] / a["p50_ms"], 2),
                "p99_ratio": round(b["p99_ms"] / a["p99_ms"], 2),
            }
    return out


def save(result: dict[str, Any], stamp: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"crud_search-{stamp}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument(
        "--serial-clients",
        type=int,
        default=1,
        help="also run each search with this many clients (latency without queueing); 0: don't",
    )
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds/scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds first")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument("--load-procs", type=int, default=2, help="loader processes")
    parser.add_argument(
        "--load-minutes",
        type=float,
        help="stop loading a size after this long and measure what is stored (resume with --keep)",
    )
    parser.add_argument(
        "--statement-timeout",
        type=int,
        default=30,
        help="PostgreSQL statement_timeout (s) set on the benchmark databases",
    )
    parser.add_argument("--batch-size", type=int, default=3000, help="resources per transaction")
    parser.add_argument("--seed", type=int, default=20260101)
    parser.add_argument("--db-prefix", default="gw_bench")
    parser.add_argument(
        "--keep",
        type=int,
        nargs="*",
        help="keep (and reuse) the databases of these sizes; with no sizes, of all sizes",
    )
    parser.add_argument("--only", nargs="+", help="run only scenarios containing these words")
    parser.add_argument(
        "--app",
        default="gateway.asgi:app",
        help="ASGI app to serve; bench.asgi_scopes_only:app measures without the sharing rules",
    )
    parser.add_argument("--profile", action="store_true", help="sample the workers with py-spy")
    parser.add_argument(
        "--load-only", action="store_true", help="load (and keep) the databases, then stop"
    )
    args = parser.parse_args()
    if args.profile and not spy.available():
        sys.exit("--profile needs py-spy: .venv/bin/pip install py-spy")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    result: dict[str, Any] = {
        "started": stamp,
        "machine": machine(),
        "args": {k: v for k, v in vars(args).items()},
        "loadavg_at_start": os.getloadavg(),
        "sizes": {},
    }
    print(json.dumps(result["machine"]))
    for size in sorted(args.sizes):
        if args.load_only:
            info = prepare_database(f"{args.db_prefix}_{size}", size, args, keep=True)
            print(json.dumps(info))
            continue
        result["sizes"][str(size)] = run_size(size, args, stamp)
        save(result, stamp)  # after every size, so a later failure keeps what was measured
    if args.load_only:
        return
    result["growth"] = growth(result)
    result["loadavg_at_end"] = os.getloadavg()
    path = save(result, stamp)
    if result["growth"]:
        for scenario, g in result["growth"]["searches"].items():
            verdict = "ok" if g["p50_ratio"] <= SEARCH_GROWTH else "OVER"
            print(
                f"{scenario:34} p50 {g['p50_small']:.2f} -> {g['p50_large']:.2f} ms: "
                f"{g['p50_ratio']:.2f}x (budget <= {SEARCH_GROWTH}x) {verdict}"
            )
    print(f"\nresults: {path.relative_to(ROOT)}\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
