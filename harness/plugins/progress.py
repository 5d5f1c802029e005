"""Each suite started and finished, with its counts, as JSON lines in the file HARNESS_PROGRESS_FILE names (the
gate shows them live: harness/progress.py). Controller only under xdist. Suite names and numbers only: no check
ids, messages or anything a target said, so the file needs no redaction."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.progress import SUITES_FILE_ENV


def _suite(nodeid: str) -> str:
    """tests/<suite>/test_x.py::t -> <suite>."""
    parts = nodeid.split("::", 1)[0].split("/")
    return parts[-2] if len(parts) >= 2 else parts[0]


def _packaged() -> dict[str, Path]:
    """{suite id: folder} of the registered suites in a package of their own (harness/registry.py)."""
    from harness import registry

    try:
        found = [s for s in registry.suites().values() if s.tests is not None]
    except Exception:  # noqa: BLE001 - progress never breaks a run (the gate says what is broken)
        return {}
    dirs = {s.id: s.tests_dir(Path()) for s in found}
    return {sid: d.resolve() for sid, d in dirs.items() if d is not None}


class SuiteProgress:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.total: dict[str, int] = {}
        self.done: Counter[str] = Counter()
        self.counts: dict[str, Counter[str]] = {}
        self.started: dict[str, float] = {}
        self.finished: set[str] = set()
        self.by_node: dict[str, str] = {}  # nodeid -> suite, where its folder does not say it

    def _emit(self, **record: object) -> None:
        try:
            with self.path.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError:
            pass  # progress never breaks a run

    def _suite(self, nodeid: str) -> str:
        return self.by_node.get(nodeid) or _suite(nodeid)

    def _collected(self, nodeids: list[str]) -> None:
        if self.total:
            return
        self.total = dict(Counter(self._suite(n) for n in nodeids))
        self._emit(event="collected", suites=self.total)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if session.items:  # with xdist the controller collects nothing: the nodes' lists come below
            packaged = _packaged()
            for item in session.items:  # a team's suite lives in its own package: named by the registry
                owner = next((sid for sid, d in packaged.items() if d in item.path.parents), None)
                if owner is not None:
                    self.by_node[item.nodeid] = owner
            self._collected([i.nodeid for i in session.items])

    def pytest_xdist_node_collection_finished(self, node: object, ids: list[str]) -> None:
        self._collected(list(ids))

    def _start(self, suite: str) -> None:
        if suite not in self.started:
            self.started[suite] = time.monotonic()
            self.counts[suite] = Counter()
            self._emit(event="started", suite=suite, checks=self.total.get(suite, 0))

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        self._start(self._suite(nodeid))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        suite = self._suite(report.nodeid)
        self._start(suite)
        outcome = None
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = "skipped" if report.skipped else "failed" if report.failed else "passed"
            if report.when == "setup" and report.failed:
                outcome = "error"
        if outcome is None:
            return
        self.counts[suite][outcome] += 1
        self.done[suite] += 1
        total = self.total.get(suite, 0)
        self._emit(event="check", suite=suite, done=self.done[suite], checks=total)
        if total and self.done[suite] >= total:
            self._finish(suite)

    def _finish(self, suite: str) -> None:
        if suite in self.finished:
            return
        self.finished.add(suite)
        seconds = round(time.monotonic() - self.started.get(suite, time.monotonic()), 1)
        self._emit(event="finished", suite=suite, seconds=seconds, counts=dict(self.counts.get(suite, {})))

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        for suite in self.started:  # a suite cut short (a crashed worker, -x) still says where it stopped
            self._finish(suite)


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(SUITES_FILE_ENV)
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(SuiteProgress(Path(path)), "harness-suite-progress")
