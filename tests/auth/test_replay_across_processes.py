"""A client assertion replayed against a second gateway process is refused: the jti is remembered in
the shared database, not in one process's memory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from gateway.db.session import Database
from tests.auth.conftest import register
from tests.support.live import free_port
from tests.support.smart import assertion, public_jwks, rsa_key, token_form

PUBLIC_BASE = (
    "https://gateway.test"  # both replicas sit behind one public name, as behind a load balancer
)
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gateway_process(database_url: str, key_dir: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(
        GATEWAY_DATABASE_URL=database_url,
        GATEWAY_KEY_DIR=str(key_dir),
        GATEWAY_BASE_URL=PUBLIC_BASE,
        AUTHLIB_INSECURE_TRANSPORT="1",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gateway.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/fhir/metadata", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"gateway did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_replay_on_another_process_is_refused(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    key = rsa_key("k1")
    register(db, "replica-client", public_jwks(key))
    signed = assertion(key, "replica-client", f"{PUBLIC_BASE}/auth/token")
    with ExitStack() as stack:
        first = stack.enter_context(gateway_process(database_url, tmp_path / "keys"))
        second = stack.enter_context(gateway_process(database_url, tmp_path / "keys"))
        accepted = httpx.post(f"{first}/auth/token", data=token_form(signed))
        assert accepted.status_code == 200, accepted.text
        replayed = httpx.post(f"{second}/auth/token", data=token_form(signed))
        assert replayed.status_code in (400, 401)
        assert replayed.json()["error"] == "invalid_client"
        # The token from the first replica works on the second (shared keys, shared issuer).
        token = accepted.json()["access_token"]
        read = httpx.get(f"{second}/fhir/Patient", headers={"Authorization": f"Bearer {token}"})
        assert read.status_code == 200
