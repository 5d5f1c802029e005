"""Collect one Evidence record per check into --harness-evidence FILE (xdist-safe: controller only).

Outcomes are decided, never defaulted: a record is `error` until its call phase reports; setup and
teardown can only make it worse (a teardown error never hides an earlier failure); a check whose
xdist worker crashed is `error`. A check that failed and was re-run (pytest-rerunfailures reports the
failed attempt as `rerun`) is `flaky` when a later attempt passed (both answers in its message, never
`passed`) and `failed` when every attempt failed."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from harness.atomic import write_atomic
from harness.checks import CAVEAT, COVERAGE, CURL, MEASURE, CheckError, NotApplicable, NotRun
from harness.evidence import Evidence, EvidenceFile
from harness.http import Stalled
from harness.plugins.keys import CURRENT_TARGET
from harness.redact import MASK, redact_data, redact_text, run_secrets
from harness.target import target_from_env

MESSAGE_CHARS = 400  # an Evidence message, cut only after redaction


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness")
    group.addoption(
        "--harness-evidence", metavar="FILE", default=None, help="write one Evidence record per check to FILE (JSON)"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(id): the Evidence id a validation test reports under")
    path = config.getoption("harness_evidence")
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(EvidenceCollector(config, Path(path)), "harness-evidence-collector")


def check_id(item: pytest.Item) -> tuple[str, str]:
    """(suite, check id): from @pytest.mark.check('suite.name') (or check('id', suite='suite') for an id
    named otherwise, like the live suite's canary.score), else <test dir>.<test name>; a parametrized test
    adds its parameter id: contract.openapi[POST /chat/v2/chat]."""
    marker = item.get_closest_marker("check")
    callspec = getattr(item, "callspec", None)
    param = f"[{callspec.id}]" if callspec is not None else ""
    if marker and marker.args:
        cid = str(marker.args[0])
        return str(marker.kwargs.get("suite") or cid.split(".", 1)[0]), cid + param
    suite = item.path.parent.name
    name = getattr(item, "originalname", item.name).removeprefix("test_")
    return suite, f"{suite}.{name}{param}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    suite, cid = check_id(item)
    report.harness_suite = suite  # plain attributes travel to the xdist controller
    report.harness_check = cid
    if call.excinfo is not None and call.excinfo.errisinstance(NotApplicable):
        report.harness_not_applicable = True
    elif call.excinfo is not None and call.excinfo.errisinstance(NotRun):
        report.harness_not_run = True
    elif call.excinfo is not None and call.excinfo.errisinstance((CheckError, Stalled)):
        report.harness_check_error = True  # a target that stalled past a deadline: the check could not judge it
    return report


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # skip: (path, lineno, reason)
        text = str(longrepr[2]).removeprefix("Skipped: ")
        for cls in (NotApplicable, NotRun):
            text = text.removeprefix(f"{cls.__module__}.{cls.__name__}: ")
        return text
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message.splitlines()[0] if crash is not None else str(longrepr).strip().splitlines()[-1]
    text = text.removeprefix("AssertionError: ").removeprefix("Failed: ")
    text = re.sub(r"^harness\.http\.[\w.<>]*: ", "", text)  # a target that stalled: the reason, not the class
    return " ".join(text.split())  # cut to MESSAGE_CHARS only once redacted: a cut may not halve a secret


_QUOTED_HEADER = re.compile(r"'([A-Za-z0-9-]+: [^'*]*)" + re.escape(MASK) + "'")


def _shell_token(line: str) -> str:
    """Put $HARNESS_TOKEN where a redacted token stood, quoted so a shell expands it (any header and prefix:
    'Authorization: Token ***' -> "Authorization: Token $HARNESS_TOKEN")."""
    line = _QUOTED_HEADER.sub(lambda m: f'"{m.group(1)}$HARNESS_TOKEN"', line)
    return line.replace(f"Bearer {MASK}", "Bearer $HARNESS_TOKEN")


def _suite_of(nodeid: str) -> str:
    path = Path(nodeid.split("::")[0])
    return path.parent.name if path.suffix == ".py" else path.name


def _skip_outcome(report: pytest.TestReport) -> str:
    if getattr(report, "harness_not_applicable", False):
        return "not_applicable"
    return "not_run" if getattr(report, "harness_not_run", False) else "skipped"


class EvidenceCollector:
    """Registered on the controller only (or the single process): turns reports into Evidence."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path
        self.records: dict[str, Evidence] = {}
        self.attempts: dict[str, list[str]] = {}  # nodeid -> what each failed attempt said

    def _record(self, report: pytest.TestReport) -> Evidence | None:
        rec = self.records.get(report.nodeid)
        cid = getattr(report, "harness_check", None)
        if rec is None and cid is not None:
            rec = self.records[report.nodeid] = Evidence(
                suite=report.harness_suite, id=cid, nodeid=report.nodeid, repro=[f"pytest {shlex.quote(report.nodeid)}"]
            )
        elif rec is None and report.when not in ("setup", "call", "teardown"):
            # an xdist worker crashed before the check's first report: name it after its test
            suite = _suite_of(report.nodeid)
            name = report.nodeid.split("::")[-1]
            rec = self.records[report.nodeid] = Evidence(
                suite=suite, id=f"{suite}.{name}", nodeid=report.nodeid, repro=[f"pytest {shlex.quote(report.nodeid)}"]
            )
        return rec

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rec = self._record(report)
        if rec is None:
            return
        rec.duration_s = round(rec.duration_s + (report.duration or 0.0), 4)
        if report.outcome == "rerun":  # a failed attempt; the check runs again
            self._failed_attempt(rec, report)
            return
        for key, value in report.user_properties:
            if key == MEASURE:
                rec.measurements.update(value)
            elif key == CURL:
                rec.repro[1:] = [value]
            elif key == CAVEAT:
                rec.caveat = str(value)
        if report.when == "call":
            self._coverage(rec, report.user_properties)
            if report.passed:
                rec.outcome, rec.message = "passed", ""
            elif report.failed and getattr(report, "harness_check_error", False):
                rec.outcome, rec.message = (
                    "error",
                    _message(report).removeprefix(f"{CheckError.__module__}.CheckError: "),
                )
            elif report.failed:
                rec.outcome, rec.message = "failed", _message(report)
            elif report.skipped:
                rec.outcome, rec.message = _skip_outcome(report), _message(report)
            if rec.reruns:
                self._after_reruns(rec, report.nodeid)
        elif report.when == "setup":
            if report.failed:
                rec.outcome, rec.message = "error", f"setup error: {_message(report)}"
            elif report.skipped:
                rec.outcome, rec.message = _skip_outcome(report), _message(report)
        elif report.when == "teardown":
            if report.failed and rec.outcome != "failed":  # a teardown error never hides a failure
                rec.outcome, rec.message = "error", f"teardown error: {_message(report)}"
        elif report.failed:  # xdist: the worker crashed while running this check
            rec.outcome, rec.message = "error", f"crashed: {_message(report)}"

    def _failed_attempt(self, rec: Evidence, report: pytest.TestReport) -> None:
        attempt = int(getattr(report, "rerun", rec.reruns) or 0) + 1
        said = self.attempts.setdefault(report.nodeid, [])
        if len(said) < attempt:  # one line per attempt (a failed call and its teardown are one attempt)
            what = "setup error: " if report.when == "setup" else ""
            said.append(f"attempt {attempt} failed: {what}{_message(report)}")
        rec.reruns = max(rec.reruns, attempt)

    def _after_reruns(self, rec: Evidence, nodeid: str) -> None:
        """The last attempt decided: passed after a failure is flaky (both answers kept); failed is failed."""
        earlier = "; ".join(self.attempts.get(nodeid, []))
        last = rec.reruns + 1
        if rec.outcome == "passed":
            rec.outcome, rec.message = "flaky", f"{earlier}; attempt {last} passed (re-run)"
        elif rec.outcome == "failed":
            same = all(a.endswith(f"failed: {rec.message}") for a in self.attempts.get(nodeid, []))
            rec.message = f"{rec.message} (failed on all {last} attempts{'' if same else f': {earlier}'})"

    @staticmethod
    def _coverage(rec: Evidence, properties: list[tuple[str, Any]]) -> None:
        rec.coverage = {}
        for key, value in properties:
            if key == COVERAGE:
                for name, count in value.items():
                    rec.coverage[name] = rec.coverage.get(name, 0) + count

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        suite = _suite_of(report.nodeid)
        self.records[report.nodeid] = Evidence(
            suite=suite,
            id=f"{suite}.collect",
            outcome="error",
            nodeid=report.nodeid,
            message=f"collection error: {_message(report)}",
            repro=[f"pytest {shlex.quote(report.nodeid)}"],
        )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        current = self.config.stash.get(CURRENT_TARGET, None)
        target = (current() if current is not None else None) or target_from_env()
        secrets = run_secrets(target)  # the target's and the user-given ones (HARNESS_TOKEN, ZAP_API_KEY, ...)
        records = list(self.records.values())
        again = f" --target {target.base_url}" if target and not target.ephemeral else ""
        for rec in records:
            if again and rec.repro:
                rec.repro[0] += again
            rec.message = redact_text(rec.message, secrets)[:MESSAGE_CHARS]
            rec.repro = [_shell_token(redact_text(r, secrets)) for r in rec.repro]
        suites = sorted({r.suite for r in records})
        doc = json.loads(EvidenceFile(records, int(exitstatus), suites).to_json())
        write_atomic(self.path, json.dumps(redact_data(doc, secrets), indent=2))  # measurements, ids: every string
