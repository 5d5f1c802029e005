"""TLS checks against a local https server whose certificates the test makes (a private CA, then leaves
that are valid, expired, expiring within 14 days, or for another host)."""

from __future__ import annotations

import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.security import tls
from harness.security.errors import SecurityError

NOW = datetime.now(UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@pytest.fixture(scope="module")
def ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("harness test CA"))
        .issuer_name(_name("harness test CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=400))
        .not_valid_after(NOW + timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def leaf(ca, tmp: Path, *, host: str = "localhost", days_left: float = 90, self_signed: bool = False) -> Path:
    """A PEM file with the leaf certificate (then the CA) and its key, for ssl.load_cert_chain."""
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_key, issuer = (key, _name(host)) if self_signed else (ca_key, ca_cert.subject)
    not_after = NOW + timedelta(days=days_left)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(min(NOW - timedelta(days=30), not_after - timedelta(days=1)))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    path = tmp / f"{host}-{days_left}-{self_signed}.pem"
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if not self_signed:
        pem += ca_cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem + key_pem)
    return path


@pytest.fixture(scope="module")
def ca_file(ca, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    path.write_bytes(ca[1].public_bytes(serialization.Encoding.PEM))
    return path


class TLSServer:
    """Accepts TLS handshakes on 127.0.0.1 until stopped (each connection: handshake, then close)."""

    def __init__(self, chain: Path, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.minimum_version = minimum
        self.ctx.load_cert_chain(chain)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                with self.ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator:
    servers: list[TLSServer] = []

    def start(chain: Path) -> int:
        server = TLSServer(chain)
        servers.append(server)
        return server.port

    yield start
    for s in servers:
        s.stop()


def check(port: int, ca_file: Path, host: str = "localhost", min_days: float = 14):
    report = tls.inspect("127.0.0.1", port, server_hostname=host, cafile=ca_file, timeout_s=5)
    return report, tls.findings(report, min_days=min_days, url=f"https://{host}:{port}")


def test_a_valid_certificate_passes(ca, ca_file, serve, tmp_path):
    report, findings = check(serve(leaf(ca, tmp_path, days_left=90)), ca_file)
    assert findings == []
    assert report.protocol in tls.MODERN and report.verify_error is None
    assert 89 < report.days_left() < 91 and report.subject == "CN=localhost"


def test_an_expired_certificate_fails_once_as_expired(ca, ca_file, serve, tmp_path):
    report, findings = check(serve(leaf(ca, tmp_path, days_left=-3)), ca_file)
    assert [f.rule_id for f in findings] == ["tls.expired"]
    assert findings[0].blocking and findings[0].severity == "critical" and "days ago" in findings[0].evidence
    assert "expired" in (report.verify_error or "")


def test_a_certificate_expiring_within_the_threshold_fails(ca, ca_file, serve, tmp_path):
    port = serve(leaf(ca, tmp_path, days_left=5))
    _, findings = check(port, ca_file)
    assert [f.rule_id for f in findings] == ["tls.expiry"]
    assert "expires in 5.0 days (< 14)" in findings[0].title
    _, relaxed = check(port, ca_file, min_days=3)
    assert relaxed == []


def test_a_certificate_for_another_host_or_from_an_unknown_ca_fails_the_chain(ca, ca_file, serve, tmp_path):
    _, wrong_host = check(serve(leaf(ca, tmp_path, host="api.example")), ca_file, host="localhost")
    assert [f.rule_id for f in wrong_host] == ["tls.chain"] and "mismatch" in wrong_host[0].evidence.lower()
    _, self_signed = check(serve(leaf(ca, tmp_path, self_signed=True)), ca_file)
    assert [f.rule_id for f in self_signed] == ["tls.chain"]
    assert "self-signed" in self_signed[0].evidence or "self signed" in self_signed[0].evidence


def test_old_protocols_are_offered_and_refused_by_a_modern_server(ca, ca_file, serve, tmp_path):
    report, _ = check(serve(leaf(ca, tmp_path)), ca_file)
    assert report.old_protocols == []  # refused (or not offerable by this OpenSSL: then old_protocols_tested is False)


def test_a_server_that_only_speaks_tls_1_1_fails(ca, ca_file, tmp_path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.minimum_version, ctx.maximum_version = ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot serve TLS 1.0/1.1")
    server = TLSServer(leaf(ca, tmp_path))
    server.ctx = ctx
    ctx.load_cert_chain(leaf(ca, tmp_path))
    try:
        report, findings = check(server.port, ca_file)
    finally:
        server.stop()
    if not report.old_protocols_tested:
        pytest.skip("this OpenSSL cannot offer TLS 1.0/1.1 as a client")
    assert report.protocol == "TLSv1.1"
    assert {f.title for f in findings} >= {
        "negotiated TLSv1.1, older than TLS 1.2",
        "accepts TLSv1.1 (older than TLS 1.2)",
    }


def test_a_finding_for_a_negotiated_old_protocol():
    report = tls.TLSReport(host="h", port=443, protocol="TLSv1.1", not_after=NOW + timedelta(days=100))
    report.old_protocols = ["TLSv1"]
    findings = tls.findings(report, min_days=14, url="https://h")
    assert [f.title for f in findings] == [
        "negotiated TLSv1.1, older than TLS 1.2",
        "accepts TLSv1 (older than TLS 1.2)",
    ]


def test_no_tls_server_is_one_line():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(SecurityError, match=f"127.0.0.1:{port} does not answer"):
        tls.inspect("127.0.0.1", port, timeout_s=2)
