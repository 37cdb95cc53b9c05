"""MLLP over TLS on a real socket: a client trusting the listener's (self-signed) certificate gets
its ACK after commit; a plaintext client, or one that does not trust the certificate, gets nothing
and stores nothing."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.auth.keys import KeyStore
from gateway.db.session import Database
from gateway.ingest.senders import add_sender
from gateway.settings import Settings
from tests.auth.conftest import register
from tests.conftest import bearer
from tests.support.live import free_port
from tests.support.smart import public_jwks, rsa_key

FIXTURES = Path(__file__).parents[1] / "adapters" / "hl7v2" / "fixtures"
START, END = b"\x0b", b"\x1c\x0d"


def self_signed(directory: Path, name: str = "mllp.test") -> tuple[Path, Path]:
    """A P-256 key and a self-signed certificate for ``name`` and 127.0.0.1, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture()
def tls_mllp(
    db: Database, settings: Settings, keystore: KeyStore, tmp_path: Path
) -> Iterator[tuple[int, Path, TestClient]]:
    register(db, "ghh-ehr", public_jwks(rsa_key()), scope="system/*.cruds")
    with db.unit_of_work() as session:
        add_sender(session, "GHHSFacility", "127.0.0.1/32", "ghh-ehr")
    cert, key = self_signed(tmp_path)
    app = create_app(
        settings.with_overrides(mllp_port=free_port(), mllp_tls_cert=cert, mllp_tls_key=key),
        db=db,
        keys=keystore,
        sharing_rules=False,
        background_workers=False,
    )
    with TestClient(app) as client:
        client.headers.update(bearer(app))
        yield app.state.mllp_port, cert, client


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(END):
        try:
            chunk = sock.recv(65536)
        except (ConnectionError, ssl.SSLError, TimeoutError):
            break
        if not chunk:
            break
        data += chunk
    return data


def _patients(client: TestClient) -> int:
    return int(client.get("/fhir/Patient").json()["total"])


def test_tls_client_gets_aa_after_commit(tls_mllp: tuple[int, Path, TestClient]) -> None:
    port, cert, client = tls_mllp
    context = ssl.create_default_context(cafile=str(cert))
    message = (FIXTURES / "ADT-A01-01.hl7").read_bytes()
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        sock.sendall(START + message + END)
        ack = _read_all(sock)
    assert b"MSA|AA|MSG00001" in ack, ack
    assert _patients(client) == 1


def test_plaintext_client_is_refused(tls_mllp: tuple[int, Path, TestClient]) -> None:
    port, _cert, client = tls_mllp
    message = (FIXTURES / "ADT-A01-01.hl7").read_bytes()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(START + message + END)
        reply = _read_all(sock)
    assert b"MSA" not in reply, "no HL7 answer goes back over plaintext"
    assert not reply.startswith(START)
    assert _patients(client) == 0


def test_client_that_does_not_trust_the_certificate_sends_nothing(
    tls_mllp: tuple[int, Path, TestClient], tmp_path: Path
) -> None:
    port, _cert, client = tls_mllp
    other, _ = self_signed(tmp_path, "someone-else.test")
    context = ssl.create_default_context(cafile=str(other))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=30) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    assert _patients(client) == 0
