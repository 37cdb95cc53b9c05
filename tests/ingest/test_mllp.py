"""HL7 v2 over a real MLLP socket: ACK only after commit, refusals as AR/AE with ERR, framing errors
and dropped connections lose nothing already acknowledged and store nothing half-sent."""

from __future__ import annotations

import socket
from pathlib import Path

from fastapi.testclient import TestClient

FIXTURES = Path(__file__).parents[1] / "adapters" / "hl7v2" / "fixtures"
START, END = b"\x0b", b"\x1c\x0d"


def frame(message: bytes) -> bytes:
    return START + message + END


def read_ack(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(END):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.startswith(START), data
    return data[1:-2].decode()


def msa(ack: str) -> list[str]:
    line = next(seg for seg in ack.split("\r") if seg.startswith("MSA"))
    return line.split("|")


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def _patients(client: TestClient) -> int:
    return int(client.get("/fhir/Patient").json()["total"])


def test_adt_gets_aa_after_commit(mllp: tuple[int, TestClient]) -> None:
    port, client = mllp
    message = (FIXTURES / "ADT-A01-01.hl7").read_bytes()
    with _connect(port) as sock:
        sock.sendall(frame(message))
        ack = read_ack(sock)
    fields = msa(ack)
    assert fields[1] == "AA", ack
    control_id = message.split(b"\r")[0].split(b"|")[9].decode()
    assert fields[2] == control_id
    assert "ERR" not in ack
    assert _patients(client) == 1  # acknowledged means committed


def test_unsupported_type_gets_ar_with_err(mllp: tuple[int, TestClient]) -> None:
    port, client = mllp
    message = (
        (FIXTURES / "ORU-R01-RMGEAD.hl7").read_bytes().replace(b"|ELAB-3|", b"|GHHSFacility|", 1)
    )
    with _connect(port) as sock:
        sock.sendall(frame(message))
        ack = read_ack(sock)
    assert msa(ack)[1] == "AR"
    assert msa(ack)[2] == "CNTRL-3456"
    err = next(seg for seg in ack.split("\r") if seg.startswith("ERR"))
    assert "ORU" in err
    assert _patients(client) == 0


def test_unknown_sender_is_refused(mllp: tuple[int, TestClient]) -> None:
    port, client = mllp
    message = (
        (FIXTURES / "ADT-A01-01.hl7").read_bytes().replace(b"GHHSFacility", b"StrangerFacility", 1)
    )
    with _connect(port) as sock:
        sock.sendall(frame(message))
        ack = read_ack(sock)
    assert msa(ack)[1] == "AR"
    assert _patients(client) == 0


def test_junk_between_frames_and_two_messages_in_one_write(mllp: tuple[int, TestClient]) -> None:
    port, client = mllp
    a01 = (FIXTURES / "ADT-A01-01.hl7").read_bytes()
    ref = (FIXTURES / "REF-I12-01.hl7").read_bytes()
    with _connect(port) as sock:
        sock.sendall(b"garbage\r\n" + frame(a01) + b"\x00noise" + frame(ref))
        first, second = read_ack(sock), read_ack(sock)
    assert msa(first)[1] == "AA" and msa(second)[1] == "AA"
    assert client.get("/fhir/ServiceRequest").json()["total"] == 1


def test_dropped_connection_mid_message_stores_nothing(mllp: tuple[int, TestClient]) -> None:
    port, client = mllp
    message = (FIXTURES / "ADT-A01-01.hl7").read_bytes()
    with _connect(port) as sock:
        sock.sendall(START + message[: len(message) // 2])
    # The server is still there and the next full message is stored.
    assert _patients(client) == 0
    with _connect(port) as sock:
        sock.sendall(frame(message))
        assert msa(read_ack(sock))[1] == "AA"
    assert _patients(client) == 1


def test_bad_data_in_a_supported_message_gets_a_located_error(mllp: tuple[int, TestClient]) -> None:
    port, client = mllp
    message = (
        (FIXTURES / "ADT-A01-01.hl7").read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    )
    lines = message.split(b"\r")
    pid = next(i for i, line in enumerate(lines) if line.startswith(b"PID"))
    fields = lines[pid].split(b"|")
    fields[7] = b"19XX0231"  # PID-7 birth date that is no date
    lines[pid] = b"|".join(fields)
    with _connect(port) as sock:
        sock.sendall(frame(b"\r".join(lines)))
        ack = read_ack(sock)
    assert msa(ack)[1] in ("AE", "AR")
    err = next(seg for seg in ack.split("\r") if seg.startswith("ERR"))
    assert "PID" in err
    assert "19XX0231" not in ack
    assert _patients(client) == 0
