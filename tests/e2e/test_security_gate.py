"""The security suite through the gate: the clean app passes every security gate with zero FAIL findings
(TLS: not applicable on a loopback http stack), each security fault is no-go naming its gate, a scan that
cannot run is one line and `error` (the tool could not judge), and the API token lands in no report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading

import pytest

from harness.fault_matrix import load_matrix
from harness.verdict import validate_verdict

from .conftest import ROOT, harness_env, harness_up

GATE = ["gate", "--phase", "internal", "--suites", "security"]
PASSING = ("security.zap_fail", "security.trivy_high_critical", "security.auth_failures", "security.injection")


@pytest.fixture
def no_vuln_db():
    """The committed team policy that makes the vulnerability scan optional (no DB can be downloaded here)."""
    return str(ROOT / "policies" / "no-vuln-db.toml")


def statuses(doc):
    return {g["id"]: g["status"] for g in doc["gates"]}


def reason(doc, gate):
    return next(r for r in doc["reasons"] if r.startswith(f"{gate}:"))


def test_clean_app_passes_smoke_and_security_and_without_a_vuln_db_is_inconclusive(harness):
    run = harness("gate", "--phase", "internal", "--suites", "smoke,security")
    assert run.code == 2, run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    got = statuses(doc)
    assert all(got[g] == "pass" for g in (*PASSING, "smoke.all")), doc["reasons"]
    assert got["security.tls"] == "not_applicable"  # a loopback http stack: N/A, never a pass
    assert got["security.trivy_vulns"] == "missing"  # never silently passed
    judged = [r for r in doc["reasons"] if not r.startswith("not run:")]  # --suites leaves contract, load out
    assert judged == [reason(doc, "security.trivy_vulns")] and "no trivy vulnerability DB in" in reason(
        doc, "security.trivy_vulns"
    )
    sec = run.reports / "security"
    zap = json.loads((sec / "zap-report.json").read_text())
    assert zap["site"] and all("alerts" in s for s in zap["site"])
    assert json.loads((sec / "trivy-config.json").read_text())["SchemaVersion"] == 2
    findings = json.loads((sec / "findings.json").read_text())
    assert set(findings["checks"]) == {"zap", "trivy", "auth", "injection"}
    injection = json.loads((sec / "findings" / "injection.json").read_text())
    # the session id came from the chat operation's OpenAPI link: a real session, so the payloads were judged
    assert "GET /chat/v2/sessions/{session_id}/messages" in injection["operations"], injection
    assert [f for f in findings["findings"] if f["level"] == "FAIL" and f["source"] == "native"] == []
    assert [f for f in findings["findings"] if f["blocking"]] == []
    probes = json.loads((sec / "findings" / "auth.json").read_text())["probes"]
    assert len(probes) >= 12 and all(p["ok"] for p in probes)
    controls = json.loads((sec / "findings" / "auth.json").read_text())["controls"]
    assert {c["result"] for c in controls} == {"accepted"} and len(controls) >= 3
    assert {c["status"] for c in controls if not c["operation"].startswith("WS ")} == {200}  # real identifiers
    assert {p["variant"] for p in probes if p["operation"].startswith("WS ")} == {
        "malformed token",
        "wrong token",
        "wrong query token",
        "no token (chat)",
    }


def test_clean_app_passes_security_and_no_report_contains_the_token(tmp_path, no_vuln_db):
    """Against `harness up` as an external target, so the test knows the token to look for (--allow-unsafe: a
    test instance, so the probes and the scan cover the chat operation too; without it they are not_run)."""
    reports = tmp_path / "reports"
    with harness_up() as up:
        token = up.token
        gate = subprocess.run(
            [
                sys.executable,
                "-m",
                "harness.cli",
                *GATE,
                "--target",
                up.url,
                "--reports-dir",
                str(reports),
                "--policy-file",
                no_vuln_db,
                "--allow-unsafe",
            ],
            cwd=ROOT,
            env=harness_env(HARNESS_TOKEN=token, HARNESS_STACK="external"),
            capture_output=True,
            text=True,
            timeout=180,
        )
    # --suites security narrows the phase: the gates left out are not_run, so the verdict is inconclusive (2)
    assert gate.returncode == 2, gate.stdout + gate.stderr
    doc = json.loads((reports / "verdict.json").read_text())
    assert [r for r in doc["reasons"] if not r.startswith("not run:")] == [], doc["reasons"]
    assert all(statuses(doc)[g] == "pass" for g in PASSING)
    assert statuses(doc)["security.tls"] == "not_applicable"  # `harness up` serves http on 127.0.0.1
    files = [p for p in reports.rglob("*") if p.is_file()]
    assert len(files) >= 10
    for path in files:
        assert token not in path.read_text(errors="replace"), f"the token leaked into {path.relative_to(reports)}"


@pytest.mark.parametrize(
    ("fault", "gate", "detail"),
    [
        ("leaky_headers", "security.zap_fail", '10036 Server Leaks Version Information via "Server"'),
        (
            "auth_bypass",
            "security.auth_failures",
            "auth.wrong_token answered 200 with wrong token (the right token got 200",
        ),
        ("error_disclosure", "security.zap_fail", "90022 Application Error Disclosure at GET /chat/v2/sessions/"),
        ("cors_wildcard", "security.zap_fail", "10098 Cross-Domain Misconfiguration"),
    ],
)
def test_each_security_fault_is_no_go_naming_its_gate(pr_selftest, fault, gate, detail):
    """Each security fault's trial in the session's pr selftest (the fault switched at run time on its stack)."""
    trial = pr_selftest.trial(fault)
    assert trial["verdict"] == "no-go", trial
    expected = next(set(c.gates) for c in load_matrix() if c.name == fault)  # the fault matrix's gates
    assert gate in expected and set(trial["failing_gates"]) == expected, trial["reasons"]
    assert trial["reasons"][0].startswith(f"{gate}: observed"), trial["reasons"]
    assert detail in trial["reasons"][0], trial["reasons"][0]
    assert "[new]" in trial["reasons"][0]  # a trial's own reports dir: every finding is new since the last run


def test_malformed_zap_and_trivy_reports_are_one_line_and_an_error(harness, tmp_path, no_vuln_db):
    zap, trivy = tmp_path / "zap.json", tmp_path / "trivy.json"
    zap.write_text('{"site": [{"alerts": [{"alert": "no plugin id"}]}]}')
    trivy.write_text('{"SchemaVersion": 1}')
    # the ZAP report is the user's input, read before anything starts: one line, exit 64
    run = harness(*GATE, "--policy-file", no_vuln_db, "--zap-report", str(zap), HARNESS_TRIVY_REPORT=str(trivy))
    assert run.code == 64, run.out + run.err
    assert f"ZAP report {zap}: site[0].alerts[0] has no pluginid" in run.err and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1
    # a malformed trivy report is the tool's output, read in the run: the gate is `error` (could not judge)
    run = harness(*GATE, "--policy-file", no_vuln_db, HARNESS_TRIVY_REPORT=str(trivy))
    assert run.code == 2, run.out + run.err
    assert "Traceback" not in run.out + run.err
    doc = run.verdict
    got = statuses(doc)
    assert got["security.trivy_high_critical"] == "error" and got["security.zap_fail"] == "pass"
    assert got["security.auth_failures"] == "pass"
    assert f"trivy report {trivy} has SchemaVersion 1, expected 2" in reason(doc, "security.trivy_high_critical")


def test_missing_trivy_binary_and_unreachable_zap_daemon_are_one_line_and_an_error(harness, no_vuln_db):
    run = harness(
        *GATE, "--policy-file", no_vuln_db, HARNESS_TRIVY_BIN="/nonexistent/trivy", ZAP_API_URL="http://127.0.0.1:9"
    )
    assert run.code == 2, run.out + run.err
    assert "Traceback" not in run.out + run.err
    doc = run.verdict
    assert doc["verdict"] == "inconclusive"
    got = statuses(doc)
    assert got["security.zap_fail"] == "error" and got["security.trivy_high_critical"] == "error"
    assert doc["suites"]["security"]["failed"] == 0  # a tool that could not judge is not a product failure
    assert "ZAP daemon at http://127.0.0.1:9 is unreachable" in reason(doc, "security.zap_fail")
    assert "trivy binary '/nonexistent/trivy' not found" in reason(doc, "security.trivy_high_critical")


def _https_site(tmp_path, days_left: float):
    """A local https server answering /health, with a certificate for localhost from a CA made here."""
    import ssl
    from datetime import UTC, datetime, timedelta
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def cert(subject, issuer, key, sign_key, not_after, ca):
        b = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(not_after)
        )
        if ca:
            b = b.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        else:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        return b.sign(sign_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("e2e CA", "e2e CA", ca_key, ca_key, now + timedelta(days=365), ca=True)
    leaf = cert("localhost", "e2e CA", leaf_key, ca_key, now + timedelta(days=days_left), ca=False)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)  # noqa: E731
    (tmp_path / "ca.pem").write_bytes(pem(ca))
    chain = tmp_path / "chain.pem"
    chain.write_bytes(
        pem(leaf)
        + leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b'{"status": "healthy", "version": "tls-e2e"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, tmp_path / "ca.pem"


@pytest.mark.parametrize(("days_left", "passes"), [(90, True), (5, False)], ids=["valid", "expiring-in-5-days"])
def test_the_tls_check_on_an_https_target(tmp_path, days_left, passes):
    """tests/security/test_tls.py as a team runs it against an https deployment (CA trusted via SSL_CERT_FILE)."""
    server, ca = _https_site(tmp_path, days_left)
    evidence = tmp_path / "reports" / "evidence.json"
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/security/test_tls.py",
                "-q",
                "-p",
                "no:cacheprovider",
                "--target",
                f"https://localhost:{server.server_address[1]}",
                "--harness-evidence",
                str(evidence),
            ],
            cwd=ROOT,
            env=harness_env(HARNESS_STACK="external", SSL_CERT_FILE=str(ca), HARNESS_SECURITY_TLS_CA_FILE=str(ca)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == (0 if passes else 1), done.stdout[-3000:]
    record = json.loads(evidence.read_text())["records"][0]
    assert record["id"] == "security.tls" and record["measurements"]["tls_applicable"] == 1
    assert abs(record["measurements"]["tls_days_left"] - days_left) < 1
    if not passes:
        assert re.search(r"tls\.expiry certificate expires in [45]\.\d days \(< 14\)", record["message"]), record
    tls_findings = json.loads((tmp_path / "reports" / "security" / "findings" / "tls.json").read_text())
    assert tls_findings["protocol"] in ("TLSv1.2", "TLSv1.3")
