"""[tool.harness.contract] options, checked on load; profiles bound the fuzzing (quick for gates, deep nightly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config import Settings
from harness.errors import ConfigError, did_you_mean
from harness.options import Option, OptionSpec, absolute, positive, suite_options

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
_SECONDS = positive("number of seconds")
# Every key is also HARNESS_CONTRACT_<KEY> (HARNESS_CONTRACT_PROFILE, HARNESS_CONTRACT_OPENAPI_URL, ...).
SPEC = OptionSpec(
    "contract",
    (
        Option("profile", str, "quick"),
        Option("profiles", dict, {}, env=False),
        Option("openapi_url", str),  # None: <target>/openapi.json
        Option("baseline", Path, Path("deploy/openapi.baseline.json")),
        Option("alerts", Path, Path("deploy/prometheus/alerts.yml")),
        Option("alert_tests", Path, Path("deploy/prometheus/alerts.test.yml")),
        Option("dashboard", Path, Path("deploy/grafana/dashboard.json")),
        Option("timeout_s", float, 10.0, check=_SECONDS),
    ),
)


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
    """Build from [tool.harness.contract], then HARNESS_CONTRACT_<KEY>, then flags (harness.options)."""
    values = suite_options(SPEC, settings, env)
    profiles = {**PROFILES, **(values["profiles"] or {})}
    profile = values["profile"] or "quick"
    if profile not in profiles:
        where = values.where("profile")
        raise ConfigError(f"{where}: unknown profile {profile!r}{did_you_mean(profile, profiles)}")
    chosen = profiles[profile]
    if not isinstance(chosen, dict):
        raise ConfigError(f"{SPEC.table} profiles.{profile} must be a table like {{ max_examples = 25 }}")
    chosen = {**PROFILES.get(profile, PROFILES["quick"]), **chosen}
    root = settings.project_root
    try:
        return ContractOptions(
            profile=profile,
            max_examples=int(chosen["max_examples"]),
            seed=int(chosen["seed"]),
            openapi_url=values["openapi_url"],
            baseline=absolute(values["baseline"], root) or root / SPEC.option("baseline").default,
            alerts=absolute(values["alerts"], root) or root / SPEC.option("alerts").default,
            alert_tests=absolute(values["alert_tests"], root) or root / SPEC.option("alert_tests").default,
            dashboard=absolute(values["dashboard"], root) or root / SPEC.option("dashboard").default,
            timeout_s=float(values["timeout_s"]),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{SPEC.table} profiles.{profile}: {exc}") from None
