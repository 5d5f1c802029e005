"""[tool.harness.contract] options, checked on load; profiles bound the fuzzing (quick for gates, deep nightly)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError, did_you_mean

PROFILES: dict[str, dict[str, int]] = {
    "quick": {"max_examples": 25, "seed": 20261126},  # the internal gate: <= 60 s on 2 cores
    "deep": {"max_examples": 300, "seed": 20261126},  # nightly
}
# Checks run on every operation. positive_data_acceptance is left out on purpose: it demands 2xx for
# any schema-valid request, but a valid session id that does not exist is rightly a documented 404.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
)
_KEYS = {"profile", "profiles", "openapi_url", "baseline", "alerts", "dashboard", "alert_tests", "timeout_s"}


@dataclass(frozen=True, slots=True)
class ContractOptions:
    """What the contract suite needs to know besides the Target."""

    profile: str
    max_examples: int
    seed: int
    openapi_url: str | None  # None: <target>/openapi.json
    baseline: Path
    alerts: Path
    alert_tests: Path
    dashboard: Path
    timeout_s: float


def contract_options(settings: Settings, env: dict[str, str] | None = None) -> ContractOptions:
    """Build from [tool.harness.contract]; HARNESS_CONTRACT_PROFILE / _OPENAPI_URL override those keys."""
    env = dict(os.environ if env is None else env)
    raw: dict[str, Any] = settings.options("contract", _KEYS)
    where = "[tool.harness.contract]"
    profiles = {**PROFILES, **raw.get("profiles", {})}
    profile = env.get("HARNESS_CONTRACT_PROFILE") or raw.get("profile", "quick")
    if profile not in profiles:
        raise ConfigError(f"{where}: unknown profile {profile!r}{did_you_mean(profile, profiles)}")
    chosen = {**PROFILES.get(profile, PROFILES["quick"]), **profiles[profile]}
    root = settings.project_root

    def path(key: str, default: str) -> Path:
        p = Path(raw.get(key, default))
        return p if p.is_absolute() else root / p

    try:
        return ContractOptions(
            profile=profile,
            max_examples=int(chosen["max_examples"]),
            seed=int(chosen["seed"]),
            openapi_url=env.get("HARNESS_CONTRACT_OPENAPI_URL") or raw.get("openapi_url"),
            baseline=path("baseline", "deploy/openapi.baseline.json"),
            alerts=path("alerts", "deploy/prometheus/alerts.yml"),
            alert_tests=path("alert_tests", "deploy/prometheus/alerts.test.yml"),
            dashboard=path("dashboard", "deploy/grafana/dashboard.json"),
            timeout_s=float(raw.get("timeout_s", 10)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
