"""`harness selftest`: negative controls. The phase runs once on the clean reference service and once per
fault of the matrix; every fault must be caught by the gate it is expected to trip, and the clean run
must be `go`. A team runs it to prove that its own policy overrides still trip.

One stack serves every app fault, switched at run time through the app's admin endpoint (it exists only
when the harness starts the app with a secret). A fault of the stack itself (an https stack with an
expired certificate) gets a stack of its own; a fault of the build's files (a bad manifest) is a suite
option. For each fault only the suites of its expected gates run again; the phase's verdict for the
fault is evaluated over that evidence plus the clean run's evidence of the other suites.

A phase with live gates reads the stack's own Prometheus through a fault proxy (harness.stack.prometheus_faults),
so a Prometheus that answers empty, NaN or nothing at all is switched at run time like an app fault; a phase
with canary gates gets a baseline app beside the candidate (app faults switch the candidate only). A fault
that cannot run yet (`needs`) is listed, not run; the selftest is ok when the clean run is `go`, every fault
that ran was caught and every gate of the phase was caught by at least one of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness import registry
from harness.atomic import write_atomic
from harness.config import Settings
from harness.errors import ConfigError, ExitCode, HarnessError, StackError, did_you_mean
from harness.evidence import Evidence
from harness.fault_matrix import FaultCase, load_matrix
from harness.gate import end_run, gate_policy, prepare_reports
from harness.policy import Phase, default_policy
from harness.redact import redact_data, redact_text, run_secrets
from harness.stack import make_stack, running
from harness.stack.admin import set_faults
from harness.stack.prometheus_faults import PrometheusFaultProxy
from harness.suites import run_suites
from harness.target import Target
from harness.verdict import evaluate

REPORT, TABLE = "selftest.json", "selftest.md"
MAX_REASONS, REASON_CHARS = 20, 2000  # each trial's verdict reasons in selftest.json, bounded
NOT_RUN = "not run"  # a fault that cannot trip yet (its `needs`)


@dataclass(slots=True)
class Trial:
    """One run of the phase: the clean build or one fault."""

    fault: str
    expected_gates: list[str]
    verdict: str
    failing_gates: list[str]
    caught: bool
    suites: list[str]
    duration_s: float
    kind: str = "clean"
    about: str = ""
    why: str = ""  # what went wrong when a fault was not caught
    gates: dict[str, str] = field(default_factory=dict)  # every gate's status
    expect: str = "fail"  # what the expected gates must say (missing/error: a gate that cannot fail, absent evidence)
    reasons: list[str] = field(default_factory=list)  # the trial's verdict reasons, as the gate would print them


@dataclass(slots=True)
class Selftest:
    """The whole matrix for one phase."""

    phase: str
    policy: str
    clean: Trial
    faults: list[Trial]
    duration_s: float
    only: tuple[str, ...] = ()

    @property
    def unproven(self) -> list[str]:
        """The phase's gates (as the faults expect them) that no fault that ran was caught on. A gate some fault
        expects to fail is proven only by such a fault (absent evidence shows it blocks `go`, not that it fails)."""
        expected = dict.fromkeys(g for t in self.faults for g in t.expected_gates)
        can_fail = {g for t in self.faults if t.expect == "fail" for g in t.expected_gates}
        caught = {
            g for t in self.faults if t.caught for g in t.expected_gates if t.expect == "fail" or g not in can_fail
        }
        return [g for g in expected if g not in caught]

    @property
    def ok(self) -> bool:
        ran = [t for t in self.faults if t.verdict != NOT_RUN]
        return self.clean.verdict == "go" and all(t.caught for t in ran) and not self.unproven

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.GO if self.ok else ExitCode.NO_GO

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "harness.selftest/v1",
            "phase": self.phase,
            "only": list(self.only),
            "policy": self.policy,
            "ok": self.ok,
            "duration_s": round(self.duration_s, 2),
            "clean": asdict(self.clean),
            "faults": [asdict(t) for t in self.faults],
            "uncaught": [t.fault for t in self.faults if not t.caught and t.verdict != NOT_RUN],
            "not_run": [t.fault for t in self.faults if t.verdict == NOT_RUN],
            "unproven_gates": self.unproven,
        }


def select(matrix: tuple[FaultCase, ...], phase: Phase) -> list[tuple[FaultCase, list[str]]]:
    """The faults that prove this phase's gates, each with the gates it must trip here. A gate of the
    guide's phase that a team policy dropped stays expected: that fault then shows as not caught."""
    shipped = default_policy().phases.get(phase.name)
    ids = {g.id for g in phase.gates} | {g.id for g in (shipped.gates if shipped else ())}
    out = []
    for fault in matrix:
        expected = [g for g in fault.gates if g in ids]
        if expected:
            out.append((fault, expected))
    return out


