"""harness serve without gate runs: the real HTTP server (uvicorn on a loopback port) with a launcher that
stands in for the `harness gate` child process (its verdict is decided by the test). The child process
itself, the reference stack and the controllers' replays are in tests/e2e/test_serve.py."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn

from harness.config import Settings, load_settings
from harness.errors import ConfigError
from harness.serve.auth import authorized, server_token
from harness.serve.metrics import Metrics
from harness.serve.runs import Run, Runner, _read_verdict, no_verdict
from harness.serve.store import Store, Stored, config_fingerprint

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "unit-test-serve-token-0123456789"
ALLOWED = "http://allowed.example:8000"


def verdict_doc(phase: str, verdict: str) -> dict[str, Any]:
    doc = no_verdict(phase, f"the stand-in run said {verdict}")
    doc["verdict"] = verdict
    doc["gates"] = [{"id": "smoke.all", "status": "pass" if verdict == "go" else "fail", "reason": "stand-in"}]
    return doc


@dataclass
class Launcher:
    """Stands in for the child process: each run waits until the test releases it; checksum 'bad' is no-go."""

    release: threading.Event = field(default_factory=threading.Event)
    launched: list[str] = field(default_factory=list)

    def __call__(self, run: Run, reports: Path) -> dict[str, Any] | None:
        self.launched.append(run.id)
        if not self.release.wait(timeout=30):
            return None
        return verdict_doc(run.phase, "no-go" if run.checksum.startswith("bad") else "go")


@dataclass
class Served:
    url: str
    runner: Runner
    launcher: Launcher

    def get(self, path: str, token: str | None = TOKEN, **kw: Any) -> requests.Response:
        return requests.get(self.url + path, headers=_auth(token), timeout=10, **kw)

    def post(self, path: str, token: str | None = TOKEN, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return requests.post(self.url + path, headers={**_auth(token), **(headers or {})}, timeout=10, **kw)

    def settle(self, path: str) -> requests.Response:
        deadline = time.monotonic() + 10
        while (r := self.get(path)).status_code in (503, 423) and time.monotonic() < deadline:
            time.sleep(0.05)
        return r


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_for(tmp_path: Path, **extra: Any) -> Any:
    flags = {"policy_file": str(ROOT / "policies/smoke-only.toml"), "serve_db": str(tmp_path / "serve.db")}
    flags["serve_targets"] = ALLOWED
    return replace(load_settings(flags, env={}, root=ROOT), **extra)


@pytest.fixture
def serve(tmp_path) -> Iterator[Any]:
    """serve(**settings) -> Served: a running server with a stand-in launcher; stopped after the test."""
    from harness.serve.app import create_app
    from harness.suites import available_suites

    started: list[tuple[uvicorn.Server, threading.Thread, Runner, Store, Launcher]] = []

    def start(**extra: Any) -> Served:
        settings = settings_for(tmp_path, **extra)
        store = Store(settings.serve_db, settings.serve_ttl_s)
        launcher = Launcher()
        runner = Runner(settings, store, launch=launcher)
        metrics = Metrics(runner.queue_length, runner.running)
        runner.on_finish = metrics.finished
        phases = ["internal", "pr", "canary-10", "smoke"]
        app = create_app(settings, runner, metrics, phases, available_suites(settings.suites_dir), TOKEN)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        started.append((server, thread, runner, store, launcher))
        return Served(f"http://127.0.0.1:{port}", runner, launcher)

    yield start
    for server, thread, runner, store, launcher in started:
        launcher.release.set()
        runner.shutdown(timeout_s=5)
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


# -- authentication and the server's start-up refusals ---------------------------------------------------


def test_healthz_needs_no_token_everything_else_does(serve):
    s = serve()
    assert s.get("/healthz", token=None).status_code == 200
    for path in ("/gates/smoke", "/metrics", "/runs/abc"):
        for token in (None, "wrong-token-wrong-token"):
            r = s.get(path, token=token)
            assert r.status_code == 401, path
            assert r.headers["content-type"] == "application/json" and "bearer token" in r.json()["error"]
            assert r.headers["www-authenticate"] == "Bearer"
    r = s.post("/flagger/rollout", token=None, json={"name": "a", "namespace": "b"})
    assert r.status_code == 401
    assert s.launcher.launched == []  # nothing started for a caller without the token


def test_flagger_hooks_may_carry_the_token_in_their_metadata(serve):
    s = serve()
    payload = {"name": "a", "namespace": "b", "checksum": "m1", "metadata": {"phase": "smoke", "token": TOKEN}}
    r = requests.post(s.url + "/flagger/rollout", json=payload, timeout=10)
    assert r.status_code == 423 and TOKEN not in r.text
    payload["metadata"]["token"] = "wrong-token-wrong-token"
    assert requests.post(s.url + "/flagger/rollout", json=payload, timeout=10).status_code == 401
    runs = {"phase": "smoke", "metadata": {"token": TOKEN}}  # only Flagger's endpoint reads it there
    assert requests.post(s.url + "/runs", json=runs, timeout=10).status_code == 401
    assert len(s.launcher.launched) == 1


def test_authorized_compares_the_whole_bearer_token():
    assert authorized(f"Bearer {TOKEN}", TOKEN)
    assert not authorized(f"Bearer {TOKEN[:-1]}", TOKEN)
    assert not authorized(TOKEN, TOKEN)  # no scheme
    assert not authorized(None, TOKEN)
    assert authorized(None, None)  # loopback without a token: open


def test_no_token_on_a_non_loopback_host_is_refused():
    with pytest.raises(ConfigError, match="not a loopback address and HARNESS_SERVE_TOKEN is not set"):
        server_token("0.0.0.0", {})
    with pytest.raises(ConfigError, match="HARNESS_SERVE_TOKEN is shorter"):
        server_token("127.0.0.1", {"HARNESS_SERVE_TOKEN": "short"})
    assert server_token("127.0.0.1", {}) is None
    assert server_token("::1", {}) is None
    assert server_token("0.0.0.0", {"HARNESS_SERVE_TOKEN": TOKEN}) == TOKEN


# -- bad requests: each gets its status and a JSON error, and the server keeps serving -----------------


def test_body_over_64_kib_is_413_with_or_without_content_length(serve):
    s = serve()
    big = b"{" + b" " * (64 * 1024) + b"}"
    r = s.post("/runs", data=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["limit_bytes"] == 64 * 1024
    chunked = s.post("/flagger/rollout", data=iter([big[:40000], big[40000:]]))  # no Content-Length
    assert chunked.status_code == 413
    assert s.launcher.launched == []
    assert s.post("/runs", json={"phase": "smoke"}).status_code == 202


def test_unknown_phase_is_404_naming_the_phases(serve):
    s = serve()
    for r in (s.get("/gates/canary-99"), s.post("/runs", json={"phase": "canary-99"})):
        assert r.status_code == 404
        assert r.json()["phases"] == ["internal", "pr", "canary-10", "smoke"]
    r = s.post("/flagger/rollout", json={"name": "a", "namespace": "b", "metadata": {"phase": "nope"}})
    assert r.status_code == 404 and "nope" in r.json()["error"]


@pytest.mark.parametrize(
    "path,body",
    [
        ("/runs", b"{not json"),
        ("/runs", b"[1, 2]"),
        ("/runs", b'{"phase": 3}'),
        ("/runs", b'{"phase": "smoke", "suites": ["nosuch"]}'),
        ("/runs", b'{"phase": "smoke", "extra": 1}'),
        ("/runs", b'{"phase": "smoke", "checksum": "a b/../c"}'),
        ("/flagger/rollout", b"\xff\xfe"),
        ("/flagger/rollout", b'{"namespace": "x"}'),
        ("/flagger/rollout", b'{"name": "a", "namespace": "b", "metadata": {"k": 1}}'),
    ],
)
def test_malformed_requests_are_400_json(serve, path, body):
    s = serve()
    r = s.post(path, data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json" and r.json()["error"]
    assert s.launcher.launched == []


def test_target_outside_serve_targets_is_403(serve):
    s = serve()
    for r in (
        s.get("/gates/smoke", params={"target": "http://169.254.169.254/"}),
        s.post("/runs", json={"phase": "smoke", "target": "http://elsewhere.example"}),
        s.post("/flagger/rollout", json={"name": "a", "namespace": "b", "metadata": {"target": "http://x.example"}}),
    ):
        assert r.status_code == 403 and "serve_targets" in r.json()["error"]
    assert s.launcher.launched == []
    r = s.get("/gates/smoke", params={"target": ALLOWED + "/"})
    assert r.status_code == 503 and r.json()["target"] == ALLOWED


def test_unknown_routes_and_hooks_answer_json(serve):
    s = serve()
    r = s.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"]
    r = s.post("/flagger/promote", json={"name": "a", "namespace": "b"})
    assert r.status_code == 404 and "rollback" in r.json()["hooks"]
    r = s.get("/runs/0123")
    assert r.status_code == 404 and r.json()["error"]


# -- runs, the Argo endpoint and the Flagger hooks ----------------------------------------------------


def test_gates_answers_503_until_the_verdict_then_200_and_reuses_it(serve):
    s = serve()
    first = s.get("/gates/smoke", params={"checksum": "c1"})
    assert first.status_code == 503 and first.json()["status"] in ("queued", "running")
    assert first.headers["retry-after"] == "10"
    assert s.get("/gates/smoke", params={"checksum": "c1"}).status_code == 503  # never 200 without a verdict
    s.launcher.release.set()
    done = s.settle("/gates/smoke?checksum=c1")
    assert done.status_code == 200 and done.json()["verdict"] == "go"
    assert done.json()["run_id"] == first.json()["run_id"] and done.json()["gates"][0]["id"] == "smoke.all"
    assert s.get("/gates/smoke", params={"checksum": "c1"}).json()["run_id"] == first.json()["run_id"]
    assert len(s.launcher.launched) == 1  # reused, not run again
    run = s.get(f"/runs/{first.json()['run_id']}").json()
    assert run["status"] == "done" and run["document"]["verdict"] == "go"


def test_twenty_concurrent_identical_requests_start_one_run(serve):
    s = serve(serve_workers=2)
    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(lambda _: s.get("/gates/smoke", params={"checksum": "same"}), range(20)))
    assert {a.status_code for a in answers} == {503}
    assert len({a.json()["run_id"] for a in answers}) == 1
    s.launcher.release.set()
    assert s.settle("/gates/smoke?checksum=same").json()["verdict"] == "go"
    assert len(s.launcher.launched) == 1 and s.runner.started == 1


def test_a_full_queue_is_a_409_json_and_the_server_keeps_serving(serve):
    s = serve(serve_queue=1, serve_workers=1)
    assert s.get("/gates/smoke", params={"checksum": "a"}).status_code == 503  # running
    deadline = time.monotonic() + 5
    while s.runner.running() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert s.get("/gates/smoke", params={"checksum": "b"}).status_code == 503  # queued
    full = s.get("/gates/smoke", params={"checksum": "c"})
    assert full.status_code == 409 and "queue full" in full.json()["error"]
    assert s.post("/runs", json={"phase": "smoke", "checksum": "d"}).status_code == 409
    s.launcher.release.set()
    assert s.settle("/gates/smoke?checksum=b").json()["verdict"] == "go"


def test_runs_for_one_phase_and_target_never_overlap(serve):
    s = serve(serve_workers=2)
    s.get("/gates/smoke", params={"checksum": "x1"})
    s.get("/gates/smoke", params={"checksum": "x2"})
    s.get("/gates/pr", params={"checksum": "x1"})
    deadline = time.monotonic() + 5
    while s.runner.running() < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    assert s.runner.running() == 2 and s.runner.queue_length() == 1  # smoke x2 waits for smoke x1
    s.launcher.release.set()


def test_flagger_go_promotes_and_refuses_rollback(serve):
    s = serve()
    payload = {"name": "app", "namespace": "prod", "phase": "Progressing", "checksum": "85d557f47b"}
    payload["metadata"] = {"phase": "smoke"}
    running = s.post("/flagger/rollout", json=payload)
    assert running.status_code == 423 and running.json()["reasons"]
    assert s.post("/flagger/rollback", json=payload).status_code == 404  # not known yet: no rollback
    s.launcher.release.set()
    deadline = time.monotonic() + 10
    while (r := s.post("/flagger/rollout", json=payload)).status_code == 423 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 200 and r.json()["verdict"] == "go"
    for hook in ("pre-rollout", "confirm-rollout", "confirm-traffic-increase", "confirm-promotion"):
        assert s.post(f"/flagger/{hook}", json=payload).status_code == 200, hook
    rollback = s.post("/flagger/rollback", json=payload)
    assert rollback.status_code == 404 and rollback.json()["rollback"] is False
    assert s.post("/flagger/post-rollout", json=payload).status_code == 200
    assert len(s.launcher.launched) == 1


def test_flagger_no_go_halts_and_rolls_back(serve):
    s = serve()
    s.launcher.release.set()
    payload = {"name": "app", "namespace": "prod", "phase": "Progressing", "checksum": "bad-build"}
    payload["metadata"] = {"phase": "smoke"}
    deadline = time.monotonic() + 10
    while (r := s.post("/flagger/rollout", json=payload)).status_code == 423 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.status_code == 403 and r.json()["verdict"] == "no-go" and r.json()["reasons"]
    rollback = s.post("/flagger/rollback", json={**payload, "metadata": {}})  # any phase's latest verdict
    assert rollback.status_code == 200 and rollback.json()["rollback"] is True
    other = s.post("/flagger/rollback", json={**payload, "checksum": "another"})
    assert other.status_code == 404


def test_metrics_count_runs_by_phase_and_verdict(serve):
    s = serve()
    s.launcher.release.set()
    s.get("/gates/smoke", params={"checksum": "bad1"})
    assert s.settle("/gates/smoke?checksum=bad1").json()["verdict"] == "no-go"
    text = s.get("/metrics").text
    assert 'harness_serve_runs_total{phase="smoke",verdict="no-go"} 1.0' in text
    assert 'harness_serve_run_duration_seconds_count{phase="smoke"} 1.0' in text
    assert "harness_serve_queue_length 0.0" in text


# -- the store and the child's verdict ---------------------------------------------------------------


def test_store_keeps_verdicts_across_restarts_until_the_ttl(tmp_path):
    db = tmp_path / "serve.db"
    store = Store(db, ttl_s=3600)
    store.put(Stored("r1", "pr", "local", "abc", "go", time.time(), verdict_doc("pr", "go")))
    store.close()
    again = Store(db, ttl_s=3600)
    got = again.fresh("pr", "local", "abc")
    assert got is not None and got.run_id == "r1" and got.doc["verdict"] == "go"
    assert again.fresh("pr", "local", "other") is None and again.fresh("internal", "local", "abc") is None
    assert again.fresh(None, "local", "abc") is not None and again.by_id("r1") is not None
    again.close()
    expired = Store(db, ttl_s=0)
    assert expired.fresh("pr", "local", "abc") is None
    expired.close()


def test_a_verdict_is_reused_only_under_the_configuration_it_was_reached_under(tmp_path):
    """A server restarted with another policy file (or the same file edited), another service profile or other
    HARNESS_* settings judges again instead of answering with the old configuration's verdict."""
    policy = tmp_path / "policy.toml"
    policy.write_text("[phases.pr]\nreruns = 1\n")
    settings = Settings(policy_file=policy, serve_db=tmp_path / "serve.db")
    first = config_fingerprint(settings, env={})
    assert first == config_fingerprint(settings, env={"HARNESS_TOKEN": "t0ken"})  # secrets are not part of it
    assert first == config_fingerprint(replace(settings, serve_ttl_s=5), env={})  # the server's own settings neither
    store = Store(settings.serve_db, 3600, first)
    store.put(Stored("r1", "pr", "local", "abc", "go", time.time(), verdict_doc("pr", "go")))
    store.close()
    policy.write_text("[phases.pr]\nreruns = 0\n")  # the same path, edited
    others = [
        config_fingerprint(settings, env={}),
        config_fingerprint(replace(settings, policy_file=None), env={}),
        config_fingerprint(replace(settings, service_file=tmp_path / "service.toml"), env={}),
        config_fingerprint(settings, env={"HARNESS_LOAD_DURATION_S": "5"}),
    ]
    assert first not in others and len(set(others)) == len(others)
    for config in others:
        again = Store(settings.serve_db, 3600, config)
        assert again.fresh("pr", "local", "abc") is None and again.by_id("r1") is not None
        again.close()
    same = Store(settings.serve_db, 3600, first)
    assert same.fresh("pr", "local", "abc") is not None
    same.close()


