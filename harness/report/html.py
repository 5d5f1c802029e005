"""reports/report.html: one self-contained page with the whole decision, rendered by Jinja2.

Built only from what the run already wrote, redacted, into reports/: the verdict document, evidence.json, each
suite's section (the suite registry names its function and template: harness/registry.py; the built-in ones are
in report/sections.py: security/findings.json, load/locust_stats.csv + locust_stats_history.csv, live/canary.json)
and the nightly history (reports/history/load.jsonl). Every document read here is redacted once more with the
run's secrets before it reaches the template, and the template escapes every value. Inline CSS and inline SVG
(harness/report/charts.py): no script, stylesheet, font or image is loaded from anywhere when the file is opened.
A suite of a team (no template of the harness) gets a plain table: its function returns {"rows": [[...]],
"columns": [...], "note": "..."}, every cell escaped.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2

from harness import registry
from harness.atomic import write_atomic
from harness.errors import ConfigError
from harness.redact import redact_data
from harness.report.charts import Series, labelled_line_chart
from harness.report.markdown import HEADLINE, ICON, coverage_text
from harness.report.sections import _json, _num

REPORT = "report.html"
TABLE = "table.html.j2"  # a section with no template of the harness's own
MAX_ROWS = 500  # a team section's rows shown (the rest counted)
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("harness.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _observed(g: dict[str, Any]) -> str:
    value = g["observed"]
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def trend_section(history_file: Path | None, secrets: list[str], last: int = 30) -> dict[str, Any] | None:
    """The nightly trend: p95 and throughput of the last runs in the load history (JSON lines)."""
    if history_file is None or not history_file.is_file():
        return None
    from harness.load.history import read_records

    records, _bad = read_records(history_file)
    records = redact_data(records[-last:], secrets)
    if not records:
        return None
    labels = [f"{str(r.get('at', ''))[:16].replace('T', ' ')} {r.get('profile', '')}" for r in records]

    def metric(key: str) -> list[tuple[int, float | None]]:
        return [(i, _num(str(r.get("metrics", {}).get(key)))) for i, r in enumerate(records)]

    p95 = labelled_line_chart("p95 per run", "ms", labels, [Series("p95 ms", metric("p95_ms"))])
    rps = labelled_line_chart("Throughput per run", "req/s", labels, [Series("req/s", metric("rps"))])
    return {
        "file": str(history_file),
        "runs": records,
        "charts": [("p95 latency, run by run", p95), ("Throughput, run by run", rps)],
    }


def _table(data: Any) -> dict[str, Any] | None:
    """A team section's table, bounded; None for anything that is not one."""
    if not isinstance(data, dict):
        return None
    rows = [[str(c) for c in r] for r in data.get("rows") or [] if isinstance(r, list | tuple)]
    return {
        "columns": [str(c) for c in data.get("columns") or []],
        "rows": rows[:MAX_ROWS],
        "more": max(len(rows) - MAX_ROWS, 0),
        "note": str(data.get("note") or ""),
    }


def suite_sections(
    ran: set[str], records: list[dict[str, Any]], reports: Path, secrets: list[str]
) -> list[dict[str, Any]]:
    """The sections of the suites this run evaluated, in the registry's order. A section function that fails
    costs its section a line saying so, never the report."""
    out: list[dict[str, Any]] = []
    for suite in registry.suites().values():
        if suite.id not in ran or suite.section is None:
            continue
        mine = [r for r in records if r.get("suite") == suite.id]
        try:
            data = redact_data(suite.call("section", mine, reports / suite.folder, secrets), secrets)
        except ConfigError as exc:
            data, error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a team's section must not cost the verdict's report
            data, error = None, f"the section of suite {suite.id!r} failed: {type(exc).__name__}: {exc}"
        else:
            error = None
            if suite.template is None:
                data = _table(data)
        if data is None and error is None:
            continue
        template = f"sections/{suite.template or TABLE}"
        title = suite.title or suite.id
        out.append({"id": suite.id, "title": title, "template": template, "data": data, "error": error})
    return out


# -- the page ----------------------------------------------------------------------------------------------
def render_html(doc: dict[str, Any], reports: Path, secrets: list[str], history_file: Path | None = None) -> str:
    doc = redact_data(doc, secrets)
    evidence = _json(reports / "evidence.json")
    records = redact_data(evidence.get("records", []), secrets) if isinstance(evidence, dict) else []
    ran = set(doc["scope"].get("evaluated") or []) | {r.get("suite") for r in records}
    gates = [
        {**g, "observed_text": _observed(g), "coverage_text": coverage_text(g), "label": ICON[g["status"]]}
        for g in doc["gates"]
    ]
    listed = {s.id for s in registry.suites().values() if s.lists_checks}  # their section shows every check
    counts: dict[str, int] = defaultdict(int)
    for g in gates:
        counts[g["status"]] += 1
    return _ENV.get_template("report.html.j2").render(
        doc=doc,
        headline=HEADLINE[doc["verdict"]],
        gates=gates,
        counts=dict(counts),
        failing=[g for g in gates if g["status"] not in ("pass", "not_applicable", "not_run")],
        suite_sections=suite_sections({s for s in ran if s}, records, reports, secrets),
        trend=trend_section(history_file, secrets),
        other_suites=sorted(s for s in ran if s and s not in listed),
        records=records,
    )


def write_html(
    doc: dict[str, Any], reports: Path, secrets: list[str], history_file: Path | None = None, name: str = REPORT
) -> Path:
    path = reports / name
    write_atomic(path, render_html(doc, reports, secrets, history_file))
    return path
