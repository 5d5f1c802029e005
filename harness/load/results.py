"""Locust's CSV output -> the load suite's measurements (pure functions: no Locust import, no I/O but reads).

The headline percentiles are the slowest endpoint's: the guide's "P95 < 2 s" must hold for every
endpoint, and an aggregate over a mix dominated by fast health probes would hide a slow chat API.
Locust's own aggregate is kept beside them (aggregate_p50_ms ...).
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

NO_ANSWER = "no answer"  # the locustfile's prefix for failures the server never answered
WS = "WS"
PERCENTILES = {"p50_ms": "50%", "p95_ms": "95%", "p99_ms": "99%"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One row of Locust's *_stats.csv (an endpoint, or the Aggregated row)."""

    method: str
    name: str
    requests: int
    failures: int
    rps: float
    avg_ms: float
    max_ms: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def label(self) -> str:
        return f"{self.method} {self.name}".strip()

    @property
    def error_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Failure:
    """One row of Locust's *_failures.csv."""

    method: str
    name: str
    error: str
    occurrences: int

    @property
    def unanswered(self) -> bool:
        return NO_ANSWER in self.error


@dataclass(slots=True)
class LoadSummary:
    """What one Locust run showed: measurements for the gates, or why there are none."""

    measurements: dict[str, float] = field(default_factory=dict)
    missing: str | None = None  # set: the run cannot be judged (the gates become `missing`)
    endpoints: list[Endpoint] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)  # requests, websocket_sessions (connects tried)
    auth: dict[str, int] = field(default_factory=dict)  # logins, login_failures, retries_401 (not load traffic)

    def to_dict(self) -> dict[str, object]:
        return {
            "measurements": self.measurements,
            "coverage": self.coverage,
            "auth": self.auth,
            "missing": self.missing,
            "endpoints": [{**asdict(e), "error_ratio": e.error_ratio} for e in self.endpoints],
            "failures": [asdict(f) for f in self.failures],
        }


def _num(raw: str | None) -> float | None:
    if raw is None or raw.strip() in ("", "N/A"):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def read_stats(path: Path) -> tuple[list[Endpoint], Endpoint | None]:
    """(endpoint rows, the Aggregated row) from Locust's <prefix>_stats.csv."""
    rows: list[Endpoint] = []
    total: Endpoint | None = None
    with path.open(newline="") as fh:
        for raw in csv.DictReader(fh):
            row = Endpoint(
                method=raw.get("Type") or "",
                name=raw["Name"],
                requests=int(raw["Request Count"]),
                failures=int(raw["Failure Count"]),
                rps=_num(raw.get("Requests/s")) or 0.0,
                avg_ms=_num(raw.get("Average Response Time")) or 0.0,
                max_ms=_num(raw.get("Max Response Time")) or 0.0,
                p50_ms=_num(raw.get("50%")),
                p95_ms=_num(raw.get("95%")),
                p99_ms=_num(raw.get("99%")),
            )
            if row.name == "Aggregated" and not row.method:
                total = row
            else:
                rows.append(row)
    return rows, total


def read_failures(path: Path) -> list[Failure]:
    """Rows of Locust's <prefix>_failures.csv (absent file: no failures)."""
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return [
            Failure(r.get("Method") or "", r["Name"], r["Error"], int(r["Occurrences"])) for r in csv.DictReader(fh)
        ]


def summarize(
    endpoints: list[Endpoint], total: Endpoint | None, failures: list[Failure], min_requests: int
) -> LoadSummary:
    """Turn the rows into measurements, or say why the run cannot be judged (fail closed)."""
    summary = LoadSummary(endpoints=endpoints, failures=failures)
    if total is None or total.requests == 0:
        summary.missing = "the load run made no requests"
        return summary
    unanswered = sum(f.occurrences for f in failures if f.unanswered)
    if unanswered >= total.requests:
        example = next((f.error for f in failures if f.unanswered), "")
        summary.missing = (
            f"the target answered none of {total.requests} requests ({example.strip()[:120]}): "
            "it is down or drops every connection"
        )
        return summary
    if total.requests < min_requests:
        summary.missing = (
            f"only {total.requests} requests, fewer than the minimum sample of {min_requests}; "
            "run longer or with more users"
        )
        return summary
    m: dict[str, float] = {}
    timed = [e for e in endpoints if e.requests > 0]
    for key, _ in PERCENTILES.items():
        values = [getattr(e, key) for e in timed if getattr(e, key) is not None]
        if values:
            m[key] = max(values)
        agg = getattr(total, key)
        if agg is not None:
            m[f"aggregate_{key}"] = agg
    m["error_ratio"] = total.failures / total.requests
    m["rps"] = total.rps
    m["http_rps"] = sum(e.rps for e in endpoints if e.method != WS)
    m["requests"] = float(total.requests)
    m["failures"] = float(total.failures)
    m["unanswered"] = float(unanswered)
    connects = [e for e in endpoints if e.method == WS and e.name == "connect"]
    tried = sum(e.requests for e in connects)
    if tried:
        m["ws_connect_ratio"] = (tried - sum(e.failures for e in connects)) / tried
    summary.measurements = {k: round(v, 6) for k, v in m.items()}
    summary.coverage = {"requests": total.requests, "websocket_sessions": tried}
    return summary


