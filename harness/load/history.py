"""Nightly load history (one JSON object per line) and the regression call against the last good runs.

A run is *good* when every load gate other than the regression gate passed. Tonight regresses on a
metric when it is worse than the median of the last N good runs of the same profile by more than the
margin AND by more than their own noise (3 robust standard deviations, 1.4826 x MAD), so a noisy
history does not cry wolf and a quiet one still catches a real shift.
"""

from __future__ import annotations

import fcntl
import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.load.profiles import Regression

HISTORY_SCHEMA = "harness.load-history/v1"
# metric -> +1 when higher is worse, -1 when lower is worse
WATCHED = {"p95_ms": +1, "rps": -1}
UNITS = {"p95_ms": " ms", "rps": " req/s"}


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one line (created with its directory if absent; an exclusive lock keeps lines whole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"schema": HISTORY_SCHEMA, **record}, sort_keys=True) + "\n"
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line)


def read_records(path: Path) -> tuple[list[dict[str, Any]], int]:
    """(records in file order, number of lines skipped as unreadable). A missing file is empty."""
    if not path.is_file():
        return [], 0
    records, bad = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(rec, dict) and rec.get("schema") == HISTORY_SCHEMA and isinstance(rec.get("metrics"), dict):
            records.append(rec)
        else:
            bad += 1
    return records, bad


def baseline(records: list[dict[str, Any]], profile: str, window: int) -> list[dict[str, Any]]:
    """The last `window` good runs of this profile, oldest first."""
    good = [r for r in records if r.get("good") is True and r.get("profile") == profile]
    return good[-window:]


@dataclass(frozen=True, slots=True)
class Comparison:
    """Tonight against the baseline on one metric."""

    metric: str
    tonight: float
    median: float
    limit: float
    runs: int
    regressed: bool

    @property
    def change(self) -> float:
        return (self.tonight - self.median) / self.median if self.median else 0.0

    def describe(self, profile: str) -> str:
        unit = UNITS.get(self.metric, "")
        word = "worse than" if self.regressed else "within"
        return (
            f"{self.metric} {self.tonight:g}{unit} tonight vs median {self.median:g}{unit} of the last {self.runs} "
            f"good {profile} runs ({self.change:+.1%}; {word} the limit {self.limit:g}{unit})"
        )


def compare(tonight: dict[str, float], runs: list[dict[str, Any]], reg: Regression) -> list[Comparison]:
    """One Comparison per watched metric that tonight and the baseline both have."""
    out = []
    for metric, sign in WATCHED.items():
        past = [float(r["metrics"][metric]) for r in runs if isinstance(r["metrics"].get(metric), int | float)]
        if metric not in tonight or len(past) < reg.min_runs:
            continue
        median = statistics.median(past)
        noise = 3 * 1.4826 * statistics.median(abs(v - median) for v in past) if len(past) >= 3 else 0.0
        allowance = max(reg.margin * abs(median), noise)
        limit = median + sign * allowance
        value = float(tonight[metric])
        regressed = value > limit if sign > 0 else value < limit
        out.append(Comparison(metric, value, median, round(limit, 3), len(past), regressed))
    return out
