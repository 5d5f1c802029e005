"""The harness side of faults: app_tls settings, the throwaway certificates, and the Target's admin secret."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.config import load_settings
from harness.errors import ConfigError
from harness.redact import redact_text
from harness.security import tls
from harness.stack.certs import make_server_certs
from harness.target import Target

ROOT = Path(__file__).resolve().parents[2]


def test_app_tls_is_off_valid_or_expired():
    assert load_settings({}, env={}, root=ROOT).app_tls == "off"
    assert load_settings({}, env={"HARNESS_APP_TLS": "expired"}, root=ROOT).app_tls == "expired"
    assert load_settings({"app_tls": "valid"}, env={}, root=ROOT).app_tls == "valid"
    with pytest.raises(ConfigError, match="app_tls 'expird' is not one of off, valid, expired.*did you mean 'expired'"):
        load_settings({}, env={"HARNESS_APP_TLS": "expird"}, root=ROOT)


def test_the_admin_secret_is_a_secret_and_the_ca_is_public():
    target = Target(base_url="https://127.0.0.1:1", token="api-tok", admin_token="admin-secret", ca_file="/x/ca.pem")
    assert "admin-secret" not in repr(target) and "ca.pem" in repr(target)
    assert set(target.secrets()) == {"api-tok", "admin-secret"}
    assert "admin_token" not in target.public()
    assert redact_text("Bearer admin-secret", target.secrets()) == "Bearer ***"
    assert Target.from_json(target.to_json()) == target  # handed to the suites' child intact


@contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[int]:
    """Handshakes on 127.0.0.1 with the given certificate, until the block ends."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stopping.set()
        thread.join(timeout=5)
        sock.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_valid_stack_certificate_passes_the_tls_check_with_the_stack_ca(tmp_path, host):
    certs = make_server_certs(tmp_path)
    assert certs.key_file.stat().st_mode & 0o077 == 0
    with tls_server(certs.cert_file, certs.key_file) as port:
        report = tls.inspect("127.0.0.1", port, server_hostname=host, cafile=certs.ca_file, timeout_s=5)
        assert tls.findings(report, min_days=14, url=f"https://{host}:{port}") == []
        assert 89 < (report.days_left() or 0) < 91
        untrusted = tls.inspect("127.0.0.1", port, server_hostname=host, cafile=None, timeout_s=5)
        assert untrusted.verify_error  # the throwaway CA is trusted only when given


def test_an_expired_stack_certificate_fails_the_tls_check(tmp_path):
    certs = make_server_certs(tmp_path, expired=True)
    with tls_server(certs.cert_file, certs.key_file) as port:
        report = tls.inspect("127.0.0.1", port, server_hostname="127.0.0.1", cafile=certs.ca_file, timeout_s=5)
        findings = tls.findings(report, min_days=14, url=f"https://127.0.0.1:{port}")
    assert findings and any(f.blocking for f in findings)
    assert (report.days_left() or 0) < 0
