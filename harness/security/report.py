"""Where the security suite's reports go and how a check finishes: waivers, new-vs-known, redacted files.

    reports/security/zap-report.json        ZAP-format JSON (native rules + ZAP daemon + ingested report)
    reports/security/zap-daemon.json        ZAP's own JSON report, when a daemon ran
    reports/security/trivy-*.json           trivy's own JSON reports (SchemaVersion 2)
    reports/security/findings/<check>.json  one check's findings
    reports/security/findings.json          every check's findings in one list
    reports/history/security.json           fingerprints of the last recorded run (new-vs-known)

Every file is redacted on its way in (harness/redact.py) with the run's secrets: JSON by structure (string
values only), other text as text; the API token never lands in a report.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.redact import redact_data, redact_json_text, redact_text, run_secrets
from harness.security.errors import ReportFileError
from harness.security.findings import FINDINGS_SCHEMA, Finding, findings_document, summarize
from harness.security.history import history_key, mark_and_record
from harness.security.waivers import Waiver, apply_waivers
from harness.target import Target


def security_dir(reports_dir: Path) -> Path:
    return reports_dir / "security"


def clear(reports_dir: Path) -> bool:
    """Start a run with no stale security reports (the history stays), removing only what an earlier run wrote:
    through the reports dir's claim (harness/reports_dir.py), which removes the files its manifest lists and
    refuses (ConfigError) a dir that is not the harness's. Under `harness gate` the gate claimed the dir and
    cleared it already (its claim is running and its owner alive): nothing to do. Returns whether this process
    claimed the dir (then it calls reports_dir.finish() when it is done)."""
    from harness.reports_dir import claim, live_claim

    if live_claim(reports_dir):
        return False
    return claim(reports_dir)


@dataclass(slots=True)
class Reports:
    """One session's report writer."""

    reports_dir: Path
    target: Target

    @property
    def dir(self) -> Path:
        return security_dir(self.reports_dir)

    @property
    def history(self) -> Path:
        return self.reports_dir / "history" / "security.json"

    def write(self, name: str, content: str | dict[str, Any]) -> Path:
        """A document (redacted by structure) or a tool's text (JSON by structure, else as text)."""
        secrets = run_secrets(self.target)
        path = self.dir / name
        if not isinstance(content, str):
            text = json.dumps(redact_data(content, secrets), indent=2)
        elif path.suffix == ".json":
            text = redact_json_text(content, secrets)
        else:
            text = redact_text(content, secrets)
        write_atomic(path, text)
        return path

    def finish(
        self, check: str, findings: list[Finding], waivers: Iterable[Waiver], extra: dict[str, Any] | None = None
    ) -> str:
        """Apply waivers, mark new-vs-known (and record this run), write the findings; return the summary line."""
        apply_waivers(findings, list(waivers))
        key = history_key(check, self.target.base_url, self.target.ephemeral)
        last = mark_and_record(findings, self.history, key)
        doc = findings_document(
            findings, check=check, target=self.target.base_url, extra={"compared_with_run_of": last, **(extra or {})}
        )
        self.write(f"findings/{check}.json", doc)
        self._merge()
        return summarize(findings)

    def _merge(self) -> None:
        """findings.json: every check's findings so far (checks may finish in parallel xdist workers)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".findings.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            merged: list[dict[str, Any]] = []
            checks: dict[str, Any] = {}
            for path in sorted((self.dir / "findings").glob("*.json")):
                try:
                    doc = json.loads(path.read_text())
                    if not isinstance(doc, dict) or not isinstance(doc.get("findings", []), list):
                        raise ValueError("not a findings document")
                except (OSError, ValueError) as exc:  # never leave a check's findings out silently
                    raise ReportFileError(
                        f"findings file {path} cannot be read ({exc}); findings.json would leave its findings "
                        "out: run the security suite again"
                    ) from None
                checks[doc.get("check", path.stem)] = doc.get("counts", {})
                merged += [{"check": doc.get("check", path.stem), **f} for f in doc.get("findings", [])]
            self.write(
                "findings.json",
                {"schema": FINDINGS_SCHEMA, "target": self.target.base_url, "checks": checks, "findings": merged},
            )


def relative_prefix(directory: Path, root: Path) -> str:
    """'deploy/' for root/deploy: trivy names files relative to the directory it scanned."""
    try:
        rel = directory.resolve().relative_to(root.resolve())
    except ValueError:
        return f"{directory}/"
    return "" if str(rel) == "." else f"{rel.as_posix()}/"
