"""Sample a running server worker with py-spy and say which layer the CPU time went to.

Optional: used by ``crud_search.py --profile`` when ``py-spy`` is installed (``pip install py-spy``).
Each CPU sample is charged to the innermost frame that belongs to a known layer ("gateway" is the
project's own code); samples of idle threads and of threads blocked on a PostgreSQL reply are counted
apart, since py-spy cannot tell idle threads from busy ones in this setting.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

_ASGI = "ASGI stack (uvicorn, starlette, fastapi, anyio, asyncio)"
_DB = "psycopg (driver)"
# py-spy prints paths relative to sys.path, so the first path component names the package.
LAYERS: dict[str, str] = {
    "psycopg": _DB,
    "psycopg_binary": _DB,
    "sqlalchemy": "SQLAlchemy (statement build, compile cache, result rows)",
    "gateway": "gateway code",
    "fhir": "fhir.resources validation",
    "fhir_core": "fhir.resources validation",
    "pydantic": "fhir.resources validation",
    "joserfc": "JWT / crypto",
    "cryptography": "JWT / crypto",
    "starlette": _ASGI,
    "fastapi": _ASGI,
    "uvicorn": _ASGI,
    "anyio": _ASGI,
    "asyncio": _ASGI,
    "threading.py": _ASGI,
    "concurrent": _ASGI,
}
# Leaf frames of threads that wait for work (py-spy cannot tell idle threads apart here), and of
# request threads blocked on a PostgreSQL reply.
IDLE = (
    "Condition.wait (threading.py",
    "Queue.get (queue.py",
    "Runner.run (asyncio/runners.py",
    "Connection._recv (multiprocessing/",
    "EpollSelector.select (selectors.py",
)
PG_WAIT = ("Connection.wait (psycopg/", "wait_c (psycopg")


def _binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"  # installed in the venv, not on PATH
    return str(beside) if beside.exists() else shutil.which("py-spy")


def available() -> bool:
    return _binary() is not None


def start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Record ``pid`` for ``seconds`` (non-blocking sampling, so the worker is not paused)."""
    cmd = [str(_binary()), "record", "--pid", str(pid), "--duration", str(int(seconds))]
    cmd += ["--rate", "200", "--format", "raw", "--nonblocking", "--output", str(out)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _package(frame: str) -> str:
    where = frame.rsplit("(", 1)[-1] if "(" in frame else ""
    return where.split("/", 1)[0].split(":", 1)[0]


def summarize(raw: Path, top: int = 8) -> dict[str, object]:
    """CPU samples per layer (idle and PostgreSQL waits left out), and the hottest gateway functions."""
    layers: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = idle = pg_wait = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames[-1].startswith(IDLE):
            idle += n
            continue
        if frames[-1].startswith(PG_WAIT):
            pg_wait += n
            continue
        total += n
        layer = next((LAYERS[p] for p in map(_package, reversed(frames)) if p in LAYERS), "other")
        layers[layer] += n
        seen = set()
        for frame in frames:
            if _package(frame) == "gateway":
                name = frame.rsplit(":", 1)[0] + ")"
                if name not in seen:
                    seen.add(name)
                    functions[name] += n
    if not total:
        return {"samples": 0}
    return {
        "cpu_samples": total,
        "idle_samples": idle,
        "pg_wait_samples": pg_wait,
        # Of the time request threads were busy, the share spent waiting for PostgreSQL.
        "pg_wait_pct_of_request_time": round(100 * pg_wait / (pg_wait + total), 1),
        "cpu_layers_pct": {k: round(100 * v / total, 1) for k, v in layers.most_common()},
        "gateway_inclusive_pct": {
            k: round(100 * v / total, 1) for k, v in functions.most_common(top)
        },
    }
