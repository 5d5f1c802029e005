# ruff: noqa: E501 - the table of cases reads best one case per line
"""Every bad input a user can give ends in one `harness: error:` line and exit 64 (usage, configuration,
policy, report path), or in exit 2 with an inconclusive verdict (a target that does not answer properly).
Never a traceback, never exit 1 (a controller reads 1 as "the build is bad"). One table: the list only grows.

Each usage case also starts with a stale `go` verdict in its reports dir, which must be gone afterwards:
a run that stopped on bad input leaves no verdict that `harness report` could read as this run's.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.policy import load_policy
from harness.reports_dir import MANIFEST
from harness.verdict import validate_verdict

from .conftest import ROOT, harness_env

SMOKE = ("--phase", "smoke", "--policy-file", "policies/smoke-only.toml")


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    says: str  # a piece of the one error line
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # written under the case's tmp dir ({tmp} in argv)
    cwd_project: bool = False  # run in a project of its own (tmp, with the files) instead of this repository
    reports: str = "{tmp}/reports"  # --reports-dir (None: not passed)
    code: int = 64


FIFO = b"<a named pipe>"
DEEP = b"a = " + b"[" * 3000 + b"]" * 3000 + b"\n"  # TOML nested 3000 deep


def policy(text: str | bytes) -> dict[str, bytes]:
    return {"team.toml": text if isinstance(text, bytes) else text.encode()}


P = ("--policy-file", "{tmp}/team.toml")
S = ("--service", "{tmp}/service.toml")


def svc(text: str) -> dict[str, bytes]:
    return {"service.toml": text.encode()}


CASES = [
    # phases, suites, stacks, flags
    Case("unknown-phase", ("gate", "--phase", "canary10"), "did you mean 'canary-10'?"),
    Case("empty-phase", ("gate", "--phase", ""), "phase is empty"),
    Case("empty-phase-env", ("gate",), "phase is empty", env={"HARNESS_PHASE": ""}),
    Case("suites-comma", ("gate", "--suites", ","), "--suites names no suite"),
    Case("unknown-suite", ("gate", "--suites", "smok"), "did you mean 'smoke'?"),
    Case("unknown-stack", ("gate", "--stack", "lokal"), "'lokal' is not one of"),
    Case("workers-word", ("gate", "--workers", "lots"), "lots"),
    Case("workers-negative", ("gate", "--workers", "-1"), "workers = -1 must be a finite number >= 0"),
    Case("workers-huge", ("gate", "--workers", "1000"), "workers = 1000 must be a finite number >= 0 and <= 64"),
    Case("app-port-huge", ("gate", "--app-port", "70000"), "app_port = 70000 must be"),
    Case("app-workers-word", ("gate",), "app_workers = 'abc' is not a valid int", env={"HARNESS_APP_WORKERS": "abc"}),
    Case("unknown-flag", ("gate", "--phse", "pr"), "No such option '--phse'"),
    Case("unknown-command", ("gat",), "No such command 'gat'"),
    # targets
    Case("target-ftp", ("gate", "--target", "ftp://x"), "must be an http:// or https:// URL"),
    Case("target-port-word", ("gate", "--target", "http://127.0.0.1:abc/"), "is not a valid URL"),
    Case("target-ipv6-open", ("gate", "--target", "http://[::1"), "is not a valid URL"),
    Case("target-no-host", ("gate", "--target", "http://"), "has no host"),
    Case("target-space", ("gate", "--target", "http://a b/"), "holds whitespace"),
    Case("target-newline", ("gate", "--target", "http://127.0.0.1:9/\n"), "holds whitespace"),
    Case("target-very-long", ("gate", "--target", "http://x/" + "a" * 3000), "longer than 2048"),
    Case("target-and-stack", ("gate", "--target", "http://127.0.0.1:9", "--stack", "local"), "contradict"),
    Case("external-no-target", ("gate", "--stack", "external"), "needs --target URL"),
    Case("target-userinfo", ("gate", "--target", "http://user:hunter2pass@127.0.0.1:9/"), "credentials in the URL"),
    Case("token-too-short", ("gate", *SMOKE), "shorter than 8 characters", env={"HARNESS_TOKEN": "e"}),
    Case("token-spaces", ("gate", *SMOKE), "HARNESS_TOKEN is only whitespace", env={"HARNESS_TOKEN": " " * 8}),
    Case(
        "serve-token-blank", ("serve", "--port", "1"), "is set but blank", env={"HARNESS_SERVE_TOKEN": "\n"}, reports=""
    ),
    Case(
        "serve-token-inner-space",
        ("serve",),
        "holds whitespace",
        env={"HARNESS_SERVE_TOKEN": "abcdefgh ijklmnop"},
        reports="",
    ),
    Case("token-true", ("load",), "shorter than 8 characters", env={"HARNESS_TOKEN": "true"}),
    # timeouts and numbers
    Case("timeout-nan", ("gate",), "must be a finite number > 0", env={"HARNESS_EXTERNAL_TIMEOUT_S": "nan"}),
    Case("timeout-inf", ("gate",), "must be a finite number > 0", env={"HARNESS_EXTERNAL_TIMEOUT_S": "inf"}),
    Case("timeout-negative", ("gate",), "must be a finite number > 0", env={"HARNESS_READY_TIMEOUT_S": "-1"}),
    Case("check-timeout-zero", ("gate",), "must be a finite number > 0", env={"HARNESS_CHECK_TIMEOUT_S": "0"}),
    # team policy files
    Case(
        "policy-gates-string",
        ("gate", *P),
        "gates must be a list of tables",
        files=policy('[phases.pr]\ngates = "x"\n'),
    ),
    Case("policy-phase-number", ("gate", *P), "must be a table", files=policy("[phases]\ninternal = 5\n")),
    Case("policy-not-utf8", ("gate", *P), "is not UTF-8 text", files=policy(b'[phases.pr]\ndescription = "caf\xe9"\n')),
    Case(
        "policy-threshold-word",
        ("gate", *P),
        "threshold = 'fast' must be a number",
        files=policy('[phases.pr]\ngates = [{ id = "load.p95_ms", threshold = "fast" }]\n'),
    ),
    Case(
        "policy-op-reversed",
        ("gate", *P),
        "op = '=>' is not one of < <= > >= == (did you mean '>='?)",
        files=policy('[phases.pr]\ngates = [{ id = "load.p95_ms", op = "=>" }]\n'),
    ),
    Case(
        "policy-unknown-suite",
        ("gate", *P),
        "unknown suite 'lod'",
        files=policy('[phases.pr]\ngates = [{ id = "lod.x", suite = "lod", metric = "m", op = "<", threshold = 1 }]\n'),
    ),
    Case("policy-drop-string", ("gate", *P), "drop must be a list", files=policy('[phases.pr]\ndrop = "smoke.all"\n')),
    Case(
        "policy-drop-unknown",
        ("gate", *P),
        "unknown gate 'smoke.al'",
        files=policy('[phases.pr]\ndrop = ["smoke.al"]\n'),
    ),
    Case("policy-unknown-key", ("gate", *P), "did you mean 'traffic'", files=policy('[phases.pr]\ntrafic = "x"\n')),
    Case(
        "policy-gate-id-newline",
        ("gate", *P),
        "an id is '<suite>.<name>'",
        files=policy('[phases.pr]\ngates = [{ id = "smoke.extra\\n", suite = "smoke", check = "smoke.health" }]\n'),
    ),
    Case(
        "policy-drops-every-gate",
        ("gate", "--phase", "pr", *P),
        "phase 'pr' has no gates",
        files=policy(f"[phases.pr]\ndrop = {json.dumps([g.id for g in load_policy().phase('pr').gates])}\n"),
    ),
    Case("policy-bad-toml", ("gate", *P), "not valid TOML", files=policy("[phases.pr\n")),
    Case("policy-fifo", ("gate", *P), "is a FIFO, not a regular file", files={"team.toml": FIFO}),
    Case("policy-dev-zero", ("gate", "--policy-file", "/dev/zero"), "is a device, not a regular file"),
    Case("policy-dev-zero-phases", ("phases", "--policy-file", "/dev/zero"), "is a device", reports=""),
    Case("policy-nested-3000", ("gate", *P), "nested more than 64 deep", files=policy(b"[phases.pr]\n" + DEEP)),
    Case("policy-nested-phases", ("phases", *P), "nested more than 64 deep", files=policy(DEEP), reports=""),
    Case("policy-too-big", ("gate", *P), "larger than 16 MiB", files=policy(b"# " + b"x" * (17 * 1024 * 1024))),
    Case("service-nested-3000", ("service", *S), "nested more than 64 deep", files={"service.toml": DEEP}, reports=""),
    Case("service-fifo", ("gate", *S), "is a FIFO", files={"service.toml": FIFO}),
    Case("project-nested-3000", ("gate",), "nested more than 64 deep", files={"harness.toml": DEEP}, cwd_project=True),
    Case(
        "attestations-nested-3000",
        ("checklist", "--attestations", "{tmp}/a.toml"),
        "nested more than 64 deep",
        files={"a.toml": DEEP},
    ),
    Case(
        "attestations-future",
        ("checklist", "--attestations", "{tmp}/a.toml"),
        "is in the future",
        files={"a.toml": b'[[attestation]]\nitem = "code_review"\nby = "x"\nat = 2099-01-01\nexpires = 2099-02-01\n'},
    ),
    Case("report-fifo", ("report", "{tmp}/v.json"), "is a FIFO", files={"v.json": FIFO}, reports="", code=2),
    Case(
        "report-nan",
        ("report", "{tmp}/v.json"),
        "NaN is not a JSON number",
        files={"v.json": b'{"verdict": NaN}'},
        reports="",
        code=2,
    ),
    Case(
        "report-duplicate-key",
        ("report", "{tmp}/v.json"),
        "duplicate key 'verdict'",
        files={"v.json": b'{"verdict": "go", "verdict": "no-go"}'},
        reports="",
        code=2,
    ),
    Case(
        "report-nested",
        ("report", "{tmp}/v.json"),
        "nested more than 64 deep",
        files={"v.json": b"[" * 50000 + b"]" * 50000},
        reports="",
        code=2,
    ),
    Case("policy-missing", ("gate", "--policy-file", "{tmp}/nope.toml"), "does not exist"),
    Case("policy-directory", ("gate", "--policy-file", "{tmp}"), "is a directory"),
    # the project file
    Case(
        "project-not-utf8",
        ("gate",),
        "is not UTF-8 text",
        files={"harness.toml": b'phase = "caf\xe9"\n'},
        cwd_project=True,
    ),
    Case(
        "project-unknown-key",
        ("gate",),
        "unknown key 'phaze'",
        files={"harness.toml": b'phaze = "pr"\n'},
        cwd_project=True,
    ),
    Case("project-bad-toml", ("gate",), "not valid TOML", files={"harness.toml": b"phase = \n"}, cwd_project=True),
    # reports dir
    Case("reports-is-file", ("gate", *SMOKE), "is not a directory", files={"afile": b"x"}, reports="{tmp}/afile"),
    Case("reports-under-proc", ("gate", *SMOKE), "cannot be used", reports="/proc/harness-reports"),
    Case(
        "reports-twice",
        ("gate", *SMOKE, "--reports-dir", "{tmp}/a", "--reports-dir", "{tmp}/b"),
        "given 2 times",
        reports="",
    ),
    Case(
        "reports-twice-equals", ("load", "--reports-dir={tmp}/a", "--reports-dir={tmp}/a"), "given 2 times", reports=""
    ),
    Case("reports-empty", ("checklist", "--reports-dir", ""), "--reports-dir is empty", reports=""),
    Case("reports-env-blank", ("gate", *SMOKE), "reports_dir is empty", env={"HARNESS_REPORTS_DIR": "  "}, reports=""),
    Case("reports-root", ("gate", *SMOKE), "filesystem root", reports="/"),
    Case(
        "reports-name-too-long", ("gate", *SMOKE), "longer than the filesystem allows", reports="{tmp}/x/" + "r" * 300
    ),
    Case("reports-source-folder", ("selftest",), "source folder", files={"mod.py": b"x = 1\n"}, reports="{tmp}"),
    Case(
        "reports-not-ours",
        ("load",),
        "was not created by the harness",
        files={"d/notes.txt": b"mine"},
        reports="{tmp}/d",
    ),
    # suite options
    Case(
        "zap-report-without-security", ("gate", "--suites", "smoke", "--zap-report", "{tmp}/z.json"), "security suite"
    ),
    Case("zap-report-missing", ("gate", "--phase", "pr", "--zap-report", "{tmp}/none.json"), "does not exist"),
    Case(
        "zap-report-not-json",
        ("gate", "--phase", "pr", "--zap-report", "{tmp}/z.json"),
        "is not valid JSON",
        files={"z.json": b"<html>not a ZAP report</html>"},
    ),
    Case(
        "security-env-word", ("gate", "--phase", "pr"), "timeout_s = 'abc'", env={"HARNESS_SECURITY_TIMEOUT_S": "abc"}
    ),
    Case(
        "contract-profile",
        ("gate", "--phase", "pr"),
        "unknown profile 'nope'",
        env={"HARNESS_CONTRACT_PROFILE": "nope"},
    ),
    Case("load-profile", ("gate", "--phase", "pr"), "did you mean 'nightly'", env={"HARNESS_LOAD_PROFILE": "nightlly"}),
    # other commands
    Case("load-duration-word", ("load", "--duration", "soon"), "is not a duration"),
    Case("load-users-zero", ("load", "--users", "0"), "users"),
    Case(
        "load-users-billion",
        ("load", "--users", "1000000000"),
        "users = 1000000000 is above its bound: at most 100,000",
    ),
    Case("load-spawn-rate-huge", ("load",), "spawn_rate", env={"HARNESS_LOAD_SPAWN_RATE": "1e12"}),
    Case("load-duration-years", ("load", "--duration", "99999h"), "at most 86,400"),
    Case(
        "flags-users-huge",
        ("gate", "--suites", "flags"),
        "at most 1,000,000",
        env={"HARNESS_FLAGS_USERS": "99999999999999999999"},
    ),
    Case("flags-workers-huge", ("gate", "--suites", "flags"), "at most 256", env={"HARNESS_FLAGS_WORKERS": "100000"}),
    Case("live-watch-year", ("gate", "--phase", "canary-25", "--watch", "365d"), "at most 2,592,000"),
    Case("serve-port-huge", ("serve", "--port", "70000"), "70000 is not in the range 1<=x<=65535", reports=""),
    Case("load-history-dir", ("load", "--history-file", "{tmp}"), "is a directory"),
    Case("checklist-unknown-flag", ("checklist", "--atestations", "x"), "No such option"),
    Case("checklist-attestations-missing", ("checklist", "--attestations", "{tmp}/none.toml"), "does not exist"),
    Case("checklist-bad-target", ("checklist", "--target", "ftp://x"), "must be an http:// or https:// URL"),
    Case("selftest-unknown-phase", ("selftest", "--phase", "canary10"), "did you mean 'canary-10'?"),
    Case("load-remote", ("load", "--target", "http://10.0.0.1"), "refusing to send load"),
    Case(
        "checklist-junit-missing",
        ("gate", "--suites", "checklist"),
        "checklist junit",
        env={"HARNESS_CHECKLIST_JUNIT": "/nonexistent/junit.xml"},
    ),
    Case(
        "checklist-coverage-missing",
        ("checklist",),
        "checklist coverage",
        env={"HARNESS_CHECKLIST_COVERAGE": "/nonexistent/coverage.xml"},
    ),
    Case(
        "checklist-attestations-malformed",
        ("checklist", "--attestations", "{tmp}/a.toml"),
        "not valid TOML",
        files={"a.toml": b"[[attestation]\n"},
    ),
    Case(
        "checklist-attestations-no-expiry",
        ("checklist", "--attestations", "{tmp}/a.toml"),
        "has no expires",
        files={"a.toml": b'[[attestation]]\nitem = "code_review"\nby = "x"\nat = 2026-01-01\n'},
    ),
    Case(
        "rollback-external",
        ("gate", "--suites", "rollback", "--target", "http://127.0.0.1:9"),
        "runs only on a stack the harness starts",
    ),
    Case(
        "rollback-external-unsafe",
        ("gate", "--suites", "smoke,rollback", "--target", "http://127.0.0.1:9", "--allow-unsafe"),
        "downgrades the database",
    ),
    Case("selftest-target", ("selftest", "--target", "http://127.0.0.1:9"), "No such option '--target'"),
    Case("selftest-unknown-fault", ("selftest", "--only", "helth_503"), "did you mean 'health_503'?"),
    Case("report-directory", ("report", "{tmp}"), "is a directory", reports=""),
    # service profiles
    Case("service-missing", ("gate", "--service", "{tmp}/nope.toml"), "service profile", reports="{tmp}/reports"),
    Case(
        "service-bad-path",
        ("gate", *S),
        "paths.health: 'healthz' must start with '/'",
        files=svc('[paths]\nhealth = "healthz"\n'),
    ),
    Case("service-unknown-key", ("gate", *S), "nmae: Extra inputs are not permitted", files=svc('nmae = "x"\n')),
    Case(
        "service-both-tokens",
        ("gate", *S),
        "give token_env or login, not both",
        files=svc('[auth]\ntoken_env = "T"\n[auth.login]\npath = "/login"\n'),
    ),
    Case("service-bad-scheme", ("service", *S), "auth.scheme", files=svc('[auth]\nscheme = "basic"\n'), reports=""),
    Case(
        "service-short-secret",
        ("gate", *S),
        "SVC_TOKEN (named by the service profile",
        files=svc('[auth]\ntoken_env = "SVC_TOKEN"\n'),
        env={"SVC_TOKEN": "short"},
    ),
    Case(
        "service-allow-unsafe-in-file",
        ("gate",),
        "allow_unsafe is not taken from a file",
        files={"harness.toml": b"allow_unsafe = true\n"},
        cwd_project=True,
    ),
    Case(
        "service-allow-unsafe-word",
        ("gate",),
        "allow_unsafe = 'maybe' is not a valid bool",
        env={"HARNESS_ALLOW_UNSAFE": "maybe"},
    ),
]


STALE_GO = json.dumps({"schema": "harness.verdict/v1.1", "verdict": "go"})
VERDICT_COMMANDS = ("gate", "load", "checklist", "selftest")


def run(case: Case, tmp: Path) -> subprocess.CompletedProcess:
    for name, data in case.files.items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        if data is FIFO:  # a named pipe nobody writes to: reading it would block forever
            os.mkfifo(tmp / name)
        else:
            (tmp / name).write_bytes(data)
    argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
    if case.reports and argv[0] in VERDICT_COMMANDS:
        argv += ["--reports-dir", case.reports.replace("{tmp}", str(tmp))]
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *argv],
        cwd=tmp if case.cwd_project else ROOT,
        env=harness_env(**case.env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_table_is_long_enough():
    assert len(CASES) >= 100
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_and_a_documented_exit_code(case, tmp_path):
    reports = Path(case.reports.replace("{tmp}", str(tmp_path))) if case.reports else None
    verdict_run = case.argv[0] in VERDICT_COMMANDS and reports is not None and reports.parent == tmp_path
    stale = (
        reports / "verdict.json" if verdict_run and reports.name not in {Path(n).parts[0] for n in case.files} else None
    )
    if stale is not None:  # the last run's go, in the reports dir it claimed
        stale.parent.mkdir(parents=True, exist_ok=True)
        stale.write_text(STALE_GO)
        manifest = {"schema": "harness.reports-dir/v1", "state": "done", "files": ["verdict.json"], "foreign": []}
        (reports / MANIFEST).write_text(json.dumps(manifest))
    done = run(case, tmp_path)
    out = done.stdout + done.stderr
    assert "Traceback" not in out, out
    assert done.returncode == case.code, out
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("harness: auto:")]
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), done.stderr
    assert case.says in lines[0], lines[0]
    if stale is not None:
        assert not stale.exists(), "a stale verdict survived a run that stopped on bad input"


# --- targets that answer, but not properly: exit 2, an inconclusive verdict, within the deadline ----------


@contextmanager
def tcp_server(handle) -> Iterator[str]:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(conn, stop), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()


def garbage(conn: socket.socket, stop: threading.Event) -> None:
    with conn:
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2 not http at all\r\n\r\n")


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    with conn:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b" ")
            except OSError:
                return
            time.sleep(1)


def healthy_then_trickle(conn: socket.socket, stop: threading.Event) -> None:
    """/health answers at once; anything else (the OpenAPI document) trickles one byte a second."""
    with conn:
        request = conn.recv(65536)
        if request.split(b" ")[1:2] == [b"/health"]:
            body = b'{"status": "healthy"}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            )
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b" ")
            except OSError:
                return
            time.sleep(1)


def huge(conn: socket.socket, stop: threading.Event) -> None:
    size = 50 * 1024 * 1024
    with conn:
        conn.recv(65536)
        try:
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode()
            )
            chunk = b" " * 65536
            for _ in range(size // len(chunk)):
                conn.sendall(chunk)
        except OSError:
            return


@pytest.mark.parametrize(
    ("handler", "says"),
    [
        (garbage, "did not answer HTTP"),
        (trickle, "did not finish answering within"),
        (huge, "answered more than 1048576 bytes"),
    ],
    ids=["raw-tcp-garbage", "trickling-body", "50MB-body"],
)
def test_a_target_that_answers_badly_is_inconclusive_within_its_deadline(harness, handler, says):
    with tcp_server(handler) as url:
        t0 = time.monotonic()
        result = harness("gate", *SMOKE, "--target", url, HARNESS_EXTERNAL_TIMEOUT_S="4", HARNESS_TOKEN="t" * 40)
        elapsed = time.monotonic() - t0
    out = result.out + result.err
    assert "Traceback" not in out
    assert result.code == 2, out
    assert elapsed < 4 + 10, f"took {elapsed:.1f} s for a 4 s deadline"
    doc = result.verdict
    validate_verdict(doc)
    assert doc["verdict"] == "inconclusive"
    assert says in doc["reasons"][0], doc["reasons"][0]


def test_an_openapi_document_that_trickles_ends_at_its_deadline():
    """requests' timeout bounds each read only: the OpenAPI fetch has an end-to-end deadline of its own."""
    from harness.contract.openapi import ContractError, fetch_document

    with tcp_server(healthy_then_trickle) as url:
        t0 = time.monotonic()
        with pytest.raises(ContractError, match="did not finish answering within 2 s"):
            fetch_document(url + "/openapi.json", 2)
        assert time.monotonic() - t0 < 2 + 1


