"""Killing the gateway (SIGKILL) in the middle of an MLLP bulk load loses no acknowledged message and
leaves no half-stored one; resending everything after a restart stores each message exactly once.

A real gateway process (uvicorn) with its MLLP listener, a real socket, a real database.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import string
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from gateway.db.session import Database
from gateway.ingest.senders import add_sender
from tests.auth.conftest import register
from tests.e2e.server import gateway_env
from tests.support.live import free_port
from tests.support.smart import public_jwks, rsa_key

MESSAGES = 120
KILL_AFTER = 25  # acknowledged messages before the kill
START, END = b"\x0b", b"\x1c\x0d"
FACILITY = "CRASHTEST"


def adt(n: int) -> bytes:
    """One ADT^A01 of a person unlike every other one (so identity matching links nobody)."""
    rng = random.Random(n)
    family = "".join(rng.choice(string.ascii_uppercase) for _ in range(9))
    born = f"{1930 + n % 70}{1 + n % 12:02d}{1 + n % 28:02d}"
    segments = [
        f"MSH|^~\\&|EPIC|{FACILITY}|GATEWAY|GW|20261128120000||ADT^A01^ADT_A01|CRASH{n:06d}|P|2.5.1",
        "EVN|A01|20261128120000",
        f"PID|1||MRN{n:06d}^^^{FACILITY}^MR||{family}^Given||{born}|F",
        f"PV1|1|E|ED^01^01||||1234^Doc^Ann|||||||||||V{n:06d}",
    ]
    return ("\r".join(segments) + "\r").encode()


@contextmanager
def gateway_process(url: str, workdir: Path, mllp_port: int) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    env = gateway_env(
        workdir,
        GATEWAY_DATABASE_URL=url,
        GATEWAY_BASE_URL=f"http://127.0.0.1:{port}",
        GATEWAY_MLLP_PORT=str(mllp_port),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gateway.asgi:app", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "the gateway process exited at start-up"
            try:
                socket.create_connection(("127.0.0.1", mllp_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the MLLP listener never came up"
                time.sleep(0.2)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def send_all(port: int, messages: list[bytes], acked: list[str]) -> None:
    """Send one message at a time and wait for its ACK; stop when the connection dies."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            for message in messages:
                sock.sendall(START + message + END)
                data = b""
                while not data.endswith(END):
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                fields = next(s for s in data[1:-2].split(b"\r") if s.startswith(b"MSA"))
                code, control_id = fields.split(b"|")[1:3]
                if code == b"AA":
                    acked.append(control_id.decode())
    except OSError:
        return


def stored(db: Database) -> dict[str, int]:
    with db.unit_of_work() as session:
        rows = session.execute(
            text("SELECT rtype, COUNT(*) FROM fhir_resource WHERE NOT deleted GROUP BY rtype")
        ).all()
    return {r[0]: int(r[1]) for r in rows}


def stored_mrns(db: Database) -> set[str]:
    with db.unit_of_work() as session:
        codes = session.execute(
            text(
                "SELECT code FROM idx_token WHERE rtype = 'Patient' AND param = 'identifier' "
                "AND code LIKE 'MRN%'"
            )
        ).scalars()
        return set(codes)


def versions(db: Database, rtype: str) -> int:
    with db.unit_of_work() as session:
        return int(
            session.execute(
                text("SELECT COUNT(*) FROM fhir_resource_version WHERE rtype = :t"), {"t": rtype}
            ).scalar_one()
        )


def test_sigkill_mid_load_then_resend_loses_and_duplicates_nothing(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    register(db, "crash-ehr", public_jwks(rsa_key("crash")), scope="system/*.cruds")
    with db.unit_of_work() as session:
        add_sender(session, FACILITY, "127.0.0.1/32", "crash-ehr")
    messages = [adt(n) for n in range(MESSAGES)]
    mllp_port = free_port()

    acked: list[str] = []
    with gateway_process(database_url, tmp_path, mllp_port) as proc:
        sender = threading.Thread(target=send_all, args=(mllp_port, messages, acked))
        sender.start()
        deadline = time.monotonic() + 120
        while len(acked) < KILL_AFTER and sender.is_alive():
            assert time.monotonic() < deadline, "the load did not get going"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        sender.join(timeout=60)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    assert KILL_AFTER <= len(acked) < MESSAGES, "the kill must land in the middle of the load"

    # Nothing acknowledged was lost ...
    acked_mrns = {f"MRN{c.removeprefix('CRASH')}" for c in acked}
    assert acked_mrns <= stored_mrns(db)
    # ... and nothing is half-stored: each stored message has its Patient, Encounter, Provenance.
    before = stored(db)
    assert before["Patient"] == before["Encounter"] == before["Provenance"]
    assert before["Patient"] <= len(acked) + 1  # at most the one in flight at the kill

    acked_again: list[str] = []
    with gateway_process(database_url, tmp_path, mllp_port):
        send_all(mllp_port, messages, acked_again)
    assert len(acked_again) == MESSAGES, "every resent message is acknowledged"

    after = stored(db)
    assert after["Patient"] == after["Encounter"] == after["Provenance"] == MESSAGES
    assert stored_mrns(db) == {f"MRN{n:06d}" for n in range(MESSAGES)}
    # Resends of stored messages wrote no new version: one version per Patient, no duplicate.
    assert versions(db, "Patient") == MESSAGES
    assert versions(db, "Encounter") == MESSAGES
