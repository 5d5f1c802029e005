"""[tool.harness.checklist] options (HARNESS_CHECKLIST_<KEY>): where the checklist's inputs are. A path
that is configured must exist (one line, exit 64, before anything starts); one left unset fails its item. The default
alerts file and manifests are the project's, else the harness home's (the reference service's own, e.g. in the
harness image); a default change log the project lacks stays as it is, and its item fails saying so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError
from harness.options import Option, OptionSpec, absolute, positive, suite_options

SPEC = OptionSpec(
    "checklist",
    (
        Option("junit", Path),  # the JUnit XML a CI run produced: all tests passing
        Option("coverage", Path),  # a Cobertura coverage.xml: line coverage
        Option("coverage_min", float, 80.0, check=positive("percentage"), high=100),
        Option("verdict", Path),  # the latest internal-phase verdict.json: security, load and TLS gates
        Option("attestations", Path),  # [[attestation]] item/by/at/expires (harness/checklist/attestations.py)
        Option("runbook", Path),  # must name every alert of the alerts file
        Option("alerts", Path, Path("deploy/prometheus/alerts.yml")),
        Option("changelog", Path, Path("CHANGELOG.md")),  # must have an entry for the version deployed
        Option("manifests", Path, Path("deploy")),  # Kubernetes manifests: probes and resource limits
    ),
)
HOME_DEFAULTS = ("alerts", "manifests")  # the reference service's deploy files, which the harness home carries
FILES = ("junit", "coverage", "verdict", "attestations", "runbook", "alerts", "changelog")


@dataclass(frozen=True, slots=True)
class ChecklistOptions:
    junit: Path | None
    coverage: Path | None
    coverage_min: float
    verdict: Path | None
    attestations: Path | None
    runbook: Path | None
    alerts: Path
    changelog: Path
    manifests: Path


def checklist_options(settings: Settings) -> ChecklistOptions:
    """The run's checklist options, paths made absolute; a configured file that is not there is one line."""
    got = suite_options(SPEC, settings)
    values = {o.key: got[o.key] for o in SPEC.options}
    for key in (*FILES, "manifests"):
        path = absolute(values[key], settings.project_root)
        if path is not None and key in HOME_DEFAULTS and not got.given(key) and not path.exists():
            # a default the project does not have (an installed harness run from another directory, the image):
            # the reference service's own file in the harness home, else the path as it is (its item fails)
            home = absolute(values[key], settings.home)
            path = home if home is not None and home.exists() else path
        values[key] = path
    for key in FILES:
        path = values[key]
        if path is not None and got.given(key) and not path.is_file():
            raise ConfigError(f"checklist {key}: {path} does not exist (from {got.where(key)}); fix the path")
    _validate(values)
    return ChecklistOptions(**values)


def _validate(values: dict[str, Any]) -> None:
    """Read the inputs a user gives once, before anything starts: a malformed one is one line (exit 64)."""
    import xml.etree.ElementTree as ET  # noqa: S405 - files the user's own CI produced

    from harness.checklist.attestations import load_attestations

    if values["attestations"] is not None:
        load_attestations(values["attestations"])
    for key in ("junit", "coverage"):
        if values[key] is not None:
            try:
                ET.parse(values[key])  # noqa: S314
            except (ET.ParseError, OSError) as exc:
                raise ConfigError(
                    f"checklist {key}: {values[key]} is not a readable XML file ({exc}); fix it"
                ) from None
