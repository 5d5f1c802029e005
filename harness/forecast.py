"""Before anything starts: which gates of a phase this run will leave `not_run` or `not_applicable` on this
target, and why (`harness service --phase P [--target URL] [--allow-unsafe] [--baseline]`).

A forecast from the profile, the scope and the phase alone, with no request sent: the live document and
the suites decide in the run itself, and say the same reasons there (harness/verdict.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.config import Settings
from harness.errors import ConfigError
from harness.load.traffic import REFERENCE
from harness.policy import Phase
from harness.service.operations import Scope
from harness.service.profile import BUILTIN_SMOKE, ServiceProfile

NEEDS = {  # a path the profile lacks -> the gates that cannot apply without it
    "websocket": ("smoke.websocket", "contract.websocket", "load.ws_connect_ratio"),
    "metrics": ("smoke.metrics", "contract.metrics"),
    "openapi": ("contract.openapi", "contract.openapi.stateful", "contract.breaking_changes"),
}
BUILTIN_CALLS = {"roundtrip": ("POST", "/chat/v2/chat")}  # the built-in smoke checks that change data
LOAD_GATES = ("load.run", "load.p95_ms", "load.error_ratio", "load.rps", "load.regression")
OPS_GATES = ("contract.openapi", "contract.openapi.stateful", "security.auth_failures", "security.zap_fail")


@dataclass(frozen=True, slots=True)
class Gap:
    """One gate that will not be judged as pass/fail here: its status and the one-line reason."""

    gate: str
    status: str  # not_run | not_applicable | missing (evidence this machine cannot produce, e.g. no trivy DB)
    why: str

    def line(self) -> str:
        word = {"not_run": "NOT RUN", "missing": "MISSING"}.get(self.status, "N/A")
        return f"  {word:<8} {self.gate:<28} {self.why}"


def _document_operations(profile: ServiceProfile) -> list[tuple[str, str]]:
    """(method, path) of the committed OpenAPI document (files.openapi_baseline): the best guess, before the
    run, of what the live document holds."""
    path = profile.file("openapi_baseline")
    if path is None or not Path(path).is_file():
        return []
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return []
    out = []
    for p, item in (doc.get("paths") or {}).items():
        for method in item if isinstance(item, dict) else {}:
            if method.upper() in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"):
                out.append((method.upper(), str(p)))
    return out


def _load_operations(profile: ServiceProfile, doc_ops: list[tuple[str, str]]) -> list[tuple[str, str]]:
    traffic = profile.data.load.traffic
    if traffic == "reference":
        return list(REFERENCE.values())
    if traffic == "endpoints":
        return [(e.method, e.path) for e in profile.data.load.endpoints]
    return [(m, p) for m, p in doc_ops if m in ("GET", "HEAD")]  # traffic = "openapi" sends only these


def forecast(
    profile: ServiceProfile,
    phase: Phase,
    scope: Scope,
    *,
    baseline: bool,
    https: bool,
    missing: dict[str, str] | None = None,
) -> list[Gap]:
    """The phase's gates that will be not_run, not_applicable or (`missing`: gate -> why, evidence the machine
    cannot produce) missing, in the phase's order."""
    d = profile.data
    gaps: dict[str, Gap] = {}

    def add(gate: str, status: str, why: str) -> None:
        gaps.setdefault(gate, Gap(gate, status, why))

    for name, gates in NEEDS.items():
        if not getattr(d.paths, name):
            for g in gates:
                add(g, "not_applicable", f"the {profile.describe()} has no paths.{name}")
    for b in BUILTIN_SMOKE:
        if b not in d.builtin_smoke:
            add(f"smoke.{b}", "not_applicable", "the profile does not enable this built-in smoke check")
    if d.auth.scheme == "none":
        add("security.auth_failures", "not_applicable", "the profile says the service takes no credentials")
    if not https:
        add("security.tls", "not_applicable", "the target is plain http")
    if not scope.ephemeral:
        for g in ("rollback.migrations", "rollback.data", "rollback.cache", "rollback.flags", "rollback.duration_s"):
            add(g, "not_run", "the rollback rehearsal runs only on a stack the harness starts")
    if not baseline:
        for g in ("canary.score", "canary.critical"):
            add(g, "not_run", "no baseline: give --baseline (a stack the harness starts) or baseline_selector")

    left_out = []
    for c in d.smoke:
        why = scope.missed(c.method, c.path)
        if why:
            add(f"smoke.{c.name}", "not_run", f"{c.method} {c.path}: {why}")
            left_out.append(f"smoke.{c.name}")
    for b, (method, path) in BUILTIN_CALLS.items():
        why = scope.missed(method, path) if b in d.builtin_smoke else None
        if why:
            add(f"smoke.{b}", "not_run", f"{method} {path}: {why}")
            left_out.append(f"smoke.{b}")
    if left_out:
        add("smoke.all", "not_run", f"{', '.join(left_out)} not run")
    doc_ops = _document_operations(profile)
    excluded_doc = [(m, p, scope.missed(m, p)) for m, p in doc_ops if scope.missed(m, p)]
    if excluded_doc and d.paths.openapi:
        m, p, why = excluded_doc[0]
        more = f" (+{len(excluded_doc) - 1} more)" if len(excluded_doc) > 1 else ""
        for g in (*OPS_GATES, "contract.all"):
            add(g, "not_run", f"leaves out {m} {p}{more}: {why}")
    excluded_load = [(m, p, scope.missed(m, p)) for m, p in _load_operations(profile, doc_ops)]
    excluded_load = [x for x in excluded_load if x[2]]
    if excluded_load:
        m, p, why = excluded_load[0]
        for g in LOAD_GATES:
            add(g, "not_run", f"the load leaves out {m} {p}: {why}")
    for g, why in (missing or {}).items():
        add(g, "missing", why)
    return [gaps[g.id] for g in phase.gates if g.id in gaps]


def machine_gaps(settings: Settings) -> dict[str, str]:
    """Evidence this machine cannot produce, known before anything starts: no trivy vulnerability DB (and no
    report to ingest, no download allowed) leaves security.trivy_vulns missing."""
    from harness.security.options import security_options
    from harness.security.trivy import db_available

    try:
        opts = security_options(settings)
    except ConfigError:
        return {}
    if opts.trivy_reports or opts.trivy_db_download or db_available(opts.trivy_cache_dir):
        return {}
    return {
        "security.trivy_vulns": f"no trivy vulnerability DB in {opts.trivy_cache_dir}: pass --trivy-cache-dir DIR "
        "(a DB downloaded where the network allows), set HARNESS_SECURITY_TRIVY_DB_DOWNLOAD=1, ingest a report "
        "(HARNESS_TRIVY_REPORT), or drop the gate in a team policy"
    }


def describe_gaps(gaps: list[Gap], phase: Phase, where: str) -> str:
    """The block `harness service` prints under the profile."""
    head = f"phase {phase.name} on {where}: {len(phase.gates)} gate(s)"
    if not gaps:
        return f"{head}; every gate will be judged (none is expected to be not run or N/A)"
    unrun = sum(g.status == "not_run" for g in gaps)
    absent = sum(g.status == "missing" for g in gaps)
    tail = " (inconclusive until they run, or a team policy drops them)" if unrun or absent else ""
    counts = f"{unrun} not run, {absent} missing" if absent else f"{unrun} not run"
    return "\n".join([f"{head}; {counts}{tail}, {len(gaps) - unrun - absent} N/A:", *(g.line() for g in gaps)])