def test_a_serve_db_of_an_earlier_version_is_upgraded_and_its_rows_not_reused(tmp_path):
    import sqlite3

    db = tmp_path / "serve.db"
    old = sqlite3.connect(db)
    old.execute(
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, phase TEXT NOT NULL, target TEXT NOT NULL, checksum TEXT NOT NULL,"
        " verdict TEXT NOT NULL, finished_at REAL NOT NULL, doc TEXT NOT NULL)"
    )
    old.execute("INSERT INTO runs VALUES ('r0', 'pr', 'local', 'abc', 'go', ?, '{}')", (time.time(),))
    old.commit()
    old.close()
    store = Store(db, 3600, "a-config")
    assert store.fresh("pr", "local", "abc") is None and store.by_id("r0") is not None
    store.put(Stored("r1", "pr", "local", "abc", "go", time.time(), verdict_doc("pr", "go")))
    assert store.fresh("pr", "local", "abc").run_id == "r1"
    store.close()


def test_an_unusable_serve_db_is_a_config_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="serve_db"):
        Store(tmp_path / "file" / "serve.db", 60)


def test_a_run_stopped_on_its_time_bound_is_inconclusive(tmp_path):
    run = Run(id="r", phase="pr", target="local", checksum="")
    (tmp_path / "verdict.json").write_text('{"verdict": "go", "reasons": []}')
    doc = _read_verdict(run, tmp_path, None, tmp_path / "log", 30)
    assert doc["verdict"] == "inconclusive" and "serve_run_timeout_s = 30 s" in doc["reasons"][0]
    (tmp_path / "log").write_text("harness: error: unknown phase\n")
    (tmp_path / "verdict.json").unlink()
    doc = _read_verdict(run, tmp_path, 64, tmp_path / "log", 30)
    assert (
        doc["verdict"] == "inconclusive" and "status 64" in doc["reasons"][0] and "unknown phase" in doc["reasons"][0]
    )
    (tmp_path / "verdict.json").write_text('{"verdict": "no-go", "reasons": ["x"]}')
    assert _read_verdict(run, tmp_path, 1, tmp_path / "log", 30)["verdict"] == "no-go"
    (tmp_path / ".gate-in-progress").write_text("{}")  # a verdict under an unfinished marker is not read
    assert _read_verdict(run, tmp_path, 1, tmp_path / "log", 30)["verdict"] == "inconclusive"


