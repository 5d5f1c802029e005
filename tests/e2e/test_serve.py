"""`harness serve` for real (the CLI in a child process, each gate run a `harness gate` child that starts the
reference stack), asked exactly as the two rollout controllers ask:

- Argo Rollouts' `web` metric provider (metricproviders/webmetric): GET with a 10 s client timeout; a
  transport error, a timeout or a non-2xx status is a measurement Error; a 2xx JSON body goes through the
  jsonPath `{$.verdict}`; a path that matches nothing is an Error; then `failureCondition` (result == "no-go")
  wins over `successCondition` (result == "go"), and neither true is Inconclusive. An Error is retried
  (every 10 s in Argo; every 0.5 s here, to keep the test short) until `consecutiveErrorLimit` is passed.
  Released Argo counts a 2xx body that is not JSON as Successful whatever the conditions: the replay fails
  the test on such an answer instead. The final verdicts are also measured with the jsonPath and conditions
  of deploy/argo/analysis-template.yaml as written (whole body, `result.verdict == "go"`).
- Flagger's webhooks (pkg/controller/webhook.go): POST of {name, namespace, phase, checksum, metadata}; only
  200-202 is success; for the `rollback` hook success means "roll back now".

The phase is the smoke-only example policy's `smoke` (a few seconds a run); the faulted build is the
reference app with ORCHESTRA_FAULTS=health_503, set on the server and inherited by every run's stack.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from .conftest import ROOT, harness_env, stack_processes

TOKEN = "e2e-serve-token-4f1c9a7be2d84b0c"
POLICY = "policies/smoke-only.toml"


# -- the controllers, as their code behaves -------------------------------------------------------------


BRIEF = ("{$.verdict}", 'result == "go"', 'result == "no-go"')  # jsonPath, successCondition, failureCondition


def manifest_metric() -> tuple[str, str, str]:
    """The same three fields as deploy/argo/analysis-template.yaml sets them (jsonPath omitted: `{$}`)."""
    doc = yaml.safe_load((ROOT / "deploy/argo/analysis-template.yaml").read_text())
    [metric] = doc["spec"]["metrics"]
    return metric["provider"]["web"].get("jsonPath", "{$}"), metric["successCondition"], metric["failureCondition"]


def manifest_web_url(server: str, **args: str) -> str:
    """The AnalysisTemplate's own web provider URL (deploy/argo/analysis-template.yaml) with its `{{args.X}}`
    substituted as Argo substitutes them (the raw text, no encoding) and the in-cluster server address replaced
    by `server`; every arg the URL names must be given."""
    doc = yaml.safe_load((ROOT / "deploy/argo/analysis-template.yaml").read_text())
    [metric] = doc["spec"]["metrics"]
    url = metric["provider"]["web"]["url"]
    named = set(re.findall(r"\{\{args\.(\w+)\}\}", url))
    assert named <= set(args), f"the template's URL needs args {sorted(named - set(args))}"
    for name in named:
        url = url.replace("{{args." + name + "}}", args[name])
    parts = re.match(r"(https?://[^/]+)(/.*)", url)
    assert parts, url
    return server.rstrip("/") + parts.group(2)


def json_path(path: str, body: Any) -> Any:
    """The k8s JSONPath forms `{$}` and `{$.a.b}`; None when nothing matches (Argo: an Error)."""
    m = re.fullmatch(r"\{\$((?:\.\w+)*)\}", path)
    assert m, f"the replay only knows {{$}} and {{$.a.b}} paths, not {path!r}"
    for key in filter(None, m.group(1).split(".")):
        if not isinstance(body, dict) or key not in body:
            return None
        body = body[key]
    return body


def argo_condition(expr: str, result: Any) -> bool:
    """`result == "x"` or `result.a.b == "x"`, evaluated as expr-lang does for these expressions."""
    m = re.fullmatch(r'result((?:\.\w+)*) == "([^"]*)"', expr)
    assert m, f'the replay only knows `result[.field] == "x"` conditions, not {expr!r}'
    value = json_path("{$" + m.group(1) + "}", result)
    return value == m.group(2)


def argo_measure(url: str, token: str, metric: tuple[str, str, str] = BRIEF) -> tuple[str, requests.Response | None]:
    """One web-provider measurement (GET, 10 s timeout): Successful, Failed, Inconclusive or Error."""
    path, success, failure = metric
    try:
        r = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    except requests.RequestException:
        return "Error", None
    if not 200 <= r.status_code < 300:
        return "Error", r
    try:
        body = r.json()
    except ValueError:
        pytest.fail(f"a 2xx answer that is not JSON: released Argo would count it Successful ({r.text[:200]!r})")
    result = json_path(path, body)
    if result is None:  # the jsonPath matches nothing
        return "Error", r
    if argo_condition(failure, result):  # failure wins when both are true
        return "Failed", r
    if argo_condition(success, result):
        return "Successful", r
    return "Inconclusive", r


@dataclass
class Analysis:
    phase: str  # Successful, Failed, Inconclusive or Error (consecutiveErrorLimit passed)
    errors: list[int | None]  # the status of every Error measurement before the outcome
    last: requests.Response | None


def argo_analysis(
    url: str,
    token: str,
    *,
    error_limit: int = 120,
    retry_s: float = 0.5,
    metric: tuple[str, str, str] = BRIEF,
) -> Analysis:
    """One metric with neither count nor interval: measured until a non-Error outcome, an Error retried until
    there are more than `error_limit` in a row (Argo: DefaultErrorRetryInterval 10 s, here retry_s)."""
    errors: list[int | None] = []
    while True:
        outcome, r = argo_measure(url, token, metric)
        if outcome != "Error":
            return Analysis(outcome, errors, r)
        errors.append(r.status_code if r is not None else None)
        if len(errors) > error_limit:
            return Analysis("Error", errors, r)
        time.sleep(retry_s)


def flagger_hook(base: str, hook: str, checksum: str, token: str, **metadata: str) -> tuple[bool, requests.Response]:
    """One webhook call as Flagger makes it: (success, response); success only on 200, 201 or 202. Flagger
    sends no headers of the user's: the token is in the webhook's metadata, as the Canary in deploy/ puts it."""
    meta = {**metadata, "token": token}
    payload = {"name": "app", "namespace": "prod", "phase": "Progressing", "checksum": checksum, "metadata": meta}
    r = requests.post(f"{base}/flagger/{hook}", json=payload, timeout=10)
    assert token not in r.text  # never echoed
    return r.status_code <= 202, r


# -- the server ------------------------------------------------------------------------------------------


@dataclass
class Serve:
    proc: subprocess.Popen
    url: str
    db: Path
    log: Path

    def runs_started(self) -> int:
        runs = self.db.parent / "runs"
        return len([p for p in runs.iterdir() if p.is_dir()]) if runs.is_dir() else 0

    def get(self, path: str, token: str | None = TOKEN, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.url + path, headers=headers, timeout=10, **kw)

    def post(self, path: str, token: str | None = TOKEN, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        return requests.post(self.url + path, headers=headers, timeout=10, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def harness_serve(tmp_path: Path, *args: str, nofile: int | None = None, **env: str) -> Iterator[Serve]:
    """`harness serve` in its own session until the block ends; then SIGTERM, which must exit 0 and leave no
    gate run behind; its log must never hold the token. nofile: its descriptor limit (soft and hard)."""
    port = _free_port()
    db = tmp_path / "serve" / "serve.db"
    log = tmp_path / "serve.log"
    full = harness_env(
        **{"HARNESS_SERVE_TOKEN": TOKEN, "HARNESS_SERVE_DB": str(db), "HARNESS_POLICY_FILE": POLICY, **env}
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "serve", "--port", str(port), *args],
            cwd=ROOT,
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=None if nofile is None else lambda: _limit_fds(nofile),
        )
    serve = Serve(proc, f"http://127.0.0.1:{port}", db, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(serve.url + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"harness serve did not come up: {log.read_text()[-1500:]}", pytrace=False)
            time.sleep(0.1)
        yield serve
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert proc.returncode == 0, f"harness serve exited {proc.returncode} on SIGTERM: {log.read_text()[-1500:]}"
    assert not _gate_children(db), "a gate run outlived the server"
    assert TOKEN not in log.read_text(), "the server token is in the server's log"
    for file in (db.parent / "runs").rglob("*") if (db.parent / "runs").is_dir() else ():
        if file.is_file():
            assert TOKEN not in file.read_text(errors="replace"), f"the server token is in {file}"


def _limit_fds(n: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def _gate_children(db: Path) -> list[int]:
    """`harness gate` processes writing below this server's runs dir."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "harness.cli gate" in cmd and str(db.parent / "runs") in cmd:
                found.append(int(entry.name))
    return found


