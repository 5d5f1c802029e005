"""--watch DURATION: look again every interval and decide like Argo Rollouts' analysis.

Each round evaluates the live measurements against the phase's thresholds: a round with any gate out of
bounds is a breach. failure_limit + 1 breaches in a row end the watch `no-go` at once; a watch that runs its
whole duration without that ends `go`; a Ctrl-C or SIGTERM ends it `inconclusive` with the rounds seen.
A round that could not measure (missing/error) is neither a breach nor clean: it resets nothing and counts
as `inconclusive` if it is the last one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class Round:
    at: float
    breached: list[str]  # the gates out of bounds this round
    unknown: list[str]  # the gates that could not be measured this round
    summary: str = ""
    decisive: bool = False  # a breach that ends the watch at once (the sequential canary judge's significant result)

    @property
    def status(self) -> str:
        return "breach" if self.breached else "unknown" if self.unknown else "clean"


@dataclass(slots=True)
class Watch:
    """The consecutive-breach rule over rounds (pure: feed it rounds, ask it for the decision)."""

    failure_limit: int = 1
    rounds: list[Round] = field(default_factory=list)
    in_a_row: int = 0
    interrupted: str | None = None
    decisive: bool = False  # a decisive breach was seen

    def add(self, rnd: Round) -> str | None:
        """Record a round; "no-go" once failure_limit + 1 breaches came in a row (or one decisive), else None."""
        self.rounds.append(rnd)
        self.decisive |= bool(rnd.breached and rnd.decisive)
        if rnd.breached:
            self.in_a_row += 1
        elif not rnd.unknown:
            self.in_a_row = 0
        return "no-go" if self.in_a_row > self.failure_limit or self.decisive else None

    @property
    def decision(self) -> str:
        if self.in_a_row > self.failure_limit or self.decisive:
            return "no-go"
        if self.interrupted or not self.rounds or self.rounds[-1].status == "unknown":
            return "inconclusive"
        return "go"

    def note(self, final: bool = True) -> str:
        """The watch in one line; final=False while it still runs (what a run stopped now has seen)."""
        counts = {s: sum(r.status == s for r in self.rounds) for s in ("clean", "breach", "unknown")}
        why = f"; {self.interrupted}" if self.interrupted else ""
        head = f"live watch: {self.decision} after" if final else "live watch (not finished): so far"
        return (
            f"{head} {len(self.rounds)} round(s) "
            f"({counts['clean']} clean, {counts['breach']} breach, {counts['unknown']} unmeasured; "
            f"breaches in a row {self.in_a_row}, failure_limit {self.failure_limit}){why}"
        )


def run_watch(
    evaluate: Callable[[], Round],
    duration_s: float,
    interval_s: float,
    failure_limit: int,
    *,
    on_round: Callable[[Watch, Round], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Watch:
    """Evaluate now and every interval until duration_s has passed or the rule says no-go. KeyboardInterrupt
    (Ctrl-C) and the harness's Terminated (SIGTERM, SIGHUP) end it inconclusive, the rounds so far kept."""
    from harness.process import Terminated

    watch = Watch(failure_limit)
    end = clock() + duration_s
    try:
        while True:
            rnd = evaluate()
            stop = watch.add(rnd)
            if on_round is not None:
                on_round(watch, rnd)
            if stop or clock() + interval_s > end:
                break
            sleep(interval_s)
    except Terminated as exc:  # a KeyboardInterrupt too: first
        watch.interrupted = f"terminated by {exc.signame}"
    except KeyboardInterrupt:
        watch.interrupted = "interrupted by Ctrl-C"
    return watch


def round_text(line: dict) -> str:
    """One console line for a watch round (reports/live/watch.jsonl)."""
    what = {
        "clean": "clean",
        "breach": "BREACH " + ", ".join(line.get("breached", [])),
        "unknown": "not measured: " + ", ".join(line.get("unknown", [])),
    }.get(line.get("status"), "?")
    values = line.get("values") or "no values"
    return f"watch round {line.get('round')}: {what} ({values}; breaches in a row {line.get('in_a_row')})"


class WatchTail(threading.Thread):
    """Print each watch round (reports/live/watch.jsonl) as it is written: the console's progress."""

    def __init__(self, path: Path, echo: Callable[[str], None]) -> None:
        super().__init__(daemon=True, name="watch-progress")
        self.path, self.echo = path, echo
        self.done = threading.Event()
        self.pos = 0

    def _pump(self) -> None:
        try:
            with self.path.open() as fh:
                fh.seek(self.pos)
                chunk = fh.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind("\n") + 1]
        self.pos += len(complete.encode())
        for line in complete.splitlines():
            try:
                self.echo(round_text(json.loads(line)))
            except ValueError:
                continue

    def run(self) -> None:
        while not self.done.wait(0.5):
            self._pump()
        self._pump()

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=2)


def console_tail(settings: Any, echo: Callable[[str], None]) -> WatchTail | None:
    """With `harness gate --watch`: print each round on the console as the suite writes it (started; the caller
    stops it). None without --watch."""
    from harness.live.options import SPEC
    from harness.registry import get

    if not settings.suite_flags.get(SPEC.suite, {}).get("watch"):
        return None
    path = settings.reports_dir / get(SPEC.suite).folder / "watch.jsonl"
    path.unlink(missing_ok=True)
    tail = WatchTail(path, echo)
    tail.start()
    return tail