def test_serve_settings_are_validated(tmp_path):
    with pytest.raises(ConfigError, match="serve_targets 'ftp://x'"):
        load_settings({"serve_targets": "ftp://x"}, env={}, root=ROOT)
    with pytest.raises(ConfigError, match="serve_workers"):
        load_settings({"serve_workers": 0}, env={}, root=ROOT)
    s = load_settings({}, env={"HARNESS_SERVE_TARGETS": "http://a.example,https://b.example"}, root=ROOT)
    assert s.serve_targets == ("http://a.example", "https://b.example") and s.serve_db.is_absolute()


def test_the_default_target_is_used_and_allowed(serve):
    s = serve(target="http://default.example:8000")
    r = s.get("/gates/smoke", params={"checksum": "d1"})
    assert r.status_code == 503 and r.json()["target"] == "http://default.example:8000"
    again = s.get("/gates/smoke", params={"checksum": "d1", "target": "http://default.example:8000/"})
    assert again.status_code == 503 and again.json()["run_id"] == r.json()["run_id"]
    assert s.get("/gates/smoke", params={"target": "http://other.example"}).status_code == 403


def test_reports_of_runs_older_than_the_ttl_are_removed(serve, tmp_path):
    s = serve()
    runs = tmp_path / "runs"
    old, new = runs / "0ld", runs / "n3w"
    for d in (old, new):
        d.mkdir(parents=True)
        (runs / f"{d.name}.log").write_text("x")
    stale = time.time() - 2 * 3600
    for p in (old, runs / "0ld.log"):
        os.utime(p, (stale, stale))
    s.launcher.release.set()
    s.get("/gates/smoke", params={"checksum": "p1"})
    assert s.settle("/gates/smoke?checksum=p1").status_code == 200
    assert not old.exists() and not (runs / "0ld.log").exists()
    assert new.is_dir() and (runs / "n3w.log").is_file()


