"""reports/summary.md and the one-screen console summary, from the verdict document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.redact import redact_data

ICON = {
    "pass": "PASS",
    "fail": "FAIL",
    "missing": "MISSING",
    "error": "ERROR",
    "not_run": "NOT RUN",
    "not_applicable": "N/A",
    "flaky": "FLAKY",
}
HEADLINE = {"go": "GO", "no-go": "NO-GO", "inconclusive": "INCONCLUSIVE"}


def _observed(g: dict[str, Any]) -> str:
    value = g["observed"]
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def coverage_text(g: dict[str, Any]) -> str:
    """'operations 5, examples 250', or '-' (v1 verdicts and checks that report no coverage)."""
    cov = g.get("coverage") or {}
    return ", ".join(f"{k} {v:g}" for k, v in cov.items()) or "-"


def _scope_line(doc: dict[str, Any]) -> str:
    scope = doc["scope"]
    line = f"suites: {', '.join(scope['evaluated']) or 'none'}"
    if scope["narrowed"]:
        line += f" (narrowed by --suites; not run: {', '.join(scope['omitted']) or 'none'})"
    return line


def render_markdown(doc: dict[str, Any]) -> str:
    t = doc["target"]
    lines = [
        f"# Rollout verdict: **{HEADLINE[doc['verdict']]}** (phase `{doc['phase']}`)",
        "",
        f"- target: {t['base_url']} ({t['stack']}, version {t.get('version') or 'unknown'})",
        f"- {_scope_line(doc)}",
        f"- run: {doc['started_at']} .. {doc['finished_at']} ({doc['duration_s']:.1f} s); policy: {doc.get('policy')}",
        "",
        "| gate | status | observed | threshold | covered | about |",
        "|---|---|---|---|---|---|",
    ]
    for g in doc["gates"]:
        lines.append(
            f"| `{g['id']}` | {ICON[g['status']]} | {_observed(g)} | {g['threshold']} | {coverage_text(g)} "
            f"| {g.get('about', '')} |"
        )
    if doc["reasons"]:
        lines += ["", "## Why", ""] + [f"1. {r}" for r in doc["reasons"]]
    if doc.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in doc["notes"]]
    return "\n".join(lines) + "\n"


def write_markdown(doc: dict[str, Any], path: Path, secrets: list[str]) -> None:
    write_atomic(path, render_markdown(redact_data(doc, secrets)))  # data first, then text


def render_console(doc: dict[str, Any], reports_dir: Path | None = None) -> str:
    """At most one screen: headline, the gates, the top reasons, where the reports are."""
    t = doc["target"]
    out = [
        f"{HEADLINE[doc['verdict']]}  phase={doc['phase']}  target={t['base_url']} ({t['stack']})  "
        f"{doc['duration_s']:.1f}s",
        _scope_line(doc),
    ]
    shown = [g for g in doc["gates"] if g["status"] != "not_run"]
    width = max((len(g["id"]) for g in shown), default=10)
    for g in shown:
        out.append(f"  {ICON[g['status']]:<8}{g['id']:<{width}}  observed {_observed(g)}  (threshold {g['threshold']})")
    not_run = [g["id"] for g in doc["gates"] if g["status"] == "not_run"]
    if not_run:  # one line: a narrowed run of a big phase still fits on a screen
        ids = ", ".join(not_run)
        out.append(f"  {ICON['not_run']:<8}{len(not_run)} gates: {ids if len(ids) <= 200 else ids[:197] + '...'}")
    for reason in doc["reasons"][:6]:
        out.append(f"  - {reason if len(reason) <= 300 else reason[:297] + '...'}")
    if len(doc["reasons"]) > 6:
        out.append(f"  ... {len(doc['reasons']) - 6} more in summary.md")
    if reports_dir is not None:
        out.append(f"reports: {reports_dir}/verdict.json, summary.md, report.html, junit.xml, gates.xml")
    return "\n".join(out)