# -- the tests -------------------------------------------------------------------------------------------


def test_clean_build_argo_successful_flagger_promotes_one_run_for_twenty_requests(tmp_path):
    with harness_serve(tmp_path) as s:
        url = f"{s.url}/gates/smoke?checksum=clean1"
        with ThreadPoolExecutor(20) as pool:  # 20 controllers ask at once
            first = list(pool.map(lambda _: s.get("/gates/smoke", params={"checksum": "clean1"}), range(20)))
        assert {r.status_code for r in first} == {503}, [r.status_code for r in first]
        assert all(r.json()["status"] in ("queued", "running") for r in first)
        assert len({r.json()["run_id"] for r in first}) == 1

        analysis = argo_analysis(url, TOKEN)
        assert analysis.phase == "Successful", analysis.last.text if analysis.last else analysis
        assert set(analysis.errors) <= {503}  # while running: 503 (an Error, retried), never a 200 without verdict
        body = analysis.last.json()
        assert body["verdict"] == "go" and body["phase"] == "smoke" and body["run_id"] == first[0].json()["run_id"]
        assert {g["id"] for g in body["gates"]} >= {"smoke.health", "smoke.all"}
        assert argo_measure(url, TOKEN, manifest_metric())[0] == "Successful"  # the manifest's own conditions
        assert s.runs_started() == 1

        ok, r = flagger_hook(s.url, "rollout", "clean1", TOKEN, phase="smoke")
        assert ok and r.status_code == 200 and r.json()["verdict"] == "go"
        rollback, r = flagger_hook(s.url, "rollback", "clean1", TOKEN, phase="smoke")
        assert not rollback and r.status_code == 404 and r.json()["rollback"] is False
        assert s.runs_started() == 1  # Flagger's calls reused the verdict Argo's started
        metrics = s.get("/metrics").text
        assert 'harness_serve_runs_total{phase="smoke",verdict="go"} 1.0' in metrics