def test_serve_service_profile_is_checked_before_listening_and_reaches_every_run(tmp_path, monkeypatch, capsys):
    """`harness serve --service FILE`: a bad profile is refused at start-up (one line, exit 64); a good one is on
    every gate run's command line."""
    from harness.cli import main
    from harness.serve.runs import gate_argv

    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "service.toml"
    bad.write_text('name = "x"\n[paths]\nhealth = 7\n')
    monkeypatch.setenv("HARNESS_SERVE_DB", str(tmp_path / "serve.db"))
    for args, words in (
        (["--service", str(bad)], ("service.toml", "paths.health")),
        (["--service", str(tmp_path / "absent.toml")], ("absent.toml", "does not exist")),
    ):
        with pytest.raises(SystemExit) as exit_:
            main(["serve", "--port", str(_free_port()), *args])
        err = capsys.readouterr().err
        assert exit_.value.code == 64, err
        assert err.strip().count("\n") == 0 and all(w in err for w in words), err
    ledger = ROOT / "examples/ledger/service.toml"
    settings = settings_for(tmp_path, service_file=ledger)
    argv = gate_argv(Run("r1", "pr", "http://allowed.example:8000", "c"), tmp_path / "r1", settings)
    assert argv[argv.index("--service") + 1] == str(ledger) and argv[argv.index("--target") + 1] == ALLOWED
    assert "--service" not in gate_argv(Run("r2", "pr", ALLOWED, "c"), tmp_path / "r2", settings_for(tmp_path))


