"""--watch: the consecutive-breach rule and the loop's ending (clock and sleep simulated)."""

from __future__ import annotations

import signal

import pytest

from harness.live.watch import Round, Watch, run_watch
from harness.process import Terminated


def rounds(pattern: str) -> list[Round]:
    kinds = {"c": ([], []), "b": (["live.p95_s"], []), "u": ([], ["live.p95_s"])}
    return [Round(float(i), *kinds[ch]) for i, ch in enumerate(pattern)]


@pytest.mark.parametrize(
    ("pattern", "limit", "stops_at", "decision"),
    [
        ("cccc", 1, None, "go"),
        ("cbcbcbc", 1, None, "go"),  # never two in a row
        ("cbbc", 1, 3, "no-go"),  # failure_limit 1: the second breach in a row decides
        ("bcbb", 0, 1, "no-go"),  # failure_limit 0: the first breach decides
        ("bbcbbb", 2, 6, "no-go"),
        ("bucb", 1, None, "go"),  # a clean round breaks the run; a last breach within the limit is Argo-"go"
        ("bub", 1, 3, "no-go"),  # an unmeasured round neither breaks nor extends it
        ("ccu", 1, None, "inconclusive"),  # the last look measured nothing
    ],
)
def test_consecutive_breaches(pattern, limit, stops_at, decision):
    watch = Watch(limit)
    stopped = None
    for i, rnd in enumerate(rounds(pattern), start=1):
        if watch.add(rnd) and stopped is None:
            stopped = i
            break
    assert stopped == stops_at
    assert watch.decision == decision


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.now += s


def test_the_loop_runs_every_interval_for_the_duration_and_reports_each_round():
    t, seen = FakeTime(), []
    watch = run_watch(
        lambda: Round(t.now, [], []), 300, 60, 1, on_round=lambda w, r: seen.append(r.at), clock=t.clock, sleep=t.sleep
    )
    assert seen == [0, 60, 120, 180, 240, 300] and watch.decision == "go"
    assert "go after 6 round(s) (6 clean" in watch.note()


def test_the_loop_stops_early_on_the_breach_rule():
    t = FakeTime()
    feed = iter(rounds("cbbcccc"))
    watch = run_watch(lambda: next(feed), 600, 60, 1, clock=t.clock, sleep=t.sleep)
    assert len(watch.rounds) == 3 and watch.decision == "no-go" and t.now == 120


@pytest.mark.parametrize(("exc", "said"), [(KeyboardInterrupt(), "Ctrl-C"), (Terminated(signal.SIGTERM), "SIGTERM")])
def test_an_interrupt_ends_it_inconclusive_with_the_rounds_seen(exc, said):
    t = FakeTime()
    feed = iter(rounds("cc"))

    def evaluate():
        try:
            return next(feed)
        except StopIteration:
            raise exc from None

    watch = run_watch(evaluate, 600, 60, 1, clock=t.clock, sleep=t.sleep)
    assert watch.decision == "inconclusive" and len(watch.rounds) == 2
    assert said in watch.note() and "2 clean" in watch.note()


def test_a_decisive_breach_ends_the_watch_at_once_whatever_the_failure_limit():
    """The sequential canary judge's significant result is one breach that decides (its error rate already
    holds over every look), unlike a live gate's bad interval that needs failure_limit + 1 in a row."""
    from harness.live.watch import Round, Watch

    w = Watch(failure_limit=3)
    assert w.add(Round(1.0, ["live.p95_s"], [])) is None  # an ordinary breach: one of four needed
    assert w.add(Round(2.0, [], [])) is None and w.decision == "go"
    assert w.add(Round(3.0, ["canary.score"], [], decisive=True)) == "no-go"
    assert w.decision == "no-go" and w.in_a_row == 1
