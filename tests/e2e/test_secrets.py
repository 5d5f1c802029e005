"""Planted secrets never reach a report or the console (issue #10, item 1).

A distinctive secret goes in through every input path, then every file under reports/ and the console
output are searched for it, and every JSON report must still validate:
- HARNESS_TOKEN (8 and 40 characters) against an external target that echoes the Authorization header
  (and the request path) in every error body, HTTP and WebSocket: the token reaches pytest's log and
  JUnit, the evidence, the verdict's reasons, the security reports and Locust's files. HARNESS_ADMIN_TOKEN
  and ZAP_API_KEY are planted on the same run.
- The local stack's own secrets (database password, API token, admin token) and ZAP_API_KEY, through a
  suite of ours that prints them, fails with them and writes a security report with them.
- Tokens `true`, `e`, `x` (the issue's) and a password in the target URL are refused before anything
  starts, in one line, without echoing the secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.evidence import read_evidence
from harness.verdict import validate_verdict

from .conftest import Run

TOKEN_8 = "Pl4+n/T="  # 8 characters, with the ones URLs and JSON encode
TOKEN_40 = "planted-TOKEN-40-chars-Xq9vR2mK7wL4nB8cT"
ADMIN = "planted-ADMIN-token-Hj3kL9pQ2wE5rT8yU1iO"
ZAP_KEY = "planted-ZAP-api-key-Vb6nM1xZ4cA7sD0fG3hJ"
URL_PASSWORD = "planted-URL-password-Kw2eR5tY8uI"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Echo(BaseHTTPRequestHandler):
    """Every request, whatever its method or path, gets 500 and an error body echoing its credentials; a
    WebSocket is accepted and gets one error frame echoing them (Locust's failure text quotes it)."""

    protocol_version = "HTTP/1.1"

    def _websocket(self) -> None:
        digest = hashlib.sha1((self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest()  # noqa: S324
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", base64.b64encode(digest).decode())
        self.end_headers()
        payload = json.dumps({"type": "error", "e": self.headers.get("Authorization"), "p": self.path}).encode()
        size = bytes([len(payload)]) if len(payload) < 126 else bytes([126]) + len(payload).to_bytes(2, "big")
        self.wfile.write(b"\x81" + size + payload)
        self.wfile.flush()
        self.connection.settimeout(0.5)
        try:  # read what the client sends until it closes, so it gets to read the frame
            while self.connection.recv(4096):
                pass
        except OSError:
            pass
        self.close_connection = True

    def _answer(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = f"error; echo Authorization={self.headers.get('Authorization')} path={self.path}".encode()
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def forms(secret: str) -> set[str]:
    """The secret as it would appear raw, URL-encoded or JSON-escaped."""
    return {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}


def assert_nowhere(secrets: list[str], run: Run) -> list[Path]:
    """No file under reports/ and neither stdout nor stderr holds any form of a secret; every JSON, JSON
    lines and XML report parses, verdict.json and evidence.json validate. Returns the files checked."""
    files = sorted(p for p in run.reports.rglob("*") if p.is_file())
    assert files, "the run wrote no reports"
    for secret in secrets:
        for form in forms(secret):
            assert form not in run.out + run.err, f"{secret!r} on the console"
            for path in files:
                assert form.encode() not in path.read_bytes(), f"{secret!r} in {path.relative_to(run.reports)}"
    for path in files:
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                json.loads(line)
        elif path.suffix == ".xml":
            ET.parse(path)
    validate_verdict(run.verdict)
    read_evidence(run.reports / "evidence.json")
    return files


@pytest.mark.parametrize("token", [TOKEN_8, TOKEN_40], ids=["8-chars", "40-chars"])
def test_a_token_echoed_by_the_target_reaches_no_report(harness, echo_target, token):
    run = harness(
        "gate",
        "--phase",
        "pr",
        "--target",
        echo_target,
        timeout=240,
        HARNESS_TOKEN=token,
        HARNESS_ADMIN_TOKEN=ADMIN,
        ZAP_API_KEY=ZAP_KEY,
    )
    assert run.code in (1, 2), run.out + run.err  # the echo target is a bad build, never go
    assert "Traceback" not in run.out + run.err
    files = {p.relative_to(run.reports).as_posix() for p in assert_nowhere([token, ADMIN, ZAP_KEY], run)}
    # the token did travel: the checks saw it echoed, and every place it would have landed was searched
    assert {"pytest.log", "junit.xml", "evidence.json", "verdict.json", "summary.md", "gates.xml"} <= files
    assert any(f.startswith("load/locust") for f in files) and any(f.startswith("security/") for f in files)
    assert "echo Authorization=Bearer ***" in (run.reports / "pytest.log").read_text()
    assert "Bearer ***" in (run.reports / "junit.xml").read_text()
    assert "Bearer ***" in json.dumps(run.verdict["reasons"])
    assert "Bearer ***" in (run.reports / "load" / "locust_failures.csv").read_text()  # the WebSocket's error frame
    repro = [r for rec in read_evidence(run.reports / "evidence.json").records for r in rec.repro]
    assert any("$HARNESS_TOKEN" in r for r in repro)  # curl lines still say where the token goes


LEAK_SUITE = '''
import json, os, sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.security.report import Reports


@pytest.mark.check("leak.everything")
def test_leak(target, request):
    """Every secret the suite has, everywhere a suite can put text."""
    password = urlsplit(target.database_url).password
    planted = {"token": target.token, "admin": target.admin_token, "db_password": password,
               "zap": os.environ["ZAP_API_KEY"]}
    Path(os.environ["LEAK_FILE"]).write_text(json.dumps(planted))  # outside reports/: what to search for
    print(f"DATABASE_URL={target.database_url} Authorization: Bearer {target.token} {planted}")
    print(f"admin {target.admin_token}", file=sys.stderr)
    request.node.user_properties.append(("harness.curl", f"curl -H 'Authorization: Bearer {target.token}' x"))
    reports = Path(request.config.getoption("harness_evidence")).parent
    Reports(reports, target).write("leak.json", {"planted": planted, "url": target.database_url})
    Reports(reports, target).write("leak.txt", json.dumps(planted))
    assert False, f"leaked {target.database_url} Bearer {target.token} {target.admin_token} {planted['zap']}"
'''

LEAK_POLICY = """
[phases.leak]
traffic = "none"
rollout = false
description = "a suite that leaks every secret it has"
gates = [{ id = "leak.everything", suite = "leak", check = "leak.everything", about = "leaks everything" }]
"""


def test_the_local_stacks_database_password_and_tokens_reach_no_report(harness, tmp_path):
    suites = tmp_path / "suites" / "leak"
    suites.mkdir(parents=True)
    (suites / "test_leak.py").write_text(LEAK_SUITE)
    (tmp_path / "leak.toml").write_text(LEAK_POLICY)
    leak_file = tmp_path / "planted.json"
    run = harness(
        "gate",
        "--phase",
        "leak",
        "--policy-file",
        str(tmp_path / "leak.toml"),
        HARNESS_SUITES_DIR=str(tmp_path / "suites"),
        LEAK_FILE=str(leak_file),
        ZAP_API_KEY=ZAP_KEY,
    )
    assert run.code == 1, run.out + run.err
    planted = json.loads(leak_file.read_text())
    assert planted["db_password"] and len(planted["db_password"]) >= 8  # the local database has a password
    files = {p.relative_to(run.reports).as_posix() for p in assert_nowhere(list(planted.values()), run)}
    assert {"pytest.log", "junit.xml", "security/leak.json", "security/leak.txt"} <= files
    assert "DATABASE_URL=postgresql://orchestra:***@127.0.0.1" in (run.reports / "pytest.log").read_text()
    assert "leaked postgresql://orchestra:***@" in run.verdict["reasons"][0]
    (rec,) = read_evidence(run.reports / "evidence.json").records
    assert rec.repro[1] == 'curl -H "Authorization: Bearer $HARNESS_TOKEN" x'


def one_line_refusal(run: Run) -> str:
    assert run.code == 64, run.out + run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("harness: error: ") and not run.out, run.err
    assert not run.reports.exists(), "refused before anything started: no reports dir"
    return lines[0]


@pytest.mark.parametrize("command", ["gate", "load"])
@pytest.mark.parametrize("token", ["true", "e", "x"])
def test_a_token_too_short_to_redact_is_refused_before_anything_starts(harness, echo_target, tmp_path, token, command):
    args = ["--target", echo_target] + (["--reports-dir", str(tmp_path / "reports")] if command == "load" else [])
    run = harness(command, *args, HARNESS_TOKEN=token)
    line = one_line_refusal(run)
    assert line == (
        "harness: error: HARNESS_TOKEN is shorter than 8 characters; a secret that short cannot be redacted "
        "from the reports safely: use a longer (random) one"
    )


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_password_in_the_target_url_is_refused_and_never_printed(harness, echo_target, how):
    url = echo_target.replace("http://", f"http://planted-user:{URL_PASSWORD}@") + "/"
    run = harness("gate", "--target", url) if how == "flag" else harness("gate", HARNESS_TARGET=url)
    line = one_line_refusal(run)
    assert URL_PASSWORD not in run.out + run.err and "planted-user" not in run.err
    assert f"--target {echo_target}/: credentials in the URL" in line and "HARNESS_TOKEN" in line
