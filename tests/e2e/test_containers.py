"""The containers stack end to end: real Docker engine, real images, go/no-go, nothing left behind.

Marked `containers`: `tox -e smoke-containers` runs them (CI starts dockerd and builds the offline images
first). Without an engine they fail with the reason; they are never skipped to go green.
"""

from __future__ import annotations

import os

import pytest
import requests

from harness.config import load_settings
from harness.stack.containers import app_image_hash, container_options
from harness.verdict import validate_verdict

from .conftest import ROOT, harness_env, harness_up

pytestmark = pytest.mark.containers
GATE = ["gate", "--stack", "containers", "--phase", "smoke", "--policy-file", "policies/smoke-only.toml"]


def docker_env() -> dict[str, str]:
    keep = {k: os.environ[k] for k in ("DOCKER_HOST", "HARNESS_CONTAINERS_IMAGES") if k in os.environ}
    return keep


@pytest.fixture(scope="module")
def engine():
    from harness.stack.containers import DockerUnavailable, docker_client

    try:
        client = docker_client()
    except DockerUnavailable as exc:
        pytest.fail(f"{exc} (CI starts one with scripts/docker-up.sh)", pytrace=False)
    yield client
    client.close()


@pytest.fixture
def nothing_left_in_docker(engine):
    """After the test: no container the harness labelled, no network it created."""
    before = {n.id for n in engine.networks.list()}
    yield
    left = engine.containers.list(all=True, filters={"label": "org.ai-orchestra.harness"})
    assert not left, f"containers left behind: {[c.name for c in left]}"
    new_networks = [n.name for n in engine.networks.list() if n.id not in before]
    assert not new_networks, f"networks left behind: {new_networks}"


def test_smoke_gate_on_containers_is_go_and_cleans_up(harness, nothing_left_in_docker):
    run = harness(*GATE, timeout=600, **docker_env())
    assert run.code == 0, run.out + run.err
    doc = run.verdict
    validate_verdict(doc)
    assert doc["target"]["stack"] == "containers"
    assert doc["verdict"] == "go"
    assert {p.name for p in (run.reports / "containers").iterdir()} >= {"postgres.log", "redis.log", "app.log"}


def test_a_fault_passed_into_the_app_container_is_no_go(harness, nothing_left_in_docker):
    run = harness(*GATE, timeout=600, ORCHESTRA_FAULTS="chat_5xx", **docker_env())
    assert run.code == 1, run.out + run.err
    doc = run.verdict
    assert doc["verdict"] == "no-go"
    assert doc["reasons"][0].startswith("smoke.chat_api:")


def test_an_image_that_cannot_be_found_is_one_clear_line(harness, engine, nothing_left_in_docker):
    run = harness(*GATE, timeout=120, **{**docker_env(), "HARNESS_APP_IMAGE": "ai-orchestra/none:missing"})
    assert run.code == 64, run.out + run.err
    assert "Traceback" not in run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "ai-orchestra/none:missing" in lines[0] and "cannot be pulled" in lines[0]


def test_up_serves_candidate_and_baseline_on_one_network_and_stops_on_sigterm(engine, nothing_left_in_docker):
    env = {**harness_env(HARNESS_STACK="containers"), **docker_env()}
    # the candidate is built from deploy/Dockerfile (a cached build); the same image stands in for the baseline
    opts = container_options(load_settings({}, env=env, root=ROOT), env=env)
    base_id = engine.images.get(opts.app_base_image).id
    tag = f"ai-orchestra-harness/app:{app_image_hash(ROOT, opts.dockerfile, base_id)}"
    with harness_up("--stack", "containers", "--baseline-image", tag, env=env, timeout=300) as up:
        assert up.printed["base_url"] != up.printed["baseline"]
        for url in (up.printed["base_url"], up.printed["baseline"]):
            assert requests.get(f"{url}/health", timeout=10).json()["status"] == "healthy"
        roles = {
            c.labels.get("org.ai-orchestra.role")
            for c in engine.containers.list(filters={"label": "org.ai-orchestra.harness"})
        }
        assert {"postgres", "redis", "app", "app-baseline"} <= roles
