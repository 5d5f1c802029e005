"""A service that is not the reference app, gated with nothing but its profile and environment variables:
examples/ledger (Token-scheme JWTs from a login, short-lived; role-separated and destructive operations;
OpenAPI at a non-default path; no WebSocket, no metrics), run as a target the harness did not start.

Its access log is the ground truth of what the harness sent: the default run sends no unsafe method but
the login; --allow-unsafe lifts that, never the profile's exclusions."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import ROOT, example_service

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


@contextmanager
def ledger(tmp_path: Path, faults: str = "", ttl_s: float = 60) -> Iterator[Ledger]:
    log = tmp_path / "ledger-access.log"
    env = {
        "LEDGER_USERS": USERS,
        "LEDGER_FAULTS": faults,
        "LEDGER_TOKEN_TTL_S": str(ttl_s),
        "LEDGER_ACCESS_LOG": str(log),
    }
    with example_service("ledger", "LEDGER_", env, log, "the ledger service") as (url, _):
        yield Ledger(url, log)


def gate(harness, service: Ledger, *args: str, timeout: float = 240):
    return harness("gate", "--target", service.url, "--service", PROFILE, *args, timeout=timeout, **CREDENTIALS)


def statuses(run) -> dict[str, str]:
    return {g["id"]: g["status"] for g in run.verdict["gates"]}


def test_the_clean_build_passes_what_it_could_call_and_sends_nothing_unsafe(harness, tmp_path):
    """By default only safe operations are called on a target the harness did not start: every gate that ran in
    full passes, and the gates the unsafe operations would have fed are not_run (inconclusive, never go), each
    saying how to run them."""
    with ledger(tmp_path) as svc:
        run = gate(harness, svc, "--phase", "pr")
        sent = svc.requests()
    got = statuses(run)
    assert run.code == 2, f"{run.out[-3000:]}\n{run.err[-2000:]}"
    assert {g for g, s in got.items() if s == "not_applicable"} >= NOT_APPLICABLE
    for gate_id in ("smoke.health", "smoke.all", "load.p95_ms", "load.error_ratio"):
        assert got[gate_id] == "pass", (gate_id, got)
    for gate_id in ("contract.openapi", "contract.all", "security.auth_failures"):
        assert got[gate_id] == "not_run", (gate_id, got)
    assert "fail" not in got.values()
    assert all(r.split(": not run: ", 1)[0] and "to check it:" in r for r in run.verdict["reasons"]), run.verdict[
        "reasons"
    ]
    unsafe = Counter(f"{m} {p}" for m, p, _ in sent if m in UNSAFE)
    assert set(unsafe) <= {"POST /api/auth/login"}, f"unsafe requests to an external target: {unsafe}"
    assert unsafe["POST /api/auth/login"] >= 1  # the token came from the login, not from HARNESS_TOKEN
    assert any(m == "GET" and p.startswith("/api/accounts") for m, p, _ in sent)  # it did test the API
    notes = " ".join(run.verdict["notes"])
    assert "DELETE /api/accounts/{account_id}" in notes and "POST /api/admin/reset" in notes
    every_report = "".join(p.read_text(errors="replace") for p in run.reports.rglob("*") if p.is_file())
    assert "alice-password-1" not in every_report and "bob-password-2" not in every_report
    assert not re.search(r"eyJ[\w-]{10,}\.[\w-]{10,}\.", every_report), "a login token reached the reports"


def test_allow_unsafe_with_the_teams_policy_is_go_and_never_calls_the_excluded_operations(harness, tmp_path):
    """A test instance (--allow-unsafe) and the team's policy that drops the admin reset it never calls: every
    gate judged, go, and the notes name the policy; the unsafe operations were fuzzed, the dropped ones never."""
    policy = str(ROOT / "examples" / "ledger" / "policy.toml")
    with ledger(tmp_path) as svc:
        run = gate(harness, svc, "--phase", "pr", "--allow-unsafe", "--policy-file", policy)
        unsafe = svc.unsafe()
    assert run.code == 0, f"{run.out[-3000:]}\n{run.err[-1500:]}"
    assert "not_run" not in statuses(run).values()
    assert any(
        n.startswith(f"dropped by the team policy ({policy})") and "* /api/admin/*" in n for n in run.verdict["notes"]
    )
    assert unsafe["POST /api/accounts"] > 0 and unsafe["DELETE /api/accounts/{id}"] > 0, unsafe
    assert not any("/api/admin/" in k for k in unsafe), f"an excluded operation was called: {unsafe}"


@pytest.mark.parametrize(
    ("fault", "gate_id", "flags"),
    [
        ("health_down", "smoke.health", ()),
        ("no_auth", "security.auth_failures", ()),
        ("no_security_headers", "security.zap_fail", ()),
        ("slow", "load.p95_ms", ()),
        ("errors", "load.error_ratio", ()),
        # these two show only through unsafe operations (an account to read back; the admin-only DELETE), so
        # the run says --allow-unsafe, as a team does against its own test instance
        ("schema_drift", "contract.openapi", ("--allow-unsafe",)),
        ("role_bypass", "security.auth_failures", ("--allow-unsafe",)),
    ],
)
def test_each_fault_of_the_second_service_is_no_go_naming_its_gate(harness, tmp_path, fault, gate_id, flags):
    # narrowed to the gate's own suite (a fail outranks the not_run of the others: exit 1 all the same)
    with ledger(tmp_path, faults=fault) as svc:
        run = gate(harness, svc, "--phase", "pr", "--suites", gate_id.split(".")[0], *flags)
    got = statuses(run)
    assert run.code == 1, f"{fault}: exit {run.code}\n{run.out[-3000:]}\n{run.err[-1500:]}"
    assert got[gate_id] == "fail", f"{fault}: {gate_id} is {got[gate_id]}: {got}"
    assert any(r.startswith(f"{gate_id}:") for r in run.verdict["reasons"]), run.verdict["reasons"]


def test_a_login_token_that_expires_during_the_load_run_is_refreshed_without_errors(harness, tmp_path):
    """Tokens live 3 s, the load runs 12 s: the Locust users log in again before each token expires."""
    with ledger(tmp_path, ttl_s=3) as svc:
        run = harness(
            "load",
            "--target",
            svc.url,
            "--service",
            PROFILE,
            "--profile",
            "pr",
            "--duration",
            "12s",
            "--reports-dir",
            str(tmp_path / "reports"),
            timeout=180,
            **CREDENTIALS,
        )
        sent = svc.requests()
    assert run.code == 0, f"{run.out[-3000:]}\n{run.err[-1500:]}"
    logins = [s for m, p, s in sent if (m, p) == ("POST", "/api/auth/login")]
    refused = [(m, p) for m, p, s in sent if s == 401]
    accounts = [s for m, p, s in sent if p == "/api/accounts"]
    assert len(logins) >= 3 and set(logins) == {200}, f"expected a login every ~2 s, saw {len(logins)}"
    assert not refused, f"requests refused with an expired token: {refused[:5]}"
    assert len(accounts) > 100 and set(accounts) == {200}
    assert statuses(run)["load.error_ratio"] == "pass"