def test_a_run_gets_what_the_canary_judge_needs_baseline_on_its_own_stack_prometheus_on_a_target(tmp_path):
    """`harness serve --baseline`: a run on a stack of its own starts a baseline (--baseline), a run on a target
    never gets the flag (only a stack the harness starts can act on it); `harness serve --prometheus URL` reaches
    every run as HARNESS_PROMETHEUS_URL (a phase without the live suite ignores it); the server's token never."""
    from harness.serve.runs import LOCAL, gate_argv, gate_env

    plain = settings_for(tmp_path)
    with_baseline = settings_for(tmp_path, baseline=True, suite_flags={"live": {"prometheus_url": "http://p:9090"}})
    assert "--baseline" in gate_argv(Run("a", "canary-25", LOCAL, "c"), tmp_path / "a", with_baseline)
    assert "--baseline" not in gate_argv(Run("b", "canary-25", LOCAL, "c"), tmp_path / "b", plain)
    on_target = gate_argv(Run("c", "canary-25", ALLOWED, "c"), tmp_path / "c", with_baseline)
    assert "--baseline" not in on_target and on_target[on_target.index("--target") + 1] == ALLOWED
    assert "--prometheus" not in on_target  # an environment variable: `--phase pr` would refuse the flag
    environ = {"HARNESS_SERVE_TOKEN": "s3cret-token", "HARNESS_LIVE_BASELINE_SELECTOR": '{track="baseline"}'}
    env = gate_env(with_baseline, environ)
    assert env["HARNESS_PROMETHEUS_URL"] == "http://p:9090" and "HARNESS_SERVE_TOKEN" not in env
    assert env["HARNESS_LIVE_BASELINE_SELECTOR"] == '{track="baseline"}'
    assert "HARNESS_PROMETHEUS_URL" not in gate_env(plain, environ)


def test_serve_baseline_with_a_target_needs_a_baseline_selector(tmp_path, monkeypatch, capsys):
    """Every run of a server with --target gates that deployment: --baseline there is refused (one line, 64)
    unless baseline_selector names the baseline's series; with it the server builds."""
    from harness.cli import main
    from harness.serve.server import build

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_SERVE_DB", str(tmp_path / "serve.db"))
    monkeypatch.delenv("HARNESS_LIVE_BASELINE_SELECTOR", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", str(_free_port()), "--baseline", "--target", ALLOWED])
    err = capsys.readouterr().err
    assert exit_.value.code == 64 and err.strip().count("\n") == 0, err
    assert "baseline_selector" in err and "HARNESS_LIVE_BASELINE_SELECTOR" in err, err
    ok = settings_for(tmp_path, baseline=True, target=ALLOWED, suite_options={"live": {"baseline_selector": '{a="b"}'}})
    build(ok, "127.0.0.1", env={}).close()
