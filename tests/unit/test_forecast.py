"""harness service's forecast: which gates of a phase will be not run or N/A on a target, before anything starts."""

from __future__ import annotations

from pathlib import Path

from harness.forecast import describe_gaps, forecast, machine_gaps
from harness.policy import load_policy
from harness.service.operations import Scope
from harness.service.profile import load_profile

ROOT = Path(__file__).resolve().parents[2]


def _gaps(phase: str, *, ephemeral: bool, allow_unsafe: bool = False, baseline: bool = False) -> dict[str, str]:
    profile = load_profile(None, {}, ROOT)  # the reference app's
    scope = Scope(profile.operations, ephemeral=ephemeral, allow_unsafe=allow_unsafe)
    gaps = forecast(profile, load_policy().phase(phase), scope, baseline=baseline, https=False)
    return {g.gate: g.status for g in gaps}


def test_an_external_target_leaves_the_chat_gates_not_run_until_unsafe_calls_are_allowed():
    external = _gaps("pr", ephemeral=False)
    for gate in ("smoke.chat_api", "smoke.roundtrip", "smoke.all", "contract.openapi", "load.p95_ms"):
        assert external[gate] == "not_run", gate
    assert external["security.tls"] == "not_applicable"
    assert "smoke.health" not in external
    allowed = _gaps("pr", ephemeral=False, allow_unsafe=True)
    assert allowed == {"security.tls": "not_applicable"}
    assert _gaps("pr", ephemeral=True) == {"security.tls": "not_applicable"}


def test_a_canary_phase_without_a_baseline_forecasts_its_canary_gates_not_run():
    assert _gaps("canary-25", ephemeral=True) == {"canary.score": "not_run", "canary.critical": "not_run"}
    assert _gaps("canary-25", ephemeral=True, baseline=True) == {}


def test_the_forecast_reads_as_one_block():
    profile = load_profile(None, {}, ROOT)
    phase = load_policy().phase("canary-25")
    text = describe_gaps(
        forecast(profile, phase, Scope(profile.operations, True, False), baseline=False, https=False), phase, "x"
    )
    assert text.splitlines()[0] == (
        "phase canary-25 on x: 7 gate(s); 2 not run (inconclusive until they run, or a team policy drops them), 0 N/A:"
    )


def test_evidence_the_machine_cannot_produce_is_forecast_missing(tmp_path):
    """No trivy vulnerability DB (none cached, none to ingest, no download allowed): security.trivy_vulns will be
    `missing` on every run of the internal phase, said before anything starts, with how to get the evidence."""
    from harness.config import Settings

    empty = Settings(suite_options={"security": {"trivy_cache_dir": str(tmp_path / "no-db")}})
    gaps = machine_gaps(empty)
    assert list(gaps) == ["security.trivy_vulns"] and "--trivy-cache-dir" in gaps["security.trivy_vulns"]
    (tmp_path / "db" / "db").mkdir(parents=True)
    for name in ("trivy.db", "metadata.json"):
        (tmp_path / "db" / "db" / name).write_text("{}")
    assert machine_gaps(Settings(suite_options={"security": {"trivy_cache_dir": str(tmp_path / "db")}})) == {}
    profile = load_profile(None, {}, ROOT)
    phase = load_policy().phase("internal")
    found = forecast(profile, phase, Scope(profile.operations, True, False), baseline=False, https=False, missing=gaps)
    assert {g.gate: g.status for g in found} == {"security.trivy_vulns": "missing", "security.tls": "not_applicable"}
    head = describe_gaps(found, phase, "x").splitlines()
    assert head[0].endswith("0 not run, 1 missing (inconclusive until they run, or a team policy drops them), 1 N/A:")
    assert head[1].split()[:2] == ["MISSING", "security.trivy_vulns"]