def _suites_of(phase: Phase, gate_ids: list[str], matrix_gates: list[str]) -> list[str]:
    """Suites to run again for a fault: those of its expected gates (by the phase, else by the id's prefix)."""
    by_id = {g.id: g.suite for g in phase.gates}
    return list(dict.fromkeys(by_id.get(g, g.split(".", 1)[0]) for g in (gate_ids or matrix_gates)))


class Runner:
    """Runs the phase's suites against a target and judges them with the phase's gates."""

    def __init__(self, settings: Settings, phase: Phase, known: set[str], out: Path) -> None:
        self.settings, self.phase, self.known, self.out = settings, phase, known, out
        self.clean_records: list[Evidence] = []

    def trial(
        self,
        name: str,
        target: Target,
        suites: list[str],
        expected: list[str],
        settings: Settings | None = None,
        expect: str = "fail",
    ) -> Trial:
        t0 = time.monotonic()
        wanted = [s for s in suites if s in self.known]
        run_settings = replace(settings or self.settings, reports_dir=self.out / name, suites=None)
        run = run_suites(target, wanted, run_settings, reruns=self.phase.reruns)
        records = run.records
        if name != "clean":
            records = [r for r in self.clean_records if r.suite not in wanted] + records
        else:
            self.clean_records = run.records
        decision = evaluate(self.phase, records, available=self.known, suite_errors=run.suite_errors)
        failing = [g.id for g in decision.gates if g.status == "fail"]
        statuses = {g.id: g.status for g in decision.gates}
        # caught: the phase is kept from go, and every expected gate says so itself (fail; or, for a gate
        # that cannot fail by design such as load.run, the `expect`ed missing/error)
        blocked = decision.verdict == "no-go" if expect == "fail" else decision.verdict != "go"
        caught = blocked and bool(expected) and all(statuses.get(g) == expect for g in expected)
        why = "" if caught or name == "clean" else self._why(expected, statuses, decision.verdict, expect)
        return Trial(
            name,
            expected,
            decision.verdict,
            failing,
            caught,
            wanted,
            round(time.monotonic() - t0, 2),
            gates=statuses,
            why=why,
            reasons=[r[:REASON_CHARS] for r in decision.reasons[:MAX_REASONS]],
        )

    def _why(self, expected: list[str], statuses: dict[str, str], verdict: str, expect: str) -> str:
        parts = []
        for gid in expected:
            status = statuses.get(gid)
            if status is None:
                parts.append(f"gate {gid} is not in phase {self.phase.name} (dropped by the policy?)")
            elif status != expect:
                parts.append(f"gate {gid} was {status}, not {expect}")
        return "; ".join(parts) or f"the verdict was {verdict}, not no-go"


@contextmanager
def _stack(settings: Settings) -> Iterator[Target]:
    with running(make_stack(settings)) as target:
        yield target


@contextmanager
def _prometheus_proxy(target: Target) -> Iterator[PrometheusFaultProxy | None]:
    """The fault proxy in front of the stack's own Prometheus (None when the stack started none)."""
    if not target.prometheus_url:
        yield None
        return
    with PrometheusFaultProxy(target.prometheus_url) as proxy:
        yield proxy


def run_selftest(settings: Settings, echo: Callable[[str], None], only: tuple[str, ...] = ()) -> Selftest:
    """The clean run and every fault of the matrix for settings.phase (or the `only` ones); writes
    selftest.json and selftest.md beside the verdict."""
    if settings.target:
        raise ConfigError(
            "selftest runs the reference service it starts itself (faults are switched inside it); drop --target"
        )
    policy, phase, known = gate_policy(settings)
    matrix = load_matrix()
    names = [f.name for f in matrix]
    for name in only:
        if name not in names:
            raise ConfigError(f"--only: unknown fault {name!r}{did_you_mean(name, names)}; faults: {', '.join(names)}")
    chosen = [(f, gates) for f, gates in select(matrix, phase) if not only or f.name in only]
    reports = settings.reports_dir
    out = reports / "selftest"
    prepare_reports(reports)  # claimed (or refused) before anything: the earlier selftest's files go
    # one app process: a fault switched at run time must reach every request
    settings = replace(
        settings,
        app_workers=1,
        stack="local" if settings.stack == "auto" else settings.stack,
        with_prometheus=registry.any_needs(phase.suites, "prometheus"),  # the live gates read the stack's own
        baseline=settings.baseline or any(g.id.startswith("canary.") for g in phase.gates),  # the judge's baseline
    )
    runner = Runner(settings, phase, known, out)
    t0 = time.monotonic()
    echo(f"selftest: phase {phase.name}: the clean run, then {_count(len(chosen), 'fault')} ({policy.source})")
    trials: list[Trial] = []
    secrets = run_secrets()
    with _stack(settings) as target, _prometheus_proxy(target) as proxy:
        secrets = run_secrets(target)
        if proxy is not None:  # every run reads Prometheus through the proxy: the clean run proves it transparent
            target = replace(target, prometheus_url=proxy.url)
        clean = runner.trial("clean", target, list(phase.suites), [])
        echo(redact_text(_line(clean), secrets))
        for fault, expected in chosen:
            suites = _suites_of(phase, expected, list(fault.gates))
            trial = _fault_trial(runner, settings, target, fault, suites, expected, proxy)
            trials.append(trial)
            echo(redact_text(_line(trial), secrets))
    result = Selftest(phase.name, policy.source, clean, trials, time.monotonic() - t0, only)
    write_atomic(reports / REPORT, json.dumps(redact_data(result.to_dict(), secrets), indent=2) + "\n")
    write_atomic(reports / TABLE, render_table(result, secrets))
    end_run(reports)
    return result


