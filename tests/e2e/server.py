"""A real gateway process for end-to-end tests: ``python -m gateway`` on a free port, and a way to
get an access token from it the way an agency system does (SMART Backend Services).

The process runs the code of this checkout (``PYTHONPATH`` points at it), with its keys and scratch
files in the test's own directory and ``GATEWAY_*`` settings from the developer's shell removed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx

from tests.support.smart import assertion, rsa_key, token_form

ROOT = Path(__file__).resolve().parents[2]
MAX_BODY_BYTES = 64 * 1024
START_TIMEOUT = 30.0
SCOPE = "system/*.cruds"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment a test gateway process runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["GATEWAY_VAR_DIR"] = str(workdir / "var")
    env["GATEWAY_KEY_DIR"] = str(workdir / "keys")
    env["GATEWAY_MAX_BODY_BYTES"] = str(MAX_BODY_BYTES)
    env.update(extra)
    return env


def run_gateway(
    args: list[str], workdir: Path, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gateway <args>`` to completion and return its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=workdir,
        env=gateway_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Credentials:
    """A registered backend-services client, its private key and where to ask for tokens."""

    client_id: str
    key: Any
    token_url: str


@cache
def _client_key() -> Any:
    """One RS384 key for every test client of the run (generating RSA keys is slow)."""
    return rsa_key("e2e-client")


def register_client(database_url: str, base_url: str, agency: str | None = None) -> Credentials:
    """Register a system client (with the run's RS384 key) directly in the database, as an
    administrator would before handing the client its configuration: for ``agency`` when given (it
    must be registered already), else for a new hospital of its own."""
    from gateway.auth.registry import Registry
    from gateway.db.session import Database

    suffix = uuid.uuid4().hex[:8]
    key = _client_key()
    client_id = f"e2e-client-{suffix}"
    database = Database(database_url, pool_size=1)
    try:
        with database.unit_of_work() as session:
            registry = Registry(session)
            if agency is None:
                agency = f"e2e-agency-{suffix}"
                registry.add_agency(agency, "hospital", "End-to-end test hospital")
            registry.add_client(
                client_id,
                agency,
                "hospital_ehr",
                SCOPE,
                jwks={"keys": [key.as_dict(private=False)]},
            )
    finally:
        database.dispose()
    return Credentials(client_id, key, base_url.rstrip("/") + "/auth/token")


def fetch_token(creds: Credentials) -> str:
    """client_credentials with a private_key_jwt assertion (SMART Backend Services)."""
    signed = assertion(creds.key, creds.client_id, creds.token_url)
    response = httpx.post(creds.token_url, data=token_form(signed, SCOPE), timeout=10.0)
    assert response.status_code == 200, f"token request refused: {response.text}"
    return str(response.json()["access_token"])


@dataclass
class Gateway:
    """A running gateway process."""

    base_url: str
    database_url: str
    process: subprocess.Popen[bytes]
    log: Path
    headers: dict[str, str] = field(default_factory=dict)
    agency: str | None = None

    @property
    def fhir(self) -> str:
        return f"{self.base_url}/fhir"

    def client(self) -> httpx.Client:
        """An HTTP client for the FHIR base, carrying an access token when the server wants one."""
        return httpx.Client(base_url=self.fhir, headers=self.headers, timeout=30.0)

    def authenticate(self) -> None:
        """Get a token if the server enforces authentication (it answers 401 without one)."""
        probe = httpx.get(f"{self.fhir}/Patient", params={"_count": "0"}, timeout=10.0)
        if probe.status_code != 401:
            return
        creds = register_client(self.database_url, self.base_url, self.agency)
        self.headers["Authorization"] = f"Bearer {fetch_token(creds)}"


@contextmanager
def running_gateway(
    database_url: str, workdir: Path, agency: str | None = None
) -> Iterator[Gateway]:
    """Start ``python -m gateway serve`` on ``database_url``; stop it afterwards. Its token is for a
    system of ``agency`` (sharing rules decide what that agency sees), else of a new hospital."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = workdir / f"gateway-{port}.log"
    with log.open("wb") as out:
        command = ["serve", "--port", str(port), "--database-url", database_url]
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", *command],
            cwd=workdir,
            env=gateway_env(workdir, GATEWAY_BASE_URL=base_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    gateway = Gateway(base_url, database_url, process, log, agency=agency)
    try:
        _wait_until_up(gateway)
        gateway.authenticate()
        yield gateway
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(gateway: Gateway) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if gateway.process.poll() is not None:
            raise AssertionError(
                f"the gateway exited with {gateway.process.returncode}:\n{gateway.log.read_text()}"
            )
        try:
            if httpx.get(f"{gateway.fhir}/metadata", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"the gateway did not answer within {START_TIMEOUT} s:\n{gateway.log}")
