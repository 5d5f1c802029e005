"""The security checks as the gate runs them (tests/security/*.py in a child pytest, one Evidence record each),
against targets that need no network: a plain-http target is N/A on loopback and a finding elsewhere (nothing
is sent to it); auth needs a positive control and probes; trivy tells clean from scanned nothing; ZAP counts
pages and responses and reports what its link parser could not read; unreadable findings/history are errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.evidence import Evidence
from harness.policy import load_policy
from harness.security import tls
from harness.security.errors import ReportFileError
from harness.security.history import mark_and_record
from harness.security.passive import collect
from harness.security.report import Reports
from harness.security.trivy import misconfig_files, run_trivy, secret_scanned_files, vuln_coverage
from harness.target import Target
from harness.verdict import evaluate

ROOT = Path(__file__).resolve().parents[2]
TRIVY = str(Path(sys.executable).parent / "trivy")


def run_check(module: str, target: Target, tmp_path: Path, **env: str) -> Evidence:
    """Run tests/security/<module> against target (handed down, so nothing probes it first) -> its record."""
    evidence = tmp_path / "reports" / "evidence.json"
    child = {k: v for k, v in os.environ.items() if not k.startswith(("HARNESS_", "PYTEST_", "ZAP_"))}
    child.update(HARNESS_TARGET_JSON=target.to_json(), **env)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", f"tests/security/{module}", "-q", "--harness-evidence", str(evidence)],
        cwd=ROOT,
        env=child,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    records = [Evidence.from_dict(r) for r in json.loads(evidence.read_text())["records"]]
    assert records, done.stdout[-2000:]
    return records[0]


def gate_status(gate_id: str, record: Evidence) -> tuple[str, str]:
    """How the pr phase's gate judges this one record: (status, reason)."""
    phase = load_policy(None).phase("pr")
    decision = evaluate(phase, [record], selected=(record.suite,), available={record.suite})
    gate = next(g for g in decision.gates if g.id == gate_id)
    return gate.status, gate.reason


# -- TLS -------------------------------------------------------------------------------------------


def test_a_plain_http_loopback_target_is_not_applicable_never_a_pass(tmp_path):
    rec = run_check("test_tls.py", Target("http://127.0.0.1:9", ephemeral=True), tmp_path)
    assert rec.outcome == "not_applicable" and "plain-http loopback target http://127.0.0.1:9" in rec.message
    status, reason = gate_status("security.tls", rec)
    assert status == "not_applicable" and reason.startswith("security.tls: not applicable: plain-http loopback")


def test_require_https_fails_a_loopback_http_target(tmp_path):
    rec = run_check("test_tls.py", Target("http://[::1]:9"), tmp_path, HARNESS_SECURITY_REQUIRE_HTTPS="1")
    assert rec.outcome == "failed" and "is plain http and require_https is set" in rec.message


def test_a_plain_http_target_that_is_not_loopback_fails_with_a_finding(tmp_path):
    """Nothing is sent to it: the scheme alone is the finding."""
    rec = run_check("test_tls.py", Target("http://orchestra.staging.example:8080"), tmp_path)
    assert rec.outcome == "failed", rec.message
    assert "serves plain http; staging/production must use TLS" in rec.message
    assert gate_status("security.tls", rec)[0] == "fail"
    doc = json.loads((tmp_path / "reports/security/findings/tls.json").read_text())
    assert [f["rule_id"] for f in doc["findings"]] == ["tls.plain_http"] and doc["findings"][0]["blocking"]


def test_the_ca_of_a_harness_started_https_stack_is_used_unless_one_is_configured():
    with_ca, without = SimpleNamespace(ca_file="/run/stack/ca.pem"), SimpleNamespace()
    assert tls.ca_file_for(None, with_ca) == Path("/run/stack/ca.pem")
    assert tls.ca_file_for(Path("/etc/mine.pem"), with_ca) == Path("/etc/mine.pem")
    assert tls.ca_file_for(None, without) is None
    assert tls.ca_file_for(None, Target("https://x")) is None  # before Target.ca_file exists


# -- auth ------------------------------------------------------------------------------------------

TOKEN = "the-real-token"