def _fault_trial(
    runner: Runner,
    settings: Settings,
    target: Target,
    fault: FaultCase,
    suites: list[str],
    expected: list[str],
    proxy: PrometheusFaultProxy | None = None,
) -> Trial:
    if not fault.runnable:
        trial = Trial(
            fault.name, expected, NOT_RUN, [], False, suites, 0.0, why=f"cannot trip yet: needs {fault.needs}"
        )
        trial.kind, trial.about, trial.expect = fault.kind, fault.about, fault.expect
        return trial
    try:
        if fault.kind == "app":
            set_faults(target, fault.app or "")
            try:
                trial = runner.trial(fault.name, target, suites, expected, expect=fault.expect)
            finally:
                set_faults(target, "")
        elif fault.kind == "options":
            trial = runner.trial(fault.name, target, suites, expected, _with_options(settings, fault), fault.expect)
        elif fault.kind == "prometheus":
            if proxy is None:
                raise StackError("a Prometheus fault needs the stack's own Prometheus (a phase with live gates)")
            proxy.set_fault(fault.prometheus or "")
            try:
                trial = runner.trial(fault.name, target, suites, expected, _with_options(settings, fault), fault.expect)
            finally:
                proxy.set_fault("")
        else:  # a stack of its own (e.g. https with an expired certificate)
            own = replace(settings, **fault.stack)
            with _stack(own) as other:
                trial = runner.trial(fault.name, other, suites, expected, own, expect=fault.expect)
    except (StackError, HarnessError) as exc:
        trial = Trial(fault.name, expected, "inconclusive", [], False, suites, 0.0, why=f"could not run: {exc}")
    trial.kind, trial.about, trial.expect = fault.kind, fault.about, fault.expect
    return trial


def _with_options(settings: Settings, fault: FaultCase) -> Settings:
    """The settings with the case's suite options as flags (they win over the file and the environment)."""
    flags = {
        s: {**settings.suite_flags.get(s, {}), **_rooted(o, settings.project_root)} for s, o in fault.options.items()
    }
    return replace(settings, suite_flags={**settings.suite_flags, **flags})


def _rooted(options: dict[str, Any], root: Path) -> dict[str, Any]:
    """The matrix names files relative to the project root; the suites read them from any cwd."""

    def fix(value: Any) -> Any:
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, str) and not Path(value).is_absolute() and (root / value).exists():
            return str(root / value)
        return value

    return {k: fix(v) for k, v in options.items()}


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _line(t: Trial) -> str:
    if t.fault == "clean":
        mark = "ok" if t.verdict == "go" else f"NOT GO ({', '.join(g for g, s in t.gates.items() if s != 'pass')})"
        return f"  {'clean':<22} -> {t.verdict:<12} {mark}  ({t.duration_s:.1f} s)"
    mark = "caught" if t.caught else f"not run: {t.why}" if t.verdict == NOT_RUN else f"NOT CAUGHT: {t.why}"
    return f"  {t.fault:<22} -> {t.verdict:<12} {', '.join(t.expected_gates)}: {mark}  ({t.duration_s:.1f} s)"


def render_table(result: Selftest, secrets: list[str] | None = None) -> str:
    """Markdown: fault -> expected gate -> verdict -> caught (the trials' reasons with the secrets redacted)."""
    lines = [
        f"# Selftest: phase `{result.phase}` — {'every fault caught' if result.ok else 'NOT PROVEN'}",
        "",
        f"- policy: {result.policy}; {_count(len(result.faults), 'fault')}; {result.duration_s:.0f} s",
        f"- clean run: **{result.clean.verdict}**",
        *([f"- gates no fault was caught on: {', '.join(result.unproven)}"] if result.unproven else []),
        "",
        "| fault | kind | expected gates | verdict | failing gates | caught |",
        "|---|---|---|---|---|---|",
    ]
    for t in result.faults:
        why = redact_data(t.why, secrets or [])
        caught = "yes" if t.caught else f"not run: {why}" if t.verdict == NOT_RUN else f"**NO**: {why}"
        lines.append(
            f"| `{t.fault}` | {t.kind} | {', '.join(t.expected_gates)} | {t.verdict} | "
            f"{', '.join(t.failing_gates) or '-'} | {caught} |"
        )
    return "\n".join(lines) + "\n"