_STATUS = re.compile(r"\b([1-5]\d\d)\b")


def error_sources(summary: LoadSummary, failures_csv: Path | None = None, limit: int = 4) -> str:
    """The endpoints and statuses behind the error ratio, worst first, from Locust's failures CSV: 'GET
    /api/accounts: 12 of 400 failed (3 %), HTTP 500 x 12; ... (Locust's failures: <path>)'. Empty without
    failures."""
    if not summary.failures:
        return ""
    by_endpoint: dict[tuple[str, str], dict[str, int]] = {}
    for f in summary.failures:
        m = _STATUS.search(f.error)
        what = f"HTTP {m.group(1)}" if m and not f.unanswered else " ".join(f.error.split())[:80]
        counts = by_endpoint.setdefault((f.method, f.name), {})
        counts[what] = counts.get(what, 0) + f.occurrences
    sent = {(e.method, e.name): e.requests for e in summary.endpoints}
    ranked = sorted(by_endpoint.items(), key=lambda kv: -sum(kv[1].values()))
    parts = []
    for (method, name), counts in ranked[:limit]:
        failed = sum(counts.values())
        total = sent.get((method, name))
        share = f" of {total} failed ({100 * failed / total:.3g} %)" if total else " failed"
        kinds = ", ".join(f"{k} x {n}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:3])
        parts.append(f"{method} {name}: {failed}{share}, {kinds}".strip())
    more = f" (+{len(ranked) - limit} more endpoints)" if len(ranked) > limit else ""
    where = f" (Locust's failures: {failures_csv})" if failures_csv is not None else ""
    return "; ".join(parts) + more + where


def error_sources_of(summary: dict[str, Any], failures_csv: Path | None = None) -> str:
    """error_sources() of a LoadSummary.to_dict() document (what the load suite's checks are handed)."""
    rebuilt = LoadSummary(
        endpoints=[
            Endpoint(**{k: v for k, v in e.items() if k in Endpoint.__dataclass_fields__})
            for e in summary.get("endpoints") or ()
        ],
        failures=[Failure(**f) for f in summary.get("failures") or ()],
    )
    return error_sources(rebuilt, failures_csv)


def summarize_files(prefix: Path, min_requests: int) -> LoadSummary:
    """summarize() over <prefix>_stats.csv and <prefix>_failures.csv; a missing stats file is `missing`."""
    stats = prefix.parent / f"{prefix.name}_stats.csv"
    if not stats.is_file():
        return LoadSummary(missing=f"Locust wrote no statistics ({stats.name} is absent)")
    try:
        endpoints, total = read_stats(stats)
        failures = read_failures(prefix.parent / f"{prefix.name}_failures.csv")
    except (KeyError, ValueError, csv.Error) as exc:
        return LoadSummary(missing=f"Locust's statistics in {stats} are unreadable ({exc})")
    return summarize(endpoints, total, failures, min_requests)


def read_auth_log(path: Path) -> dict[str, int]:
    """The Locust processes' auth log (one JSON line per event) -> counts: logins, login_failures, retries_401.

    The logins are the token source's own requests (not Locust requests), so they are in no load statistic;
    a 401 answer that was retried after a refresh is not either (the retry is): both are counted here."""
    counts = {"logins": 0, "login_failures": 0, "retries_401": 0}
    if not path.is_file():
        return {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line).get("event")
        except (ValueError, AttributeError):
            continue
        key = {"login": "logins", "login_failed": "login_failures", "retry_401": "retries_401"}.get(event)
        if key:
            counts[key] += 1
    return counts
