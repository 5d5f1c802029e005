"""deploy/k8s/harness-load.yaml, the distributed load run on Kubernetes (a master Job, a worker Deployment):
it parses, the kinds and apiVersions are right, the master's and the workers' commands parse with the real
CLI and agree with each other and with the Service (address, port, worker count, token), and the pods run
as non-root on a read-only root. `trivy config` over deploy/ is in test_deploy_serve.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from harness.cli import cli
from harness.load.profiles import parse_master_bind

ROOT = Path(__file__).resolve().parents[2]
LOAD = ROOT / "deploy/k8s/harness-load.yaml"


@pytest.fixture(scope="module")
def kinds() -> dict[str, dict[str, Any]]:
    found = [d for d in yaml.safe_load_all(LOAD.read_text()) if d]
    out = {d["kind"]: d for d in found}
    assert len(out) == len(found) == 3
    return out


def pod(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def container(doc: dict[str, Any]) -> dict[str, Any]:
    [only] = pod(doc)["containers"]
    return only


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def parsed(args: list[str]) -> dict[str, Any]:
    """The command's parameters as the real CLI parses them (an unknown flag or a bad value raises)."""
    command = cli.commands[args[0]]
    with click.Context(command) as ctx:
        return command.make_context(args[0], list(args[1:]), parent=ctx).params


def test_kinds_and_api_versions(kinds):
    assert kinds["Service"]["apiVersion"] == "v1"
    assert kinds["Job"]["apiVersion"] == "batch/v1"
    assert kinds["Deployment"]["apiVersion"] == "apps/v1"
    assert {d["metadata"]["namespace"] for d in kinds.values()} == {"harness"}


def test_the_master_binds_what_the_service_exposes_and_waits_for_the_deployments_workers(kinds):
    svc, job, dep = kinds["Service"], kinds["Job"], kinds["Deployment"]
    master = parsed(container(job)["args"])
    host, port = parse_master_bind(master["master_bind"], "--master-bind")
    assert host == "0.0.0.0" and port == svc["spec"]["ports"][0]["targetPort"]
    assert container(job)["ports"][0]["containerPort"] == port
    assert svc["spec"]["selector"] == job["spec"]["template"]["metadata"]["labels"]
    assert master["expect_workers"] == dep["spec"]["replicas"] > 1
    assert master["allow_remote_load"] is True and master["target"].startswith("http")
    assert job["spec"]["backoffLimit"] == 0 and pod(job)["restartPolicy"] == "Never"  # one run, one verdict


def test_the_workers_reach_the_master_through_its_service_with_the_same_token(kinds):
    svc, job, dep = kinds["Service"], kinds["Job"], kinds["Deployment"]
    worker = parsed(container(dep)["args"])
    name, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
    assert parse_master_bind(worker["master"], "--master") == (f"{name}.{ns}.svc", svc["spec"]["ports"][0]["port"])
    assert dep["spec"]["selector"]["matchLabels"] == dep["spec"]["template"]["metadata"]["labels"]
    token = env_of(container(job))["HARNESS_TOKEN"]
    assert token == env_of(container(dep))["HARNESS_LOAD_TOKEN"] and "secretKeyRef" in token
    assert "value" not in str(token)  # from a Secret, never written here


@pytest.mark.parametrize("kind", ["Job", "Deployment"])
def test_the_pods_are_non_root_read_only_and_bounded(kinds, kind):
    spec, c = pod(kinds[kind]), container(kinds[kind])
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    assert spec["automountServiceAccountToken"] is False
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}  # Locust's and the harness's scratch space
    assert c["resources"]["limits"]["cpu"] and c["resources"]["requests"]["cpu"]


def test_a_wrong_worker_command_would_not_parse():
    with pytest.raises(click.UsageError):
        parsed(["load-worker", "--mastr", "x:5557"])
