"""The manifests and the workflow a team copies to use `harness serve` (deploy/argo/, deploy/flagger/,
deploy/k8s/harness-serve.yaml, .github/workflows/gate.yml): they parse, their kinds and apiVersions are
right, every field the server relies on is there and agrees with the server, and `trivy config` finds
nothing HIGH or CRITICAL in them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from harness.policy import load_policy
from harness.security.trivy import QUIET, find_trivy, findings_from_report, run_trivy
from harness.serve.app import GATE_HOOKS, HOOKS

ROOT = Path(__file__).resolve().parents[2]
FILES = ("deploy/argo/analysis-template.yaml", "deploy/argo/rollout.yaml", "deploy/flagger/canary.yaml")
SERVE = "deploy/k8s/harness-serve.yaml"
WORKFLOW = ROOT / ".github/workflows/gate.yml"


def docs(path: str) -> dict[str, dict[str, Any]]:
    """kind -> the document (one of each kind per file)."""
    found = [d for d in yaml.safe_load_all((ROOT / path).read_text()) if d]
    kinds = {d["kind"]: d for d in found}
    assert len(kinds) == len(found), f"{path}: two documents of one kind"
    return kinds


@pytest.fixture(scope="module")
def serve_deploy() -> dict[str, Any]:
    return docs(SERVE)


@pytest.fixture(scope="module")
def container(serve_deploy) -> dict[str, Any]:
    return serve_deploy["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def service_base(serve_deploy: dict[str, Any]) -> str:
    svc = serve_deploy["Service"]
    return f"http://{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc:{svc['spec']['ports'][0]['port']}"


PHASES = set(load_policy(None).phases)


def test_the_gate_server_deployment_is_non_root_probed_and_takes_its_token_from_a_secret(serve_deploy, container):
    dep, svc = serve_deploy["Deployment"], serve_deploy["Service"]
    assert (dep["apiVersion"], svc["apiVersion"]) == ("apps/v1", "v1")
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["args"][:1] == ["serve"] and "--host" in container["args"]
    port = int(container["args"][container["args"].index("--port") + 1])
    assert container["ports"][0]["containerPort"] == port == svc["spec"]["ports"][0]["targetPort"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port}  # the one open endpoint
    env = env_of(container)
    assert env["HARNESS_SERVE_TOKEN"] == {"secretKeyRef": {"name": "harness-serve", "key": "token"}}
    assert env["HARNESS_SERVE_DB"].startswith("/data/")
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/data" in mounts and "/tmp" in mounts  # writable places under a read-only root
    assert svc["spec"]["selector"] == dep["spec"]["template"]["metadata"]["labels"]


def test_the_analysis_template_asks_the_server_as_its_contract_says(serve_deploy, container):
    tpl = docs(FILES[0])["AnalysisTemplate"]
    assert tpl["apiVersion"] == "argoproj.io/v1alpha1"
    [metric] = tpl["spec"]["metrics"]
    assert metric["successCondition"] == 'result.verdict == "go"'
    assert metric["failureCondition"] == 'result.verdict == "no-go"'
    assert "count" not in metric and "interval" not in metric  # one measurement
    web = metric["provider"]["web"]
    assert web.get("method", "GET") == "GET" and "body" not in web and "jsonBody" not in web
    assert 0 < web["timeoutSeconds"] <= 10
    url = urlsplit(web["url"])
    assert f"{url.scheme}://{url.netloc}" == service_base(serve_deploy)
    assert url.path == "/gates/{{args.phase}}"
    assert set(parse_qs(url.query)) == {"target", "checksum"}
    headers = {h["key"]: h["value"] for h in web["headers"]}
    assert headers["Authorization"] == "Bearer {{args.token}}"
    args = {a["name"]: a for a in tpl["spec"]["args"]}
    assert args["token"]["valueFrom"]["secretKeyRef"] == {"name": "harness-serve", "key": "token"}
    assert args["target"]["value"] in env_of(container)["HARNESS_SERVE_TARGETS"].split(",")
    # 503 while running = an Error retried every 10 s: the limit must outlast the server's run bound
    run_timeout = float(env_of(container)["HARNESS_SERVE_RUN_TIMEOUT_S"])
    assert metric["consecutiveErrorLimit"] * 10 >= run_timeout


def test_the_rollout_gates_each_of_the_guides_canary_steps():
    ro = docs(FILES[1])["Rollout"]
    assert ro["apiVersion"] == "argoproj.io/v1alpha1"
    steps = ro["spec"]["strategy"]["canary"]["steps"]
    weights = [s["setWeight"] for s in steps if "setWeight" in s]
    assert weights == [10, 25, 50, 75]
    for i, step in enumerate(steps):
        if "setWeight" not in step:
            continue
        analysis = steps[i + 1]["analysis"]  # every weight is followed by its gate
        assert analysis["templates"] == [{"templateName": "harness-gate"}]
        args = {a["name"]: a for a in analysis["args"]}
        assert args["phase"]["value"] == f"canary-{step['setWeight']}" and args["phase"]["value"] in PHASES
        assert args["checksum"]["valueFrom"] == {"podTemplateHashValue": "Latest"}


def test_the_flagger_canary_calls_the_server_hooks(serve_deploy, container):
    canary = docs(FILES[2])["Canary"]
    assert canary["apiVersion"] == "flagger.app/v1beta1"
    analysis = canary["spec"]["analysis"]
    assert analysis["stepWeights"] == [10, 25, 50, 75]
    hooks = {h["type"]: h for h in analysis["webhooks"]}
    assert {"pre-rollout", "rollout", "rollback"} <= set(hooks)
    allowed = env_of(container)["HARNESS_SERVE_TARGETS"].split(",")
    for kind, hook in hooks.items():
        assert kind in HOOKS
        assert hook["url"] == f"{service_base(serve_deploy)}/flagger/{kind}"
        meta = hook["metadata"]
        assert all(isinstance(v, str) for v in meta.values())  # Flagger's metadata is map[string]string
        assert meta["phase"] in PHASES and meta["target"] in allowed and meta["token"]
        assert re.fullmatch(r"\d+s", hook["timeout"]) and int(hook["timeout"][:-1]) <= 10
    assert {k for k in hooks if k in GATE_HOOKS} >= {"pre-rollout", "rollout"}
    assert analysis["threshold"] > 1  # a 423 while the gate runs counts one failed check


def test_the_workflow_gates_uploads_and_writes_the_job_summary():
    wf = yaml.safe_load(WORKFLOW.read_text())
    assert wf.get(True, wf.get("on"))  # PyYAML reads the key `on` as True
    [job] = wf["jobs"].values()
    steps = job["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert re.search(r"harness gate --phase \"\$\{\{ matrix\.phase \}\}\"", runs)
    assert "summary.md" in runs and '>> "$GITHUB_STEP_SUMMARY"' in runs
    assert 'cat "$summary"' not in runs  # the gate appends summary.md itself: never twice on the job page
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "reports/" and upload["if"] == "always()"
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["if"] == "always()"  # a no-go still shows its summary
    assert steps[-1]["run"].strip() == 'exit "${{ steps.gate.outputs.exit_code }}"'  # the job fails on no-go


def test_trivy_config_finds_nothing_high_in_the_serve_manifests(tmp_path):
    for sub in ("argo", "flagger"):
        assert (ROOT / "deploy" / sub).is_dir()
    run = run_trivy(
        find_trivy(),
        ["config", "--skip-check-update", *QUIET, str(ROOT / "deploy")],
        output=tmp_path / "out.json",
        cache_dir=tmp_path / "cache",
        timeout_s=120,
        cwd=ROOT,
    )
    targets = {r["Target"] for r in run.report.get("Results", [])}
    assert {
        "argo/analysis-template.yaml",
        "argo/rollout.yaml",
        "flagger/canary.yaml",
        "k8s/harness-serve.yaml",
        "k8s/harness-load.yaml",
    } <= targets
    high = [f.where for f in findings_from_report(run.report, prefix="deploy/") if f.severity in ("high", "critical")]
    assert high == []
