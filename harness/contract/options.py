"""[tool.harness.contract] options, checked on load; profiles bound the fuzzing (quick for gates, deep nightly)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.config import Settings
from harness.errors import ConfigError, did_you_mean
from harness.options import Option, OptionSpec, absolute, positive, suite_options
from harness.service import profile_for

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
        Option("openapi_url", str),  # None: the service profile's paths.openapi on the target
        # None: the service profile's [files] (the reference app's: deploy/...)
        Option("baseline", Path),
        Option("alerts", Path),
        Option("alert_tests", Path),
        Option("dashboard", Path),
        Option("timeout_s", float, 10.0, check=_SECONDS, high=600),
    ),
)


@dataclass(frozen=True, slots=True)
class ContractOptions:
    """What the contract suite needs to know besides the Target."""

    profile: str
    max_examples: int
    seed: int
    openapi_url: str | None  # None: the profile's paths.openapi on the target
    baseline: Path | None  # None: the service has none (the checks that need it are not applicable)
    alerts: Path | None
    alert_tests: Path | None
    dashboard: Path | None
    timeout_s: float
    openapi_path: str | None = None  # the profile's paths.openapi
    stateful_seed: int = 20261126


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
    service = profile_for(settings)

    def file(key: str, profile_key: str) -> Path | None:
        return absolute(values[key], root) or service.file(profile_key)

    try:
        return ContractOptions(
            profile=profile,
            max_examples=int(chosen["max_examples"]),
            seed=int(chosen["seed"]),
            openapi_url=values["openapi_url"],
            baseline=file("baseline", "openapi_baseline"),
            alerts=file("alerts", "alert_rules"),
            alert_tests=file("alert_tests", "alert_tests"),
            dashboard=file("dashboard", "dashboard"),
            timeout_s=float(values["timeout_s"]),
            openapi_path=service.paths.openapi,
            stateful_seed=int(chosen.get("stateful_seed", service.contract.stateful_seed)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{SPEC.table} profiles.{profile}: {exc}") from None
