"""The harness image (deploy/harness.Dockerfile, built by scripts/build_harness_image.sh) on a real Docker engine:
`harness serve` by default, answering /healthz as a non-root user on a read-only root filesystem, its own
HEALTHCHECK turning healthy, and answering the rollout controllers as tests/e2e/test_serve.py replays them (Argo's
analysis Successful on a clean build, Failed on a faulted one, Flagger's rollback hook 200); and `harness gate`
from the same image, with the stack it starts itself (no-go with a fault). The phase is the smoke-only example
policy's `smoke` (a few seconds a run) from the policies the wheel ships.

Marked `containers`: `tox -e smoke-containers` runs it. CI builds the image in .ci/run (after the offline base),
so here the script's build is a cached one (seconds); on a machine where nothing is cached it builds it (minutes).
Without an engine the test fails with the reason; it is never skipped to go green.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from .conftest import ROOT
from .test_serve import argo_analysis, argo_measure, flagger_hook, manifest_metric

pytestmark = pytest.mark.containers
USER = "10001:10001"
SMOKE_POLICY = "/opt/harness/lib/python3.11/site-packages/harness/_home/policies/smoke-only.toml"  # in the wheel


@pytest.fixture(scope="module")
def engine():
    from harness.stack.containers import DockerUnavailable, docker_client

    try:
        docker_client().close()
    except DockerUnavailable as exc:
        pytest.fail(f"{exc} (CI starts one with scripts/docker-up.sh)", pytrace=False)
    import docker

    client = docker.from_env(timeout=120)
    yield client
    client.close()


@pytest.fixture(scope="module")
def image(engine) -> str:
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", "scripts/build_harness_image.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tag = done.stdout.strip().splitlines()[-1]
    engine.images.get(tag)  # it is there
    return tag


@contextmanager
def serving(engine, image: str, token: str, **env: str) -> Iterator[tuple[Any, str]]:
    """The image's own command (harness serve --host 0.0.0.0 --port 8080) run as the manifests run it: read-only
    root, user 10001, only /data and /tmp writable; (container, base URL) once /healthz answers."""
    container = engine.containers.run(
        image,
        detach=True,
        read_only=True,
        user=USER,
        tmpfs={"/data": "uid=10001,gid=10001", "/tmp": ""},
        environment={"HARNESS_SERVE_TOKEN": token, **env},
        ports={"8080/tcp": ("127.0.0.1", None)},
        healthcheck={"interval": 1_000_000_000, "start_period": 1_000_000_000},  # the image's test, checked each 1 s
    )
    try:
        container.reload()
        base = f"http://127.0.0.1:{int(container.ports['8080/tcp'][0]['HostPort'])}"
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                answer = requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                container.reload()
                assert container.status in ("created", "running"), container.logs().decode()[-2000:]
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200, container.logs().decode()[-2000:]
        assert answer.json()["status"] == "ok"
        yield container, base
    finally:
        container.remove(force=True)


def test_image_serves_as_non_root_on_a_read_only_root_fs_and_argo_promotes_a_clean_build(engine, image):
    token = secrets.token_hex(16)
    with serving(engine, image, token, HARNESS_POLICY_FILE=SMOKE_POLICY) as (container, base):
        # the API itself wants the token (only /healthz is open)
        assert requests.get(f"{base}/metrics", timeout=5).status_code == 401
        status = container.exec_run(["cat", "/proc/1/status"]).output.decode()
        uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
        assert uids and all(u == "10001" for u in uids), status  # real, effective, saved, fs: none is root
        wrote = container.exec_run(["touch", "/opt/harness/probe"])
        assert wrote.exit_code != 0 and b"Read-only file system" in wrote.output
        # the serve database landed in the writable data dir (the image's working directory)
        assert container.exec_run(["test", "-f", "/data/reports/serve/serve.db"]).exit_code == 0

        # Argo Rollouts' analysis, as deploy/argo/analysis-template.yaml asks: the gate run (a stack of its own,
        # started inside the container as user 10001) is go, the measurement Successful
        url = f"{base}/gates/smoke?checksum=image-clean"
        analysis = argo_analysis(url, token)
        assert analysis.phase == "Successful", analysis.last.text if analysis.last else analysis
        assert set(analysis.errors) <= {503}
        assert argo_measure(url, token, manifest_metric())[0] == "Successful"
        assert {g["id"] for g in analysis.last.json()["gates"]} >= {"smoke.health", "smoke.chat_api"}

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the image's HEALTHCHECK, run by the engine
            container.reload()
            health = container.attrs["State"].get("Health", {})
            if health.get("Status") == "healthy":
                break
            time.sleep(0.5)
        assert health.get("Status") == "healthy", health


def test_served_from_the_image_a_faulted_build_fails_argo_and_flagger_rolls_back(engine, image):
    token = secrets.token_hex(16)
    env = {"HARNESS_POLICY_FILE": SMOKE_POLICY, "ORCHESTRA_FAULTS": "health_503"}  # every run's app inherits it
    with serving(engine, image, token, **env) as (_, base):
        url = f"{base}/gates/smoke?checksum=image-bad"
        analysis = argo_analysis(url, token)
        assert analysis.phase == "Failed", analysis.last.text if analysis.last else analysis
        assert argo_measure(url, token, manifest_metric())[0] == "Failed"
        assert any("smoke.health" in reason for reason in analysis.last.json()["reasons"])
        rollback, r = flagger_hook(base, "rollback", "image-bad", token, phase="smoke")
        assert rollback and r.status_code == 200 and r.json()["rollback"] is True


def run_in(engine, image: str, command: list[str], **env: str) -> tuple[int, str]:
    """The image run as the manifests run it (read-only root, user 10001, only /data and /tmp writable)."""
    container = engine.containers.run(
        image, command, detach=True, read_only=True, user=USER, environment=env,
        tmpfs={"/data": "uid=10001,gid=10001", "/tmp": ""},
    )  # fmt: skip
    try:
        code = container.wait(timeout=300)["StatusCode"]
        return code, container.logs().decode()
    finally:
        container.remove(force=True)


SMOKE = ["harness", "gate", "--phase", "smoke", "--quiet", "--policy-file", SMOKE_POLICY]


def test_the_same_image_runs_harness_gate_with_its_own_stack(engine, image):
    code, out = run_in(engine, image, ["harness", "gate", "--help"])
    assert code == 0 and "Usage: harness gate" in out and "--phase" in out, out
    code, out = run_in(engine, image, ["promtool", "--version"])  # the contract suite's metrics check needs it
    assert code == 0 and "promtool, version" in out, out
    # a gate run inside the image: PostgreSQL, Redis and the reference service started as user 10001 under /tmp,
    # the smoke suite from the wheel's harness/_home, the reports in /data: no-go, naming the gate, with a fault
    # switched on in the app it started (the go of a clean build: the serve test's run)
    code, out = run_in(engine, image, SMOKE, ORCHESTRA_FAULTS="chat_5xx")
    assert code == 1 and "NO-GO" in out and "smoke.chat_api" in out, out
    assert "reports: /data/reports/verdict.json" in out, out