def test_faulted_build_argo_failed_flagger_halts_and_rolls_back(tmp_path):
    with harness_serve(tmp_path, ORCHESTRA_FAULTS="health_503") as s:
        rollback, r = flagger_hook(s.url, "rollback", "bad1", TOKEN, phase="smoke")
        assert not rollback and r.status_code == 404  # no verdict yet: never a rollback on a guess
        ok, r = flagger_hook(s.url, "rollout", "bad1", TOKEN, phase="smoke")
        assert not ok and r.status_code == 423  # running: not a success, and the body says why
        assert r.json()["reasons"]

        analysis = argo_analysis(f"{s.url}/gates/smoke?checksum=bad1", TOKEN)
        assert analysis.phase == "Failed"
        assert set(analysis.errors) <= {503}
        assert argo_measure(f"{s.url}/gates/smoke?checksum=bad1", TOKEN, manifest_metric())[0] == "Failed"
        assert any("smoke.health" in reason for reason in analysis.last.json()["reasons"])

        ok, r = flagger_hook(s.url, "rollout", "bad1", TOKEN, phase="smoke")
        assert not ok and r.status_code == 403 and r.json()["verdict"] == "no-go"
        assert any("smoke.health" in reason for reason in r.json()["reasons"])  # Flagger puts it in its event
        rollback, r = flagger_hook(s.url, "rollback", "bad1", TOKEN, phase="smoke")
        assert rollback and r.status_code == 200 and r.json()["rollback"] is True
        assert s.runs_started() == 1