def _doc(secured: bool) -> dict:
    op = {"responses": {"200": {"description": "ok"}}}
    if secured:
        op["security"] = [{"bearer": []}]
    return {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/health": {"get": op}}}


@pytest.fixture
def auth_api(request, http_stub) -> str:
    """/openapi.json (one operation, secured or not) and /health, which checks the token (or answers 500)."""
    secured, health_status = request.param

    def respond(path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if path == "/openapi.json":
            return 200, json.dumps(_doc(secured)).encode()
        if not secured:
            return health_status, b"{}"
        return (health_status if headers.get("Authorization") == f"Bearer {TOKEN}" else 401), b"{}"

    return http_stub(respond)


NO_WS = {"HARNESS_SECURITY_WEBSOCKET_PATHS": "", "HARNESS_SECURITY_PUBLIC_OPERATIONS": "GET /metrics"}


@pytest.mark.parametrize("auth_api", [(True, 200)], indirect=True)
def test_auth_counts_probes_and_the_positive_control(auth_api, tmp_path):
    rec = run_check("test_auth.py", Target(auth_api, token=TOKEN), tmp_path, **NO_WS)
    assert rec.outcome == "passed", rec.message
    assert rec.coverage == {"probes": 4, "positive_controls": 1}
    assert rec.measurements["auth_failures"] == 0
    assert gate_status("security.auth_failures", rec)[0] == "pass"


@pytest.mark.parametrize("auth_api", [(True, 200)], indirect=True)
def test_auth_without_a_token_or_with_a_refused_one_is_an_error_saying_what_to_do(auth_api, tmp_path):
    rec = run_check("test_auth.py", Target(auth_api), tmp_path / "none", **NO_WS)
    assert rec.outcome == "error" and "set HARNESS_TOKEN" in rec.message
    rec = run_check("test_auth.py", Target(auth_api, token="not-it"), tmp_path / "wrong", **NO_WS)
    assert rec.outcome == "error", rec.message
    assert "every protected operation refused the harness's own token (GET /health: HTTP 401)" in rec.message
    status, reason = gate_status("security.auth_failures", rec)
    assert status == "error" and "set HARNESS_TOKEN to a token the target accepts" in reason


@pytest.mark.parametrize("auth_api", [(True, 500)], indirect=True)
def test_a_control_that_fails_for_another_reason_says_so(auth_api, tmp_path):
    rec = run_check("test_auth.py", Target(auth_api, token=TOKEN), tmp_path, **NO_WS)
    assert rec.outcome == "error" and "not for an auth reason (GET /health: HTTP 500)" in rec.message


@pytest.mark.parametrize("auth_api", [(False, 200)], indirect=True)
def test_nothing_to_probe_is_zero_coverage_and_the_gate_is_missing(auth_api, tmp_path):
    env = {**NO_WS, "HARNESS_SECURITY_PUBLIC_OPERATIONS": "GET /health"}
    rec = run_check("test_auth.py", Target(auth_api, token=TOKEN), tmp_path, **env)
    assert rec.outcome == "passed" and rec.coverage == {"probes": 0}
    status, reason = gate_status("security.auth_failures", rec)
    assert status == "missing" and "covered nothing (probes 0" in reason


# -- trivy -----------------------------------------------------------------------------------------


def test_trivy_config_lists_every_config_file_it_judged_clean_or_not(tmp_path):
    run = run_trivy(TRIVY, ["config", "--skip-check-update", str(ROOT / "deploy")], output=tmp_path / "c.json",
                    cache_dir=tmp_path / "cache", timeout_s=120, cwd=ROOT)  # fmt: skip
    # the two Dockerfiles (the reference service's, the harness image's), the guide's two k8s manifests,
    # harness-serve.yaml, harness-load.yaml and the Argo/Flagger manifests (3)
    assert misconfig_files(run.report) == 9
    (tmp_path / "empty").mkdir()
    run = run_trivy(TRIVY, ["config", "--skip-check-update", str(tmp_path / "empty")], output=tmp_path / "e.json",
                    cache_dir=tmp_path / "cache2", timeout_s=120, cwd=ROOT)  # fmt: skip
    assert misconfig_files(run.report) == 0 and "Results" not in run.report  # "clean" and "nothing" look alike


def test_trivy_fs_counts_the_files_its_secret_scanner_read(tmp_path):
    tree = tmp_path / "tree"
    (tree / "skipme").mkdir(parents=True)
    (tree / "a.txt").write_text("hi\n")  # too small for trivy's secret analyzer to read: not counted
    (tree / "b.py").write_text("print('a line of code')\n")
    (tree / "c.sh").write_text("echo a line of shell\n")
    (tree / "skipme" / "c.txt").write_text("skipped\n")
    args = ["fs", "--scanners", "secret", "--skip-check-update", "--skip-dirs", "skipme", "."]
    run = run_trivy(TRIVY, args, output=tmp_path / "fs.json", cache_dir=tmp_path / "cache", timeout_s=120,
                    cwd=tree, count_scanned=True)  # fmt: skip
    assert run.secret_files == 2 and run.report.get("Results") is None  # clean, and the 2 files it read
    assert secret_scanned_files(['DEBUG [secret] scanStream called file_path="a" x', "other"]) == 1
    assert secret_scanned_files(["no such lines in a changed log format"]) == 0


def test_the_trivy_gate_is_missing_when_the_config_scan_saw_no_file(tmp_path):
    (tmp_path / "empty").mkdir()
    env = {"HARNESS_SECURITY_DEPLOY_DIR": str(tmp_path / "empty"), "HARNESS_SECURITY_TRIVY_FS": "0"}
    rec = run_check("test_trivy.py::test_trivy_config_and_repository", Target("http://127.0.0.1:9"), tmp_path, **env)
    assert rec.outcome == "passed" and rec.coverage == {"config_files": 0}
    status, reason = gate_status("security.trivy_high_critical", rec)
    assert status == "missing" and "covered nothing (config_files 0" in reason


def test_vulnerability_coverage_counts_package_targets_and_packages():
    doc = {
        "SchemaVersion": 2,
        "Results": [
            {"Target": "debian 12", "Class": "os-pkgs", "Packages": [{"Name": "a"}, {"Name": "b"}]},
            {"Target": "requirements.txt", "Class": "lang-pkgs", "Packages": [{"Name": "c"}]},
            {"Target": "Dockerfile", "Class": "config", "MisconfSummary": {"Successes": 1, "Failures": 0}},
        ],
    }
    assert vuln_coverage(doc) == {"targets": 2, "packages": 3}
    assert vuln_coverage({"SchemaVersion": 2}) == {"targets": 0}


# -- ZAP passive scan ------------------------------------------------------------------------------


@pytest.fixture
def site(http_stub) -> str:
    pages = {
        "/": b'<html><a href="/docs">docs</a><a href="/broken">b</a></html>',
        "/docs": b"<html><p>docs</p></html>",
        "/broken": b'<html><a href="/before">ok</a><![bogus ]><a href="/after">lost</a></html>',
        "/before": b"<html></html>",
        "/openapi.json": b'{"openapi": "3.1.0", "paths": {}}',
    }

    return http_stub(lambda path, headers: (200 if path in pages else 404, pages.get(path, b"{}")))


def test_the_crawl_counts_pages_and_responses_and_reports_what_it_could_not_parse(site):
    crawl = collect(site, None, creds=None, entry_paths=["/"], extra_urls=[f"{site}/openapi.json"], timeout_s=5)
    fetched = sorted(e.url.removeprefix(site) for e in crawl.exchanges)
    assert fetched == ["/", "/before", "/broken", "/docs", "/openapi.json"]  # /after sits behind the parse error
    assert (crawl.pages, crawl.responses) == (5, 5)
    assert (
        len(crawl.failures) == 1
        and f"GET {site}/broken: the link parser read the page only in part" in (crawl.failures[0])
    )
    assert "AssertionError" in crawl.failures[0]


# -- findings and history files --------------------------------------------------------------------


def test_an_unreadable_findings_file_or_history_is_an_error_never_dropped(tmp_path):
    reports = Reports(tmp_path, Target("http://127.0.0.1:9", ephemeral=True))
    reports.finish("zap", [], [])
    (reports.dir / "findings" / "trivy.json").write_text("{not json")
    with pytest.raises(ReportFileError, match=r"findings file .*trivy.json cannot be read"):
        reports.finish("auth", [], [])
    history = tmp_path / "history.json"
    history.write_text("[1, 2]")
    with pytest.raises(ReportFileError, match="new-vs-known cannot be judged; move it aside or delete it"):
        mark_and_record([], history, "zap @ local")
    assert history.read_text() == "[1, 2]"  # kept for a person to look at


def test_a_check_whose_history_is_unreadable_ends_as_an_error(tmp_path):
    (tmp_path / "reports" / "history").mkdir(parents=True)
    (tmp_path / "reports" / "history" / "security.json").write_text("{oops")
    rec = run_check("test_tls.py", Target("http://orchestra.staging.example"), tmp_path)
    assert rec.outcome == "error" and "security history" in rec.message and "cannot be read" in rec.message


# -- trivy scans the service's own files (the profile's files.source) -------------------------------


def _service(tmp_path: Path, files: str) -> Path:
    profile = tmp_path / "svc" / "service.toml"
    profile.parent.mkdir(parents=True)
    profile.write_text(f'name = "svc"\n[paths]\nhealth = "/health"\n{files}')
    return profile


def test_trivy_findings_come_only_from_the_profiles_source_directory(tmp_path):
    """A service whose Dockerfile runs as root: the finding is that file, relative to the service's source;
    nothing of the harness's own tree (its deploy/, its manifests, its fixtures) is scanned."""
    profile = _service(tmp_path, '[files]\nsource = "src"\n')
    src = profile.parent / "src"
    (src / "docker").mkdir(parents=True)
    (src / "docker" / "Dockerfile").write_text("FROM alpine:3.19\nRUN echo built\n")  # no USER: runs as root
    (src / "app.py").write_text("print('the service')\n")
    rec = run_check(
        "test_trivy.py::test_trivy_config_and_repository", Target("http://127.0.0.1:9"), tmp_path,
        HARNESS_SERVICE_FILE=str(profile),
    )  # fmt: skip
    assert rec.outcome == "failed" and "DS-0002" in rec.message, rec.message
    doc = json.loads((tmp_path / "reports/security/findings/trivy.json").read_text())
    assert doc["source"] == str(src) and doc["config_dir"] == str(src)  # no deploy/: the whole source
    files = {f["file"] for f in doc["findings"]}
    assert "docker/Dockerfile" in files and {f["rule_id"] for f in doc["findings"]} >= {"DS-0002"}
    assert all((src / f).is_file() for f in files), files  # every finding is a file of the service
    for name in ("trivy-config.json", "trivy-fs.json"):
        targets = {r["Target"] for r in json.loads((tmp_path / "reports/security" / name).read_text())["Results"]}
        assert targets == {"docker/Dockerfile"}, (name, targets)
    assert rec.coverage["files"] >= 1 and rec.coverage["config_files"] == 1


def test_a_profile_without_a_source_makes_the_trivy_checks_not_applicable(tmp_path):
    profile = _service(tmp_path, "")
    for check in ("test_trivy_config_and_repository", "test_trivy_vulnerabilities"):
        rec = run_check(
            f"test_trivy.py::{check}", Target("http://127.0.0.1:9"), tmp_path / check, HARNESS_SERVICE_FILE=str(profile)
        )
        assert rec.outcome == "not_applicable" and "names no files.source" in rec.message, rec.message
        if check == "test_trivy_config_and_repository":  # the pr phase's gate (trivy_vulns is a later phase's)
            status, reason = gate_status("security.trivy_high_critical", rec)
            assert status == "not_applicable" and "service profile 'svc'" in reason


def test_an_operation_level_parameter_overrides_the_path_level_one_of_the_same_name():
    from harness.security.operations import operations, request_for

    doc = {
        "openapi": "3.0.3",
        "paths": {
            "/items/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "get": {
                    "parameters": [{"name": "id", "in": "path", "required": True, "example": 42}],
                    "responses": {"200": {"description": "ok"}},
                },
            }
        },
    }
    (op,) = operations(doc)
    assert len(op.spec["parameters"]) == 1
    assert request_for(op, doc, "http://h").url == "http://h/items/42"
