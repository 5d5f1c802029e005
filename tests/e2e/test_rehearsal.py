"""The rollout rehearsed end to end on containers (issue 21 item 6).

- The reference service runs blue/green: `harness up --stack containers --baseline --with-prometheus` (PostgreSQL,
  Redis, the candidate, the baseline and a Prometheus scraping both, labelled track="candidate"/"baseline").
- The harness image runs `harness serve` on the Docker engine, as the manifests run it (user 10001, read-only root,
  /data and /tmp writable), in the host's network so that it reaches the stack's loopback ports as a pod reaches a
  Service; the team's policy (policies/rehearsal.toml) is mounted read-only as a ConfigMap would be. Every run
  gates the deployment (`--target`, the AnalysisTemplate's `target` arg): the live gates read the stack's
  Prometheus (`harness serve --prometheus`) with the candidate's and the baseline's selectors (the canary judge).
- The users: each live phase's run drives Locust users at both sides (`--drive-load` with `--baseline-target`: the
  server's HARNESS_LIVE_DRIVE_LOAD and HARNESS_BASELINE_TARGET), and the canary judge compares them over that span.
- Argo Rollouts' analysis is replayed with tests/e2e/test_serve.py's replay: the AnalysisTemplate's own web
  provider URL (deploy/argo/analysis-template.yaml, its args substituted), its successCondition and
  failureCondition as Argo evaluates them, a 503 retried until a final verdict; at each of the guide's steps
  pr -> internal -> beta -> canary-10 -> 25 -> 50 -> 75 -> full.
- (a) a clean build: Successful at every step; (b) a build that regresses at canary-25: when the rehearsal reaches
  canary-25 the candidate (only) gets `latency_regression` through the app's run-time fault switch, and the analysis
  is Failed naming canary.score; Flagger's rollback hook then
  answers 200 ("roll back now").

Marked `rehearsal`: not in `tox -e test` nor `smoke-containers` (CI's budget); `tox -e rehearsal` runs it. Its wall
time is in docs/explanations/benchmarks.md. Without an engine it fails with the reason; never skipped.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from harness.stack.admin import set_faults
from harness.target import Target

from .conftest import ROOT, harness_env, harness_up
from .test_harness_image import USER, engine, image  # noqa: F401 - the fixtures: the engine and the built image
from .test_serve import argo_analysis, flagger_hook, manifest_metric, manifest_web_url

pytestmark = pytest.mark.rehearsal
STEPS = ("pr", "internal", "beta", "canary-10", "canary-25", "canary-50", "canary-75", "full")
POLICY = "/etc/harness/policy.toml"  # where the container sees policies/rehearsal.toml
FAULT = "latency_regression=100"  # the candidate's chat takes twice as long
# short runs: 20 s of load (pr, internal) and of live traffic (each live phase: Locust users split between the
# candidate and the baseline, the canary judge over that span, one point a second)
RUN_ENV = {
    "HARNESS_LOAD_DURATION_S": "20",
    "HARNESS_LOAD_MIN_REQUESTS": "200",
    "HARNESS_LIVE_DRIVE_LOAD": "1",  # a deployment the gate did not start: observe only unless told
    "HARNESS_LIVE_MIN_REQUESTS": "150",
    "HARNESS_LIVE_STEP": "1s",
    "HARNESS_LIVE_MIN_POINTS": "15",
    "HARNESS_LIVE_CANDIDATE_SELECTOR": '{track="candidate"}',
    "HARNESS_LIVE_BASELINE_SELECTOR": '{track="baseline"}',
    "HARNESS_ALLOW_UNSAFE": "1",  # the rehearsal's deployment is a throwaway one: chat, contract fuzzing, load
}
# what the team gives its server, read-only (a ConfigMap, a checkout): its policy and the checklist's inputs (the
# repository's examples: its CI's JUnit and coverage, its latest internal verdict, attestations, runbook, change log)
MOUNTS = {
    "policies/rehearsal.toml": POLICY,
    "examples/checklist": "/etc/harness/checklist",
    "deploy/runbook.md": "/etc/harness/runbook.md",
    "CHANGELOG.md": "/etc/harness/CHANGELOG.md",
}
CHECKLIST = {
    "HARNESS_CHECKLIST_JUNIT": "/etc/harness/checklist/junit.xml",
    "HARNESS_CHECKLIST_COVERAGE": "/etc/harness/checklist/coverage.xml",
    "HARNESS_CHECKLIST_VERDICT": "/etc/harness/checklist/verdict.json",
    "HARNESS_CHECKLIST_ATTESTATIONS": "/etc/harness/checklist/attestations.toml",
    "HARNESS_CHECKLIST_RUNBOOK": "/etc/harness/runbook.md",
    "HARNESS_CHECKLIST_CHANGELOG": "/etc/harness/CHANGELOG.md",
}


@dataclass
class Deployment:
    candidate: str
    baseline: str
    prometheus: str
    token: str
    admin_token: str


@pytest.fixture(scope="module")
def deployment(engine) -> Iterator[Deployment]:  # noqa: F811 - the fixture imported above
    env = harness_env(
        HARNESS_STACK="containers",
        **{k: os.environ[k] for k in ("DOCKER_HOST", "HARNESS_CONTAINERS_IMAGES") if k in os.environ},
    )
    with harness_up("--stack", "containers", "--baseline", "--with-prometheus", env=env, timeout=300) as up:
        p = up.printed
        yield Deployment(p["base_url"], p["baseline"], p["prometheus"], up.token, p["HARNESS_ADMIN_TOKEN"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    token: str
    container: Any


@pytest.fixture(scope="module")
def server(engine, image, deployment) -> Iterator[Server]:  # noqa: F811
    """The harness image's `harness serve`, gating the deployment for every request."""
    token, port = secrets.token_hex(16), _free_port()
    command = ["harness", "serve", "--host", "127.0.0.1", "--port", str(port), "--prometheus", deployment.prometheus]
    container = engine.containers.run(
        image,
        command,
        detach=True,
        read_only=True,
        user=USER,
        network_mode="host",
        tmpfs={"/data": "uid=10001,gid=10001", "/tmp": ""},
        volumes={str(ROOT / src): {"bind": dst, "mode": "ro"} for src, dst in MOUNTS.items()},
        environment={
            "HARNESS_SERVE_TOKEN": token,
            "HARNESS_POLICY_FILE": POLICY,
            "HARNESS_TARGET": deployment.candidate,  # every run gates the deployment (the template's target arg)
            "HARNESS_BASELINE_TARGET": deployment.baseline,  # its stable side: the live traffic goes to both
            "HARNESS_SERVE_RUN_TIMEOUT_S": "300",
            "HARNESS_TOKEN": deployment.token,  # the app's token, for the gate runs' authenticated calls
            **RUN_ENV,
            **CHECKLIST,
        },
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            container.reload()
            assert container.status in ("created", "running"), container.logs().decode()[-2000:]
            assert time.monotonic() < deadline, container.logs().decode()[-2000:]
            time.sleep(0.2)
        yield Server(base, token, container)
    finally:
        container.remove(force=True)


@dataclass
class Step:
    phase: str
    outcome: str  # Argo's: Successful, Failed, Inconclusive or Error
    body: dict[str, Any]
    seconds: float


def analysis_step(server: Server, deployment: Deployment, phase: str, checksum: str) -> Step:
    """One analysis step of the Rollout: the AnalysisTemplate's URL for the step's phase, replayed as Argo runs it."""
    url = manifest_web_url(server.url, phase=phase, target=deployment.candidate, checksum=checksum)
    t0 = time.monotonic()
    analysis = argo_analysis(url, server.token, error_limit=300, retry_s=1.0, metric=manifest_metric())
    seconds = time.monotonic() - t0
    assert set(analysis.errors) <= {503}, (phase, analysis.errors)  # only "still running", never another error
    assert analysis.last is not None, phase
    return Step(phase, analysis.phase, analysis.last.json(), seconds)


def _failing(step: Step) -> dict[str, str]:
    return {g["id"]: f"{g['status']}: {g.get('reason')}" for g in step.body["gates"] if g["status"] != "pass"}


def test_a_clean_build_is_successful_at_every_step(server, deployment):
    checksum = f"clean-{secrets.token_hex(4)}"
    steps = []
    for phase in STEPS:
        step = analysis_step(server, deployment, phase, checksum)
        steps.append(step)
        assert step.outcome == "Successful", (phase, step.body["reasons"][:3], _failing(step))
        assert step.body["verdict"] == "go" and step.body["phase"] == phase
    gates = {g["id"]: g for s in steps for g in s.body["gates"]}
    # the canary judge ran at every canary step (candidate vs baseline in the stack's Prometheus)
    for s in steps[3:]:
        judged = {g["id"]: g for g in s.body["gates"]}
        assert judged["canary.score"]["status"] == "pass" and judged["canary.score"]["observed"] >= 95, s.phase
    assert gates["smoke.chat_api"]["status"] == "pass"  # an authenticated, unsafe call made on the deployment
    print(
        {s.phase: round(s.seconds, 1) for s in steps},
    )
    rollback, r = flagger_hook(
        server.url, "rollback", checksum, server.token, phase="full", target=deployment.candidate
    )
    assert not rollback and r.status_code == 404  # go: Flagger is not told to roll back


def test_a_build_that_regresses_at_canary_25_fails_there_and_flagger_rolls_back(server, deployment):
    checksum = f"regress-{secrets.token_hex(4)}"
    candidate = Target(base_url=deployment.candidate, admin_token=deployment.admin_token)
    seen = []
    try:
        for phase in STEPS:
            if phase == "canary-25":  # setWeight 25: the new build's regression shows with more users on it
                set_faults(candidate, FAULT)
            step = analysis_step(server, deployment, phase, checksum)
            seen.append((phase, step.outcome, round(step.seconds, 1)))
            if phase != "canary-25":
                assert step.outcome == "Successful", (phase, step.body["reasons"][:3], _failing(step))
                continue
            assert step.outcome == "Failed", (phase, step.body["reasons"][:3], _failing(step))
            assert step.body["verdict"] == "no-go"
            gates = {g["id"]: g for g in step.body["gates"]}
            assert gates["canary.score"]["status"] == "fail", gates["canary.score"]
            assert any("canary.score" in reason for reason in step.body["reasons"]), step.body["reasons"]
            break  # the Rollout aborts: no later step runs
    finally:
        set_faults(candidate, "")
    assert [s[0] for s in seen] == list(STEPS[:5]), seen
    print(
        seen,
    )
    rollback, r = flagger_hook(
        server.url, "rollback", checksum, server.token, phase="canary-25", target=deployment.candidate
    )
    assert rollback and r.status_code == 200 and r.json()["rollback"] is True, r.text
    assert any("canary.score" in reason for reason in r.json()["reasons"])
