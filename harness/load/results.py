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
    generators: dict[str, object] = field(default_factory=dict)  # judge_generators(): CPU, users, heartbeats
    limited: str | None = None  # set: the generator was the limit; throughput and latency are not judged
    contended: str | None = None  # set: the neighbours took the machine (load/machine.py); a fail is not judged
    machine: dict[str, object] = field(default_factory=dict)  # judge_machine()'s summary: busy/ours/foreign %

    def to_dict(self) -> dict[str, object]:
        return {
            "measurements": self.measurements,
            "coverage": self.coverage,
            "auth": self.auth,
            "missing": self.missing,
            "limited": self.limited,
            "contended": self.contended,
            "machine": self.machine,
            "generators": self.generators,
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


# -- the generators' honesty -------------------------------------------------------------------------------
GENERATORS = "generators.json"  # written by the locustfile on the master (or the single Locust process)
CPU_LIMIT = 90.0  # Locust's own CPU_WARNING_THRESHOLD: above it, Locust warns that it may constrain throughput
# what a saturated generator distorts: the throughput it could not send and the latency of its own queueing
LIMITED_METRICS = (
    "rps",
    "http_rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "aggregate_p50_ms",
    "aggregate_p95_ms",
    "aggregate_p99_ms",
)
# Locust's 90 % applies to CPU *use*; a generator held back by a CPU quota or a crowded core reads low there while it
# waits for a CPU (schedstat): ran + waited above the same 90 % in a sample means it hardly ever waited for the service
GENERATOR_LIMIT = "the load generator, not the service, was the limit"
UNTOLD = "cannot tell whether the load generator or the service was the limit"


def read_generators(path: Path) -> dict[str, object] | None:
    """The locustfile's generators document, or None when it is absent or unreadable."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("generators"), list) else None


def _who(g: dict) -> str:
    """'worker 2 (host-a, pid 4711)': Locust's worker index, and where it ran."""
    where = [str(x) for x in (g.get("label"), g.get("host")) if x]
    if g.get("pid"):
        where.append(f"pid {g['pid']}")
    return f"{g.get('name', '?')} ({', '.join(where)})" if where else str(g.get("name", "?"))


def _cpu(g: dict, start: float, end: float) -> tuple[float | None, float | None, int]:
    """(max, mean, count) of a generator's CPU samples inside [start, end]."""
    values = []
    for point in g.get("samples") or ():
        try:
            t, cpu = float(point[0]), float(point[1])
        except (TypeError, ValueError, IndexError):
            continue
        if start <= t <= end and math.isfinite(cpu):
            values.append(cpu)
    if not values:
        return None, None, 0
    return max(values), round(sum(values) / len(values), 1), len(values)


def _runnable(g: dict, start: float, end: float) -> dict[str, float | None]:
    """From /proc/self/schedstat over [start, end]: the mean % of the time it ran and waited for a CPU, and the
    sample where it was runnable (ran + waited) the most."""
    points = []
    for point in g.get("waits") or ():
        try:
            t, ran, waited = float(point[0]), float(point[1]), float(point[2])
        except (TypeError, ValueError, IndexError):
            continue
        if start <= t <= end and math.isfinite(ran) and math.isfinite(waited):
            points.append((ran, waited))
    if not points:
        return {"ran_pct": None, "waited_pct": None, "peak_ran_pct": None, "peak_waited_pct": None, "starved": 0}
    peak = max(points, key=sum)
    return {
        "ran_pct": round(sum(p[0] for p in points) / len(points), 1),
        "waited_pct": round(sum(p[1] for p in points) / len(points), 1),
        "peak_ran_pct": peak[0],
        "peak_waited_pct": peak[1],
        "starved": sum(sum(p) > CPU_LIMIT for p in points),  # samples where it was runnable past the limit
        "samples_waits": len(points),
    }


def judge_generators(doc: dict[str, object] | None) -> tuple[str | None, str | None, dict[str, object]]:
    """(missing, limited, record) from the generators document.

    missing: the run cannot be judged at all (a worker went missing or left mid-run, fewer workers joined
    than expected, a worker holds another token than the master). limited: the generator, not the service,
    bounded the throughput and latency (a generator above Locust's 90 % CPU in the judged window, the users
    never reached the profile's count, or no CPU reading to tell): those metrics are not judged."""
    if doc is None:
        why = "the locustfile wrote no generators.json (the harness's locustfile does)"
        return None, f"{UNTOLD}: {why}", {}
    gens = [g for g in doc.get("generators") or () if isinstance(g, dict)]  # type: ignore[union-attr]
    workers = [g for g in gens if g.get("role") == "worker"]
    asked, reached = int(doc.get("users_asked") or 0), int(doc.get("users_reached") or 0)  # type: ignore[call-overload]
    steady, ended = doc.get("steady_at_s"), doc.get("ended_at_s")
    start = float(steady) if isinstance(steady, int | float) else math.inf
    end = float(ended) if isinstance(ended, int | float) else math.inf
    rows = []
    for g in gens:
        peak, mean, n = _cpu(g, start, end)
        rows.append(
            {
                "name": g.get("name"),
                "who": _who(g),
                "role": g.get("role"),
                "cpu_max": peak,
                "cpu_mean": mean,
                "samples": n,
                **_runnable(g, start, end),
                "users_max": g.get("users_max"),
                "state": g.get("state"),
            }
        )
    record: dict[str, object] = {
        "users_asked": asked,
        "users_reached": reached,
        "workers": len(workers),
        "expected_workers": doc.get("expected_workers") or 0,
        "judged_window_s": [None if start == math.inf else start, None if end == math.inf else end],
        "cpu_threshold": CPU_LIMIT,
        "generators": rows,
        "series": doc.get("series") or [],
    }
    lost = []
    for g in workers:
        if g.get("missing_at_s") is not None:
            lost.append(
                f"{_who(g)} stopped sending heartbeats {float(g['missing_at_s']):.0f} s into the run "
                "(Locust marked it missing)"
            )
        elif g.get("left_at_s") is not None:
            lost.append(f"{_who(g)} left the run {float(g['left_at_s']):.0f} s in, before it ended")
    if lost:
        return "; ".join(lost) + ": its users and their last statistics are lost", None, record
    expected = int(record["expected_workers"])  # type: ignore[call-overload]
    if expected and len(workers) < expected:
        return f"only {len(workers)} of the {expected} expected Locust workers joined the run", None, record
    master_token = doc.get("token") or ""
    wrong = [g for g in workers if master_token and g.get("token") is not None and g.get("token") != master_token]
    if wrong:
        names = ", ".join(_who(g) for g in wrong)
        return (
            (
                f"{names} holds no HARNESS_LOAD_TOKEN or another one than the master: the service would refuse its "
                "requests and the errors would be blamed on the build; give every worker the target's token"
            ),
            None,
            record,
        )
    if start == math.inf or reached < asked:
        got = f"at most {reached} ran" if reached else "none ran"
        return None, f"{GENERATOR_LIMIT} (the users never reached the profile's {asked}: {got})", record
    hot = [r for r in rows if r["cpu_max"] is not None and r["cpu_max"] > CPU_LIMIT]
    if hot:
        said = ", ".join(f"{r['name']}: CPU {r['cpu_max']:.0f} %" for r in hot)
        return None, f"{GENERATOR_LIMIT} ({said}; Locust's limit is {CPU_LIMIT:.0f} %)", record
    # starved for at least a third of the judged window's samples, not in one crowded 2 s sample of a longer
    # run: on a box the service shares, a generator waits for a CPU in bursts while the service runs, and that
    # alone distorts little
    busy = [r for r in rows if r["starved"] and r["starved"] >= r.get("samples_waits", 0) / 3]
    if busy:
        said = ", ".join(
            f"{r['name']}: CPU {r['peak_ran_pct']:.0f} %, waiting for a CPU {r['peak_waited_pct']:.0f} % of the time"
            for r in busy
        )
        return None, f"{GENERATOR_LIMIT} ({said}: it was hardly ever waiting for the service)", record
    blind = [r for r in rows if r["samples"] == 0]
    if blind:
        names = ", ".join(str(r["name"]) for r in blind)
        return (
            None,
            f"{UNTOLD}: no CPU reading from {names} in the judged window",
            record,
        )
    return None, None, record


def judged_when_limited(summary: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """The measurements load.run records from a LoadSummary.to_dict(), and {metric: why} for those it withholds.

    Throughput and latency of a run whose generator was the limit are the generator's (LIMITED_METRICS: the
    load.rps and load.p95_ms checks say so). Its failure ratios stay judged: every answer it got is the service's,
    so an HTTP 5xx counts whatever the generator's CPU. Only failures the service never answered (Locust's
    status 0, the locustfile's "no answer": timeouts, resets) cannot be told from the starved generator's own:
    with such failures in a limited run, error_ratio (and ws_connect_ratio, when WebSocket connects went
    unanswered) are withheld (the gates are `missing`), never a fail that blames the build nor a pass: a starved
    generator reads an answer too late for its timeout, or leaves a keep-alive connection idle until the server
    closes it."""
    m = summary.get("measurements") or {}
    kept = {k: v for k, v in m.items() if k not in LIMITED_METRICS}
    limited = summary.get("limited")
    if not limited:
        return kept, {}
    unanswered = [f for f in summary.get("failures") or () if NO_ANSWER in str(f.get("error", ""))]
    withheld: dict[str, str] = {}
    total = sum(int(f.get("occurrences") or 0) for f in unanswered)
    if total:
        requests, failures = int(m.get("requests") or 0), int(m.get("failures") or 0)
        answered = failures - total
        withheld["error_ratio"] = (
            f"{limited}; {total} of the {failures} failed requests got no answer (timeouts, resets), which a "
            f"starved generator can cause itself: the error ratio is not judged (the service answered "
            f"{answered} of the {requests} requests with an error; re-run with more generator capacity)"
        )
    connects = sum(
        int(f.get("occurrences") or 0) for f in unanswered if f.get("method") == WS and f.get("name") == "connect"
    )
    if connects and "ws_connect_ratio" in kept:
        withheld["ws_connect_ratio"] = (
            f"{limited}; {connects} WebSocket connects got no answer, which a starved generator can cause itself: "
            "the connect ratio is not judged (re-run with more generator capacity)"
        )
    return {k: v for k, v in kept.items() if k not in withheld}, withheld


def apply_generators(summary: LoadSummary, doc: dict[str, object] | None) -> LoadSummary:
    """The generators' verdict on a summary: a lost worker makes the whole run missing; a saturated generator
    (or too few users) leaves throughput and latency unjudged (summary.limited)."""
    missing, limited, record = judge_generators(doc)
    summary.generators = record
    if missing:
        summary.missing = missing
    elif limited and not summary.missing:
        summary.limited = limited
    return summary
