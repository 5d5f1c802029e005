"""Live progress: plain timed lines with a heartbeat in CI, nothing with --quiet, stack steps, suite events, and
the JSON-lines tail that follows another process's file."""

from __future__ import annotations

import io
import json
import re
import time

import pytest

from harness import progress
from harness.progress import JsonlTail, mode_for, step, suite_event

LINE = re.compile(r"^\[\s*(\d+\.\d)s\] (.*)$")


def lines(buf: io.StringIO) -> list[tuple[float, str]]:
    out = []
    for raw in buf.getvalue().splitlines():
        m = LINE.match(raw)
        assert m, raw
        out.append((float(m.group(1)), m.group(2)))
    return out


def test_mode_ci_or_no_tty_is_plain_quiet_is_off(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("CI", raising=False)
    assert mode_for(False, Tty()) == "rich"
    assert mode_for(False, io.StringIO()) == "plain"
    assert mode_for(True, Tty()) == "off"
    monkeypatch.setenv("CI", "true")
    assert mode_for(False, Tty()) == "plain"


def test_plain_heartbeat_says_what_runs_while_nothing_else_is_said():
    buf = io.StringIO()
    with progress.running("plain", buf) as p:
        p.heartbeat_s = 0.6
        with step("PostgreSQL"):
            time.sleep(1.6)
    got = lines(buf)
    texts = [t for _, t in got]
    assert any(t.startswith("stack: PostgreSQL ... (") for t in texts), texts
    assert re.match(r"stack: PostgreSQL ready \(1\.\d s\)", texts[-1]), texts
    stamps = [s for s, _ in got]
    assert all(b - a <= 1.2 for a, b in zip([0.0, *stamps], stamps, strict=False)), stamps
    assert progress.current() is None  # removed at the end


def test_a_failed_step_says_so_and_the_error_goes_on():
    buf = io.StringIO()
    with progress.running("plain", buf), pytest.raises(RuntimeError), step("app"):
        raise RuntimeError("boom")
    assert re.search(r"stack: app failed after 0\.\d s", buf.getvalue())


def test_quiet_and_no_progress_installed_print_nothing():
    buf = io.StringIO()
    with progress.running("off", buf):
        with step("Redis"):
            pass
        progress.say("x")
    assert buf.getvalue() == ""
    with step("Redis"):  # nothing installed: a library call, silent
        pass


def test_suite_events_read_as_lines():
    buf = io.StringIO()
    with progress.running("plain", buf):
        suite_event({"event": "collected", "suites": {"smoke": 6, "load": 3}})
        suite_event({"event": "started", "suite": "smoke", "checks": 6})
        suite_event({"event": "check", "suite": "smoke", "done": 1, "checks": 6})
        suite_event({"event": "finished", "suite": "smoke", "seconds": 0.4, "counts": {"passed": 5, "failed": 1}})
    texts = [t for _, t in lines(buf)]
    assert texts == [
        "suites: smoke 6 checks, load 3 checks",
        "suite smoke: started (6 checks)",
        "suite smoke: finished in 0.4 s: 5 passed, 1 failed",
    ]


def test_tail_reads_complete_lines_only_and_survives_bad_ones(tmp_path):
    path = tmp_path / "p.jsonl"
    seen = []
    tail = JsonlTail(path, seen.append)
    tail.pump()  # no file yet
    path.write_text('{"a": 1}\nnot json\n{"b": 2')
    tail.pump()
    assert seen == [{"a": 1}]
    with path.open("a") as fh:
        fh.write("}\n")
    tail.pump()
    assert seen == [{"a": 1}, {"b": 2}]
    path.write_text(json.dumps({"c": 3}) + "\n")  # started again (shorter)
    tail.pump()
    assert seen[-1] == {"c": 3}
