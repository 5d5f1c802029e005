"""The harness image's files agree with each other (no Docker needed; tests/e2e/test_harness_image.py runs the image):
the Kubernetes manifests name the tag scripts/build_harness_image.sh builds, run it as the Dockerfile's non-root
user on a read-only root filesystem, and give every directory the image declares writable an emptyDir."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy/harness.Dockerfile"
MANIFESTS = [ROOT / "deploy/k8s/harness-serve.yaml", ROOT / "deploy/k8s/harness-load.yaml"]


def print_tag(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "HARNESS_IMAGE"}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/build_harness_image.sh"), "--print-tag"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    parsed = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]
    last_from = max(i for i, (op, _) in enumerate(parsed) if op == "FROM")
    return parsed[last_from:]


def one(op: str) -> str:
    (value,) = [args for o, args in instructions() if o == op]
    return value


def workloads() -> list[dict]:
    docs = [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]
    return [doc for doc in docs if "template" in doc.get("spec", {})]


def test_the_manifests_name_the_image_the_script_builds():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    tag = print_tag()
    assert tag == f"registry.ai-orchestra.com/ai-orchestra-harness:{version}"
    images = [c["image"] for w in workloads() for c in w["spec"]["template"]["spec"]["containers"]]
    assert len(images) == 3 and set(images) == {tag}, images  # serve, the load master and its workers
    assert print_tag(HARNESS_IMAGE="example.org/team/harness:7") == "example.org/team/harness:7"


def test_the_image_runs_harness_serve_as_non_root_with_a_healthcheck():
    user = one("USER")
    uid = int(user.split(":")[0])
    assert uid != 0
    cmd = json.loads(one("CMD"))
    assert cmd[:2] == ["harness", "serve"] and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    port = cmd[cmd.index("--port") + 1]
    assert one("EXPOSE") == port
    health = one("HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/healthz" in health
    assert not [op for op, _ in instructions() if op == "ENTRYPOINT"]  # `docker run IMAGE harness gate ...` works


def test_the_manifests_run_it_read_only_as_that_user_with_emptydirs_for_its_writable_dirs():
    uid = int(one("USER").split(":")[0])
    writable = set(json.loads(one("VOLUME")))
    assert writable == {"/data", "/tmp"}
    assert one("WORKDIR") in writable  # reports/ and the serve database land in the working directory
    for workload in workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            name = f"{workload['metadata']['name']}/{container['name']}"
            ctx = container["securityContext"]
            assert ctx["readOnlyRootFilesystem"] is True and ctx["allowPrivilegeEscalation"] is False, name
            assert ctx.get("runAsUser", uid) == uid, name
            assert container["command"] == ["harness"], name  # the image has no ENTRYPOINT: args are harness's
            mounted = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert writable <= set(mounted), (name, mounted)
            assert all(mounted[path] in empty_dirs for path in writable), name
