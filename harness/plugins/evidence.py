"""Collect one Evidence record per check into --harness-evidence FILE (xdist-safe: controller only)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness.evidence import Evidence, EvidenceFile, write_atomic
from harness.target import redact, target_from_env

MEASURE = "harness.measure"
CURL = "harness.curl"


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
    """(suite, check id): from @pytest.mark.check('suite.name'), else <test dir>.<test name>; a
    parametrized test adds its parameter id: contract.openapi[POST /chat/v2/chat]."""
    marker = item.get_closest_marker("check")
    callspec = getattr(item, "callspec", None)
    param = f"[{callspec.id}]" if callspec is not None else ""
    if marker and marker.args:
        cid = str(marker.args[0])
        return cid.split(".", 1)[0], cid + param
    suite = item.path.parent.name
    name = getattr(item, "originalname", item.name).removeprefix("test_")
    return suite, f"{suite}.{name}{param}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    suite, cid = check_id(item)
    report.harness_suite = suite  # plain attributes travel to the xdist controller
    report.harness_check = cid
    return report


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # skip: (path, lineno, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message.splitlines()[0] if crash is not None else str(longrepr).strip().splitlines()[-1]
    text = text.removeprefix("AssertionError: ").removeprefix("Failed: ")
    return " ".join(text.split())[:400]


def _shell_token(line: str) -> str:
    """Put $HARNESS_TOKEN where a redacted token stood, quoted so a shell expands it."""
    line = line.replace("'Authorization: Bearer ***'", '"Authorization: Bearer $HARNESS_TOKEN"')
    return line.replace("Bearer ***", "Bearer $HARNESS_TOKEN")


class EvidenceCollector:
    """Registered on the controller only (or the single process): turns reports into Evidence."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path
        self.records: dict[str, Evidence] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        cid = getattr(report, "harness_check", None)
        if cid is None:
            return
        rec = self.records.get(report.nodeid)
        if rec is None:
            rec = self.records[report.nodeid] = Evidence(
                suite=report.harness_suite,
                id=cid,
                outcome="passed",
                nodeid=report.nodeid,
                repro=[f"pytest {shlex.quote(report.nodeid)}"],
            )
        rec.duration_s = round(rec.duration_s + report.duration, 4)
        for key, value in report.user_properties:
            if key == MEASURE:
                rec.measurements.update(value)
            elif key == CURL:
                rec.repro[1:] = [value]
        if report.when == "call":
            if report.failed:
                rec.outcome, rec.message = "failed", _message(report)
            elif report.skipped:
                rec.outcome, rec.message = "skipped", _message(report)
        elif report.failed:  # setup or teardown broke: the check could not be judged
            rec.outcome, rec.message = "error", f"{report.when} error: {_message(report)}"
        elif report.skipped and report.when == "setup":
            rec.outcome, rec.message = "skipped", _message(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        path = Path(report.nodeid.split("::")[0])
        suite = path.parent.name if path.suffix == ".py" else path.name
        self.records[report.nodeid] = Evidence(
            suite=suite,
            id=f"{suite}.collect",
            outcome="error",
            nodeid=report.nodeid,
            message=f"collection error: {_message(report)}",
            repro=[f"pytest {shlex.quote(report.nodeid)}"],
        )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from harness.plugins.target import TARGET_KEY

        provider = self.config.stash.get(TARGET_KEY, None)
        target = (provider.target if provider else None) or target_from_env()
        secrets = target.secrets() if target else []
        records = list(self.records.values())
        again = f" --target {target.base_url}" if target and not target.ephemeral else ""
        for rec in records:
            if again and rec.repro:
                rec.repro[0] += again
            rec.message = redact(rec.message, secrets)
            rec.repro = [_shell_token(redact(r, secrets)) for r in rec.repro]
        suites = sorted({r.suite for r in records})
        write_atomic(self.path, EvidenceFile(records, int(exitstatus), suites).to_json())
