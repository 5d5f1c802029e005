"""A service that is not the reference app, gated with nothing but its profile and environment variables:
examples/ledger (Token-scheme JWTs from a login, short-lived; role-separated and destructive operations;
OpenAPI at a non-default path; no WebSocket, no metrics), run as a target the harness did not start.

Its access log is the ground truth of what the harness sent: the default run sends no unsafe method but
the login; --allow-unsafe lifts that, never the profile's exclusions."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import ROOT

PROFILE = str(ROOT / "examples" / "ledger" / "service.toml")
USERS = "alice:alice-password-1:admin,bob:bob-password-2:user"
CREDENTIALS = {
    "LEDGER_ADMIN_USER": "alice",
    "LEDGER_ADMIN_PASSWORD": "alice-password-1",
    "LEDGER_USER": "bob",
    "LEDGER_PASSWORD": "bob-password-2",
}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
NUMBER = re.compile(r"/-?\d+")
NOT_APPLICABLE = {
    "smoke.chat_api",
    "smoke.websocket",
    "smoke.metrics",
    "smoke.roundtrip",
    "contract.websocket",
    "contract.metrics",
    "contract.breaking_changes",
    "load.ws_connect_ratio",
}


@dataclass
class Ledger:
    url: str
    access_log: Path

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request the service received."""
        out = []
        for line in self.access_log.read_text().splitlines():
            method, path, status = line.split()[:3]
            out.append((method, path, int(status)))
        return out

    def unsafe(self) -> Counter:
        """Unsafe requests by operation (numeric ids as {id})."""
        return Counter(m + " " + NUMBER.sub("/{id}", p) for m, p, _ in self.requests() if m in UNSAFE)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def ledger(tmp_path: Path, faults: str = "", ttl_s: float = 60) -> Iterator[Ledger]:
    port, log = _free_port(), tmp_path / "ledger-access.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "LEDGER_"))}
    env.update(LEDGER_USERS=USERS, LEDGER_FAULTS=faults, LEDGER_TOKEN_TTL_S=str(ttl_s), LEDGER_ACCESS_LOG=str(log))
    argv = [sys.executable, "-m", "examples.ledger", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=2)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the ledger service did not start: {proc.stderr.read()[-500:]!r}", pytrace=False)
                time.sleep(0.1)
        log.write_text("")  # what the readiness probe sent is not the harness's
        yield Ledger(url, log)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def gate(harness, service: Ledger, *args: str, timeout: float = 240):
    return harness("gate", "--target", service.url, "--service", PROFILE, *args, timeout=timeout, **CREDENTIALS)


def statuses(run) -> dict[str, str]:
    return {g["id"]: g["status"] for g in run.verdict["gates"]}


def test_the_clean_build_is_go_on_the_gates_that_apply_and_sends_nothing_unsafe(harness, tmp_path):
    with ledger(tmp_path) as svc:
        run = gate(harness, svc, "--phase", "pr")
        sent = svc.requests()
    got = statuses(run)
    assert run.code == 0, f"{run.out[-3000:]}\n{run.err[-2000:]}"
    assert {g for g, s in got.items() if s == "not_applicable"} >= NOT_APPLICABLE
    for gate_id in ("smoke.health", "smoke.all", "contract.openapi", "contract.all", "security.auth_failures"):
        assert got[gate_id] == "pass", (gate_id, got)
    unsafe = Counter(f"{m} {p}" for m, p, _ in sent if m in UNSAFE)
    assert set(unsafe) <= {"POST /api/auth/login"}, f"unsafe requests to an external target: {unsafe}"
    assert unsafe["POST /api/auth/login"] >= 1  # the token came from the login, not from HARNESS_TOKEN
    assert any(m == "GET" and p.startswith("/api/accounts") for m, p, _ in sent)  # it did test the API
    notes = " ".join(run.verdict["notes"])
    assert "DELETE /api/accounts/{account_id}" in notes and "POST /api/admin/reset" in notes
    every_report = "".join(p.read_text(errors="replace") for p in run.reports.rglob("*") if p.is_file())
    assert "alice-password-1" not in every_report and "bob-password-2" not in every_report
    assert not re.search(r"eyJ[\w-]{10,}\.[\w-]{10,}\.", every_report), "a login token reached the reports"


def test_allow_unsafe_fuzzes_the_unsafe_operations_but_never_the_excluded_ones(harness, tmp_path):
    with ledger(tmp_path) as svc:
        run = gate(harness, svc, "--phase", "pr", "--suites", "contract", "--allow-unsafe")
        unsafe = svc.unsafe()
    assert run.code in (0, 2), run.out[-2000:]  # narrowed to one suite: inconclusive at best
    assert unsafe["POST /api/accounts"] > 0 and unsafe["DELETE /api/accounts/{id}"] > 0, unsafe
    assert not any("/api/admin/" in k for k in unsafe), f"an excluded operation was called: {unsafe}"


@pytest.mark.parametrize(
    ("fault", "gate_id"),
    [
        ("health_down", "smoke.health"),
        ("schema_drift", "contract.openapi"),
        ("no_auth", "security.auth_failures"),
        ("role_bypass", "security.auth_failures"),
        ("no_security_headers", "security.zap_fail"),
        ("slow", "load.p95_ms"),
        ("errors", "load.error_ratio"),
    ],
)
def test_each_fault_of_the_second_service_is_no_go_naming_its_gate(harness, tmp_path, fault, gate_id):
    with ledger(tmp_path, faults=fault) as svc:
        run = gate(harness, svc, "--phase", "pr")
    got = statuses(run)
    assert run.code == 1, f"{fault}: exit {run.code}\n{run.out[-3000:]}\n{run.err[-1500:]}"
    assert got[gate_id] == "fail", f"{fault}: {gate_id} is {got[gate_id]}: {got}"
    assert gate_id in run.verdict["reasons"][0] or any(gate_id in r for r in run.verdict["reasons"])