def test_a_target_that_trickles_all_but_its_health_ends_inconclusive_within_the_deadline(harness):
    """/health is fine, every other answer trickles a byte a second: the OpenAPI fetch, the metrics reads and the
    WebSocket handshakes each end at their end-to-end deadline (the first one stalls the target for the rest of
    the run), the checks are `error`, the verdict inconclusive, within the deadline plus a few seconds."""
    with tcp_server(healthy_then_trickle) as url:
        t0 = time.monotonic()
        result = harness(
            "gate",
            "--phase",
            "pr",
            "--suites",
            "contract",
            "--target",
            url,
            HARNESS_EXTERNAL_TIMEOUT_S="4",
            HARNESS_CONTRACT_TIMEOUT_S="4",
            HARNESS_TOKEN="t" * 40,
            timeout=60,
        )
        elapsed = time.monotonic() - t0
    out = result.out + result.err
    assert "Traceback" not in out
    assert result.code == 2, out
    assert elapsed < 4 + 15, f"took {elapsed:.1f} s for a 4 s deadline"
    doc = result.verdict
    validate_verdict(doc)
    assert doc["verdict"] == "inconclusive"
    contract = [g for g in doc["gates"] if g["id"].startswith("contract.")]
    assert contract and all(g["status"] in ("error", "missing", "not_run", "not_applicable") for g in contract), (
        contract
    )
    assert not any(g["status"] == "fail" for g in doc["gates"]), doc["gates"]
    assert any("within 4 s" in g.get("reason", "") for g in contract), contract
