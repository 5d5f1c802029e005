"""Signals of the harness itself (harness/process.py, the CLI): SIGINT, SIGTERM and SIGHUP at any moment of a
gate end in exit 2 and an inconclusive verdict, the stack is always stopped, and a second signal never cuts
the cleanup short. The signals are real (sent to this process); the stack is a fake that starts nothing."""

from __future__ import annotations

import json
import os
import signal

import pytest

import harness.gate
from harness import cli
from harness.process import Terminated, cleanup, handling_signals, shielded
from harness.suites import SuiteRun
from harness.target import Target
from harness.verdict import validate_verdict


@pytest.fixture(autouse=True)
def no_signal_escapes():
    """A signal the harness failed to catch fails the test instead of killing the test process."""

    def escaped(signum: int, frame: object) -> None:
        raise AssertionError(f"{signal.Signals(signum).name} reached the test process's own handler")

    previous = {s: signal.signal(s, escaped) for s in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, handler in previous.items():
        signal.signal(s, handler)


def send(sig: int) -> None:
    os.kill(os.getpid(), sig)


class FakeStack:
    """Starts nothing; sends the signals it is told to at start and stop, and records its stop."""

    name = "local"

    def __init__(self, at_start=(), at_stop=()) -> None:
        self.at_start, self.at_stop = at_start, at_stop
        self.stopped = 0

    def check(self) -> None:
        pass

    def start(self) -> Target:
        for sig in self.at_start:
            send(sig)
        return Target("http://127.0.0.1:9", stack="local")

    def stop(self) -> None:
        for sig in self.at_stop:
            send(sig)
        self.stopped += 1  # reached only if no signal cut the stop short


@pytest.fixture
def stack(monkeypatch):
    made: list[FakeStack] = []

    def use(**kw) -> FakeStack:
        made.append(FakeStack(**kw))
        monkeypatch.setattr(harness.gate, "choose", lambda settings: ("local", "--stack local"))
        monkeypatch.setattr(harness.gate, "make_stack", lambda settings, backend: made[-1])
        monkeypatch.setattr(harness.gate, "run_suites", lambda *a, **k: SuiteRun([], {}, a[2].reports_dir / "x.log"))
        return made[-1]

    return use


def gate(capsys, reports) -> tuple[int, str, dict]:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["gate", "--phase", "pr", "--reports-dir", str(reports)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    doc = json.loads((reports / "verdict.json").read_text())
    validate_verdict(doc)
    return int(exit_info.value.code), err, doc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_while_the_stack_starts_stops_it_and_is_inconclusive(tmp_path, capsys, stack, sig):
    fake = stack(at_start=[sig])
    code, err, doc = gate(capsys, tmp_path)
    assert code == 2 and fake.stopped == 1
    assert doc["verdict"] == "inconclusive"
    name = "Ctrl-C" if sig == signal.SIGINT else signal.Signals(sig).name
    assert any(name in n for n in doc["notes"]), doc["notes"]
    assert {g["status"] for g in doc["gates"]} == {"error"}


def test_second_and_third_signals_during_the_stop_do_not_cut_it_short(tmp_path, capsys, stack):
    fake = stack(at_start=[signal.SIGTERM], at_stop=[signal.SIGINT, signal.SIGHUP, signal.SIGTERM])
    code, _, doc = gate(capsys, tmp_path)
    assert code == 2 and fake.stopped == 1
    assert "terminated by SIGTERM" in doc["notes"]


def test_the_first_signal_during_the_stop_is_raised_after_it(tmp_path, capsys, stack):
    fake = stack(at_stop=[signal.SIGHUP])  # the suites finished: the signal lands in the stack's stop
    code, _, doc = gate(capsys, tmp_path)
    assert code == 2 and fake.stopped == 1
    assert doc["verdict"] == "inconclusive" and "terminated by SIGHUP" in doc["notes"]


def test_a_signal_right_after_the_stack_stopped_is_exit_2_not_143(tmp_path, capsys, stack, monkeypatch):
    stack()
    real = harness.gate.evaluate

    def evaluate(*a, **k):
        send(signal.SIGTERM)
        return real(*a, **k)

    monkeypatch.setattr(harness.gate, "evaluate", evaluate)
    code, err, doc = gate(capsys, tmp_path)
    assert code == 2
    assert doc["verdict"] == "inconclusive" and doc["notes"] == ["terminated by SIGTERM"]
    assert "harness: interrupted (SIGTERM); inconclusive verdict in" in err


def test_a_signal_while_the_reports_are_written_finishes_them_then_marks_them_inconclusive(
    tmp_path, capsys, stack, monkeypatch
):
    stack()
    real = harness.gate.write_reports
    calls = []

    def write_reports(doc, reports, secrets):
        calls.append(doc["verdict"])
        if len(calls) == 1:
            send(signal.SIGTERM)
        real(doc, reports, secrets)

    monkeypatch.setattr(harness.gate, "write_reports", write_reports)
    code, _, doc = gate(capsys, tmp_path)
    assert code == 2 and len(calls) == 2  # the real reports, whole; then the inconclusive ones over them
    assert doc["verdict"] == "inconclusive" and doc["notes"] == ["terminated by SIGTERM"]
    assert "inconclusive" in (tmp_path / "summary.md").read_text().lower()


def test_a_signal_before_the_stack_starts_is_inconclusive(tmp_path, capsys, stack, monkeypatch):
    stack()
    real = harness.gate.gate_policy

    def gate_policy(settings):
        send(signal.SIGHUP)
        return real(settings)

    monkeypatch.setattr(harness.gate, "gate_policy", gate_policy)
    code, _, doc = gate(capsys, tmp_path)
    assert code == 2 and doc["verdict"] == "inconclusive" and doc["notes"] == ["terminated by SIGHUP"]


def test_the_cli_gives_the_callers_handlers_back(tmp_path, capsys, stack):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    stack()
    gate(capsys, tmp_path)
    assert {s: signal.getsignal(s) for s in before} == before


def test_shielded_holds_a_signal_until_the_block_ends_and_raises_it_once():
    done = []
    with handling_signals():
        with pytest.raises(Terminated) as info:
            with shielded():
                send(signal.SIGHUP)
                send(signal.SIGTERM)
                done.append("block")
        assert info.value.signame == "SIGHUP" and done == ["block"]
        send(signal.SIGTERM)  # after the one exception, every further signal is ignored


def test_cleanup_after_an_interrupt_runs_to_its_end_whatever_arrives_meanwhile():
    steps = []

    def step() -> None:
        steps.append("stop")
        send(signal.SIGTERM)  # ignored: the first signal was raised already

    with handling_signals():
        with pytest.raises(Terminated):
            try:
                send(signal.SIGTERM)
            finally:
                cleanup(step)
    assert steps == ["stop"]


def test_a_signal_that_lands_in_a_finalizer_is_delivered_after_it_not_lost():
    import time

    class Finalized:
        def __del__(self) -> None:
            send(signal.SIGTERM)  # Python would print an exception raised here and drop it
            sum(range(1000))

    with handling_signals():
        with pytest.raises(Terminated):
            obj = Finalized()
            del obj
            time.sleep(2)  # delivered again within milliseconds


def test_an_interrupt_a_library_swallowed_during_the_start_still_stops_the_run(tmp_path, capsys, stack, monkeypatch):
    import time

    fake = stack()

    def start() -> Target:
        try:  # a library's bare except between the signal and us
            send(signal.SIGTERM)
            time.sleep(0.2)
        except BaseException:  # noqa: BLE001,S110
            pass
        return Target("http://127.0.0.1:9", stack="local")

    monkeypatch.setattr(fake, "start", start)
    ran = []
    monkeypatch.setattr(harness.gate, "run_suites", lambda *a, **k: ran.append(1))
    code, _, doc = gate(capsys, tmp_path)
    assert code == 2 and fake.stopped == 1 and ran == []  # the suites never started
    assert doc["verdict"] == "inconclusive" and "terminated by SIGTERM" in doc["notes"]


def test_an_interrupt_swallowed_after_the_verdict_still_ends_in_exit_2(tmp_path, capsys, stack, monkeypatch):
    import harness.report.markdown

    stack()

    def render_console(doc, reports=None) -> str:
        try:
            send(signal.SIGHUP)
            sum(range(10000))
        except BaseException:  # noqa: BLE001,S110
            pass
        return "summary"

    monkeypatch.setattr(harness.report.markdown, "render_console", render_console)
    code, err, doc = gate(capsys, tmp_path)
    assert code == 2 and doc["verdict"] == "inconclusive" and doc["notes"] == ["terminated by SIGHUP"]
