"""The built-in suites' sections of report.html: each takes the suite's evidence records, its folder under
reports/ and the run's secrets, and returns what its template (templates/sections/<name>.html.j2) shows, or None
for no section. The suite registry (harness/builtin_suites.py) names them; report/html.py calls them."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.redact import redact_data
from harness.report.charts import Series, line_chart

PERCENTILES = ("50%", "95%", "99%")


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, csv.Error):
        return []


def _num(text: str | None) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value == value else None  # NaN is no value


def smoke(records: list[dict[str, Any]], folder: Path, secrets: list[str]) -> list[dict[str, Any]]:
    """Every smoke check, as the template lists them."""
    return records


_OPERATION = re.compile(r"\[(.+)\]$")


def contract(records: list[dict[str, Any]], folder: Path, secrets: list[str]) -> dict[str, Any]:
    """Failed contract checks by operation: each failure's schemathesis codes and its curl lines."""
    contract = records
    failed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in contract:
        if r.get("outcome") not in ("failed", "error"):
            continue
        m = _OPERATION.search(r["id"])
        operation = m.group(1) if m else r["id"]
        label, _, detail = r.get("message", "").partition(": ")
        items = [x.strip() for x in detail.split(";")] if detail and label.strip() == operation else []
        codes = [x.split(" ", 1)[0] for x in items if x and not x.startswith("(")]
        curls = [line for line in r.get("repro", []) if line.startswith("curl ")]
        failed[operation].append({**r, "codes": codes, "curls": curls})
    counts = {o: sum(r.get("outcome") == o for r in contract) for o in ("passed", "failed", "error", "not_applicable")}
    return {"checks": len(contract), "counts": counts, "failed": dict(failed)}


def security(records: list[dict[str, Any]], folder: Path, secrets: list[str]) -> dict[str, Any]:
    """The findings file the security suite wrote (<folder>/findings.json), by rule."""
    doc = _json(folder / "findings.json")
    if not isinstance(doc, dict):
        doc = {"missing": True}
    doc = redact_data(doc, secrets)
    findings = [f for f in doc.get("findings", []) if isinstance(f, dict)]
    rank = {"FAIL": 0, "WARN": 1, "INFO": 2}
    findings.sort(key=lambda f: (not f.get("blocking"), rank.get(f.get("level"), 3), str(f.get("rule_id"))))
    by_rule: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in findings:
        by_rule[f"{f.get('source')} {f.get('rule_id')}"].append(f)
    return {
        "checks": doc.get("checks", {}),
        "by_rule": dict(by_rule),
        "total": len(findings),
        "new": sum(bool(f.get("new")) for f in findings),
        "waived": sum(bool(f.get("waiver")) for f in findings),
        "blocking": sum(bool(f.get("blocking")) for f in findings),
        "missing": bool(doc.get("missing")),
    }


def _endpoint(row: dict[str, str]) -> str:
    """'GET /health' (Locust's Type and Name, the type once), or 'all endpoints' for the Aggregated row."""
    name, kind = row.get("Name") or "?", row.get("Type") or ""
    if name == "Aggregated":
        return "all endpoints"
    return name if not kind or name.startswith(f"{kind} ") else f"{kind} {name}"


def _history_series(rows: list[dict[str, str]]) -> tuple[dict[str, dict[str, list]], float]:
    """{endpoint: {"50%": [(t, ms)], ..., "rps": [(t, req/s)]}} from Locust's stats history; t in s from start."""
    stamps = [_num(r.get("Timestamp")) for r in rows]
    t0 = min((s for s in stamps if s is not None), default=0.0)
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r, ts in zip(rows, stamps, strict=True):
        if ts is None:
            continue
        name = _endpoint(r)
        for key in PERCENTILES:
            value = _num(r.get(key))
            if value is not None:
                out[name][key].append((ts - t0, value))
        rps = _num(r.get("Requests/s"))
        if rps is not None:
            out[name]["rps"].append((ts - t0, rps))
    span = max((s for s in stamps if s is not None), default=t0) - t0
    return out, span


def _generator_series(points: list[dict[str, Any]]) -> list[Series]:
    """Each generator's CPU (Locust's figure) and its wait for a CPU (schedstat) over the run."""
    lines: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for point in points:
        t = _num(str(point.get("t"))) if isinstance(point, dict) else None
        if t is None:
            continue
        for key, label in (("cpu", "CPU"), ("wait", "waiting")):
            for name, value in (point.get(key) or {}).items():
                v = _num(str(value))
                if v is not None:
                    lines[f"{name} {label}"].append((t, v))
    return [Series(name, pts) for name, pts in lines.items()]


def load(records: list[dict[str, Any]], folder: Path, secrets: list[str]) -> dict[str, Any]:
    """Locust's result, stats and stats history (<folder>/result.json, locust_stats*.csv), with charts."""
    load = folder
    result = _json(load / "result.json")
    stats = _csv(load / "locust_stats.csv")
    history = _csv(load / "locust_stats_history.csv")
    result = redact_data(result or {}, secrets)
    stats = redact_data(stats, secrets)
    series, span = _history_series(redact_data(history, secrets))
    charts = []
    if series:
        rps = [Series(name, s["rps"]) for name, s in series.items() if name != "all endpoints"]
        rps += [Series("all endpoints", series["all endpoints"]["rps"])] if "all endpoints" in series else []
        charts.append(("Requests per second over the run", line_chart("Requests/s", "seconds", "req/s", rps)))
    generators = ((result.get("summary") or {}).get("generators")) or {}
    cpu = _generator_series(generators.get("series") or [])
    if cpu:  # beside the throughput: was it the service or the generator that set the pace?
        title = "Load generators: CPU and waiting for a CPU (%)"
        charts.append((title, line_chart("Generators", "seconds", "%", cpu)))
    for name, s in series.items():
        lines = [Series(f"p{k.rstrip('%')}", s[k]) for k in PERCENTILES]
        charts.append((f"Latency percentiles: {name}", line_chart(f"Latency: {name}", "seconds", "ms", lines)))
    table = [
        {
            "name": _endpoint(r),
            "requests": r.get("Request Count"),
            "failures": r.get("Failure Count"),
            "rps": _num(r.get("Requests/s")),
            **{k: r.get(k) for k in ("50%", "90%", "95%", "99%", "100%")},
        }
        for r in stats
    ]
    return {
        "result": result,
        "summary": (result.get("summary") or {}).get("measurements") or {},
        "limited": (result.get("summary") or {}).get("limited"),
        "contended": (result.get("summary") or {}).get("contended"),
        "missing": (result.get("summary") or {}).get("missing"),
        "generators": (result.get("summary") or {}).get("generators") or {},
        "table": table,
        "charts": charts,
        "span": span,
    }


def live(records: list[dict[str, Any]], folder: Path, secrets: list[str]) -> dict[str, Any] | None:
    """The canary judge's per-metric comparison (reports/live/canary.json) and the watch's rounds
    (reports/live/watch.jsonl), as the live suite wrote them; None when it wrote neither."""
    from harness.live.watch import round_text

    live = folder
    canary = _json(live / "canary.json")
    rounds: list[str] = []
    try:
        lines = (live / "watch.jsonl").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            rounds.append(round_text(json.loads(line)))
        except (ValueError, AttributeError):
            continue
    if not isinstance(canary, dict) and not rounds:
        return None
    canary = redact_data(canary, secrets) if isinstance(canary, dict) else None
    return {"canary": canary, "rounds": redact_data(rounds, secrets)}