def test_each_bad_request_gets_its_status_then_a_good_one_is_served(tmp_path):
    with harness_serve(tmp_path, HARNESS_SERVE_TARGETS="http://127.0.0.1:9/") as s:
        json_headers = {"Content-Type": "application/json"}
        bad = [
            (401, s.get("/gates/smoke", token=None)),
            (401, s.get("/gates/smoke", token="not-the-token-at-all")),
            (413, s.post("/runs", data=b'{"phase": "' + b"x" * (64 * 1024) + b'"}', headers=json_headers)),
            (404, s.get("/gates/no-such-phase")),
            (400, s.post("/runs", data=b'{"phase": "smoke",', headers=json_headers)),
            (400, s.post("/flagger/rollout", data=b"not json", headers=json_headers)),
            (403, s.get("/gates/smoke", params={"target": "http://169.254.169.254/latest/"})),
            (403, s.post("/runs", json={"phase": "smoke", "target": "http://example.com"})),
        ]
        for status, r in bad:
            assert r.status_code == status, (status, r.status_code, r.text)
            assert r.headers["content-type"] == "application/json" and r.json()["error"], r.text
        assert "smoke" in bad[3][1].json()["phases"]
        assert s.runs_started() == 0
        assert s.get("/healthz", token=None).json()["status"] == "ok"

        posted = s.post("/runs", json={"phase": "smoke", "checksum": "good1"})
        assert posted.status_code == 202
        run_id = posted.json()["run_id"]
        analysis = argo_analysis(f"{s.url}/gates/smoke?checksum=good1", TOKEN)
        assert analysis.phase == "Successful" and analysis.last.json()["run_id"] == run_id
        run = s.get(f"/runs/{run_id}").json()
        assert run["status"] == "done" and run["document"]["verdict"] == "go"


def test_a_run_over_its_time_bound_is_stopped_and_inconclusive(tmp_path):
    with harness_serve(tmp_path, HARNESS_SERVE_RUN_TIMEOUT_S="0.5") as s:
        analysis = argo_analysis(f"{s.url}/gates/smoke?checksum=slow", TOKEN)
        assert analysis.phase == "Inconclusive"  # neither condition: Argo pauses the rollout
        assert argo_measure(f"{s.url}/gates/smoke?checksum=slow", TOKEN, manifest_metric())[0] == "Inconclusive"
        assert "serve_run_timeout_s = 0.5 s" in analysis.last.json()["reasons"][0]
        assert not _gate_children(s.db)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_a_signal_during_a_run_stops_the_run_and_its_stack(tmp_path, sig):
    with harness_serve(tmp_path) as s:
        assert s.get("/gates/smoke", params={"checksum": "stop"}).status_code == 503
        deadline = time.monotonic() + 30
        while not _gate_children(s.db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gate_children(s.db), "the gate run never started"
        while not stack_processes() and time.monotonic() < deadline:  # its stack is coming up
            time.sleep(0.05)
        assert stack_processes(), "the gate run's stack never started"
        s.proc.send_signal(sig)
        s.proc.wait(timeout=60)
        assert s.proc.returncode == 0
        assert not _gate_children(s.db)
        with closing(sqlite3.connect(s.db)) as db:  # a run the server stopped says nothing of the build: no row
            assert db.execute("SELECT count(*) FROM runs WHERE checksum = 'stop'").fetchone() == (0,)
        # the autouse fixture then proves no PostgreSQL, Redis or app process of the run is left


def test_cli_refusals_are_one_line_and_exit_64(tmp_path):
    env = harness_env(HARNESS_SERVE_DB=str(tmp_path / "serve.db"))
    env.pop("HARNESS_SERVE_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "harness.cli", "serve", "--host", "0.0.0.0", "--port", str(_free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 64, done.stderr
    assert done.stderr.strip().count("\n") == 0 and "HARNESS_SERVE_TOKEN" in done.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 64 and "cannot listen" in done.stderr and done.stderr.strip().count("\n") == 0


def test_verdicts_survive_a_restart(tmp_path):
    with harness_serve(tmp_path) as s:
        assert argo_analysis(f"{s.url}/gates/smoke?checksum=keep", TOKEN).phase == "Successful"
    with harness_serve(tmp_path) as s:
        r = s.get("/gates/smoke", params={"checksum": "keep"})
        assert r.status_code == 200 and r.json()["verdict"] == "go"
        assert s.runs_started() == 1  # the first server's run; none started by the second
        assert json.loads(json.dumps(r.json()))["run_id"]
    assert os.path.getsize(s.db) > 0
