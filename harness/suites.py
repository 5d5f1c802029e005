"""Run the validation suites against a Target in one pytest session (a child process) -> Evidence.

The child writes its output and its JUnit file into a private staging directory; they reach reports/
only through redaction (harness/redact.py): pytest.log as a live redacted copy while the child runs,
junit.xml (redacted by XML structure) once it has exited. reports/ never holds an unredacted byte."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import registry
from harness.config import Settings
from harness.errors import ReportError
from harness.evidence import Evidence, read_evidence
from harness.home import suite_dirs
from harness.process import cleanup, shielded, spawn, stop_group
from harness.progress import SUITES_FILE_ENV, JsonlTail, current, suite_event
from harness.redact import SECRETS_FILE_ENV, LiveCopy, file_secrets, redact_file, run_secrets, write_json
from harness.stack.sweep import make_run_dir, sweep_run_dirs, tool_tmp_env
from harness.target import TARGET_ENV, Target

# pytest exit codes that mean the session itself broke (not that checks failed)
SETTINGS_FILE = "run-settings.json"
BROKEN = {2: "was interrupted", 3: "hit an internal error", 4: "was misused (bad pytest arguments)"}
MAX_RERUNS_PER_RUN = 10  # re-runs a whole session may spend (pytest-rerunfailures --max-suite-reruns): a build that
# fails everywhere is no-go after its first failures, not re-run check by check


def available_suites(suites_dir: Path) -> set[str]:
    """Validation suites present in this build: every registered suite whose test files are there (its folder in
    the suites dir, or its own package's), and any other folder of the suites dir with test files (a suite no entry
    point declares: the registry's defaults apply to it)."""
    found = {d.name for d in suite_dirs(suites_dir)}
    for suite in registry.suites().values():
        if suite.tests is None:
            continue  # a suite of the home: present when its folder is (above)
        where = suite.tests_dir(suites_dir)
        if where is not None and where.is_dir() and any(where.glob("test_*.py")):
            found.add(suite.id)
    return found


def suite_path(suite_id: str, suites_dir: Path) -> Path:
    """The folder pytest collects for a suite."""
    return registry.get(suite_id).tests_dir(suites_dir) or suites_dir / suite_id


@dataclass(slots=True)
class SuiteRun:
    """What the pytest session left behind."""

    records: list[Evidence]
    suite_errors: dict[str, str]
    log_path: Path


def run_suites(
    target: Target, suites: list[str], settings: Settings, *, timeout_s: float = 1800, reruns: int = 0
) -> SuiteRun:
    """One pytest session over the suites; its evidence file is the only thing we read back. A failing check
    runs again up to `reruns` times (the phase's policy): failed then passed is `flaky`, never `passed`."""
    reports = settings.reports_dir
    evidence_path, log_path, junit_path = reports / "evidence.json", reports / "pytest.log", reports / "junit.xml"
    settings_path = reports / SETTINGS_FILE
    secrets = run_secrets(target)
    for old in (evidence_path, log_path, junit_path):
        old.unlink(missing_ok=True)
    write_json(settings_path, json.loads(settings.to_json()), secrets)  # the run's options: one document, no token
    sweep_run_dirs()  # what a killed run left, raw output included
    with shielded():  # private (0700): the child's raw output; swept at a next start if we are killed
        stage = make_run_dir(kind="suites", mode=0o700)
    staged_log, staged_junit = stage / "pytest.log", stage / "junit.xml"
    staged_secrets = stage / "secrets"  # tokens the suites obtain (a login's): redacted here too
    argv = [
        sys.executable,
        "-m",
        "pytest",
        *(str(suite_path(s, settings.suites_dir)) for s in suites),
        "-p",
        "harness.plugins.target",
        "-p",
        "harness.plugins.evidence",
        "-p",
        "harness.plugins.deadline",
        "-p",
        "harness.plugins.progress",
        "--harness-check-timeout",
        str(settings.check_timeout_s),
        "--harness-evidence",
        str(evidence_path),
        "--harness-settings",
        str(settings_path),
        "--junitxml",
        str(staged_junit),
        "-o",
        "junit_suite_name=harness.checks",
        "-o",
        "junit_family=xunit2",
        "--rootdir",  # the suites' own tree (a checkout, or the wheel's harness/_home): its pytest settings apply
        str(settings.suites_dir.parent),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:locust",  # Locust's pytest plugin clashes with --host options; load runs Locust in its own process
        "-p",
        "no:schemathesis",  # unused plugins (the contract suite calls schemathesis' API): ~2 s of start-up
        "-p",
        "no:hypothesispytest",
        "-p",
        "no:anyio",
        "-q",
        "-rfE",
        "--continue-on-collection-errors",  # one broken module must not hide the other checks' evidence
        "-W",  # the checks' properties travel in evidence.json; JUnit xunit2 has no place for them
        "ignore:record_property is incompatible with junit_family:pytest.PytestWarning",
    ]
    if settings.workers:
        argv += ["-n", str(settings.workers)]
    if reruns:  # pytest-rerunfailures; a check that must not run twice says so with @pytest.mark.flaky(reruns=0)
        argv += ["--reruns", str(reruns), "--max-suite-reruns", str(MAX_RERUNS_PER_RUN)]
    else:
        argv += ["-p", "no:rerunfailures"]
    # The child gets the Target itself, and the settings the suites read; not how the target came to be.
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_STACK", "HARNESS_TARGET")}
    env[TARGET_ENV] = target.to_json()
    env[SECRETS_FILE_ENV] = str(staged_secrets)
    env[SUITES_FILE_ENV] = str(stage / "progress.jsonl")  # suite names and counts only (plugins/progress.py)
    env.update(tool_tmp_env(stage))  # every tool's temp files (trivy's raw scans, pytest's) inside the swept stage
    proc = None
    live = LiveCopy(staged_log, log_path, secrets, staged_secrets)
    tails = _progress_tails(stage / "progress.jsonl", suites, settings)
    try:
        with open(staged_log, "w") as log:
            try:  # its own session, dying with the gate: the suites never outlive it
                with shielded():  # a signal now must not lose the handle
                    proc = spawn(argv, log, env=env, cwd=settings.project_root)
                code = _wait(proc, timeout_s, live, tails)
            except subprocess.TimeoutExpired:
                code = None
            finally:
                if proc is not None:  # timeout, a signal, or what its own processes left: take it all down
                    started = proc
                    cleanup(lambda: stop_group(started.pid, [started], grace_s=15))
    finally:
        live.finish()
        for tail in tails:
            tail.pump()
        if staged_junit.is_file():
            redact_file(staged_junit, junit_path, secrets + file_secrets(staged_secrets))
        shutil.rmtree(stage, ignore_errors=True)
    errors: dict[str, str] = {}
    if code is None:
        errors = dict.fromkeys(suites, f"the suites did not finish within {timeout_s:g} s (log: {log_path})")
    elif code in BROKEN:
        errors = dict.fromkeys(suites, f"the pytest session {BROKEN[code]} (exit {code}; log: {log_path})")
    try:
        records = read_evidence(evidence_path).records
    except ReportError as exc:
        records = []
        errors = errors or dict.fromkeys(suites, str(exc))
    return SuiteRun(records, errors, log_path)


def _progress_tails(suites_file: Path, suites: list[str], settings: Settings) -> list[JsonlTail]:
    """What the live progress follows while the child runs: its suites' events, and the load run's numbers."""
    if current() is None:
        return []
    tails = [JsonlTail(suites_file, suite_event)]
    for suite in map(registry.get, suites):  # a suite with live numbers of its own (the load run's)
        if suite.progress is None:
            continue
        path, text = suite.call("progress", settings, settings.reports_dir / suite.folder)
        path.unlink(missing_ok=True)  # an earlier run's numbers are not this one's

        def show(line: dict, text: Callable[[dict], str] = text) -> None:
            progress = current()
            if progress is not None:
                progress.update(text(line))

        tails.append(JsonlTail(path, show))
    return tails


def _wait(proc: subprocess.Popen[bytes], timeout_s: float, live: LiveCopy, tails: list[JsonlTail] | None = None) -> int:
    """The child's exit code; meanwhile its log reaches reports/ (redacted) and the progress files are read,
    every quarter second."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return proc.wait(timeout=max(min(0.25, deadline - time.monotonic()), 0.01))
        except subprocess.TimeoutExpired:
            live.pump()
            for tail in tails or []:
                tail.pump()
            if time.monotonic() >= deadline:
                raise
