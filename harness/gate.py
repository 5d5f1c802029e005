"""`harness gate`: config -> stack -> suites -> evidence -> verdict -> reports, in that order only."""

from __future__ import annotations

import json
import os
import time
import traceback
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import registry
from harness.config import Settings
from harness.credentials import credentials_problem
from harness.errors import ConfigError, HarnessError, StackError, did_you_mean
from harness.evidence import Evidence
from harness.policy import Phase, Policy, load_policy
from harness.process import acknowledge, interrupt_name, raise_swallowed, shielded
from harness.progress import say, status
from harness.redact import redact_data, redact_text, run_secrets
from harness.report.html import write_html
from harness.report.json_report import write_verdict
from harness.report.junit import write_gates_junit
from harness.report.markdown import write_markdown
from harness.reports_dir import claim, finish
from harness.service import profile_for, scope_for
from harness.stack import Terminated, choose, make_stack, running
from harness.suites import available_suites, run_suites
from harness.verdict import Decision, evaluate, undecided_document, verdict_document

ERROR_LOG = "harness-error.log"
IN_PROGRESS = ".gate-in-progress"  # a run that started and has not written its verdict yet


@dataclass(slots=True)
class GateRun:
    """A finished gate: the verdict document and where its reports are."""

    doc: dict[str, Any]
    decision: Decision
    reports_dir: Path


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def gate_policy(settings: Settings) -> tuple[Policy, Phase, set[str]]:
    """The policy (validated against the suites of this build), the phase, and the suites present."""
    known = available_suites(settings.suites_dir)
    policy = load_policy(settings.policy_file, suites=known)
    return policy, policy.phase(settings.phase), known


def require_gates(phase: Phase, settings: Settings) -> None:
    """A phase with no gate cannot be shown to pass: say so (64) before anything starts, not after a stack."""
    if not phase.gates:
        where = f"the policy file {settings.policy_file}" if settings.policy_file else "the policy"
        raise ConfigError(
            f"phase {phase.name!r} has no gates in {where} (its drop list removes them all): nothing could be "
            "shown to pass; keep at least one gate of the phase, or gate another phase"
        )


def _selected(settings: Settings, phase_suites: tuple[str, ...], known: set[str]) -> tuple[str, ...] | None:
    if settings.suites is None:
        return None
    choices = sorted(known | set(phase_suites))
    for name in settings.suites:
        if name not in choices:
            raise ConfigError(
                f"--suites: unknown suite {name!r}{did_you_mean(name, choices)}; suites: {', '.join(choices)}"
            )
    return settings.suites


def begin_run(reports: Path) -> None:
    """The first thing a run does, before anything it can fail on: claim the reports dir (refused in one line,
    64, before anything is touched, when it is not the harness's to use: see harness.reports_dir), remove what
    the last run wrote there (its verdict first of all) and mark it as taken by a run that has not finished, so
    a run that stops early never leaves an old `go`. A dir that does not exist yet is left to prepare_reports()."""
    if claim(reports, create=False):
        try:
            _mark_in_progress(reports)
        except OSError as exc:
            raise ConfigError(
                f"reports dir {reports} cannot be used ({exc.strerror or exc}); set --reports-dir to a writable "
                "directory"
            ) from None


def _mark_in_progress(reports: Path) -> None:
    (reports / IN_PROGRESS).write_text(json.dumps({"pid": os.getpid(), "started_at": _now()}) + "\n")


def end_run(reports: Path) -> None:
    """The verdict is written (or there is none to write): the reports dir no longer holds a run in progress,
    and its manifest lists what this run wrote (the next run removes exactly those)."""
    try:
        (reports / IN_PROGRESS).unlink(missing_ok=True)
    except OSError:
        pass
    finish(reports)


def unfinished_run(reports: Path) -> str | None:
    """Why the verdict in reports/ must not be read (a run in progress or one that never finished), or None."""
    try:
        raw = json.loads((reports / IN_PROGRESS).read_text())
        pid, started = int(raw["pid"]), str(raw["started_at"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return f"{reports / IN_PROGRESS} says a gate run did not finish"
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    except PermissionError:
        alive = True
    if alive and pid != os.getpid():
        return f"a gate run (pid {pid}, started {started}) is still writing {reports}; wait for it to finish"
    return f"the last gate run (pid {pid}, started {started}) did not finish, so {reports} holds no verdict of it"


def prepare_reports(reports: Path) -> None:
    """Claim the reports dir (creating it) and remove what an earlier run wrote there: a crash must never leave
    an old `go`, and no log or report of an earlier run may pass for this one's. Nothing else is removed."""
    claim(reports)
    try:
        _mark_in_progress(reports)
    except OSError as exc:
        raise ConfigError(
            f"reports dir {reports} cannot be used ({exc.strerror or exc}); set --reports-dir to a writable directory"
        ) from None


def check_suite_options(settings: Settings, wanted: list[str]) -> None:
    """Validate the options of every suite this run will start, here, before anything starts (a bad value is
    one line and exit 64, not a check that fails later in the child); refuse a suite's flags when that suite
    is not part of the run (they would be ignored silently). Each suite's loader is the one the registry names."""
    from harness.service import profile_for

    profile_for(settings)  # a bad service profile is one line now, not a check that fails later
    for suite, flags in settings.suite_flags.items():
        if flags and suite not in wanted:
            names = ", ".join(f"--{k.replace('_', '-')}" for k in flags)
            raise ConfigError(
                f"{names}: option(s) of the {suite} suite, which this run does not include "
                f"(suites: {', '.join(wanted) or 'none'}); drop the flag or run the {suite} suite"
            )
    destructive = [registry.get(s) for s in settings.suites or () if registry.get(s).destructive]
    if destructive and (settings.target or settings.stack == "external"):
        names = ",".join(sorted(s.id for s in destructive))
        what = "; ".join(s.changes for s in destructive)
        raise ConfigError(
            f"--suites {names}: {what}, so it runs only on a stack the harness starts; drop --target (in a phase "
            "run on a target its gates are not run)"
        )
    for suite in map(registry.get, wanted):
        if suite.options is not None:
            options = suite.call("options", settings)
            check = getattr(options, "check_before_start", None)  # what the suite can say before anything starts
            if callable(check):
                check(settings)


def run_gate(settings: Settings) -> GateRun:
    """Run the phase's suites against a fresh or given target and write the verdict. Never raises for
    a failed stack or suite: those become `error`/`missing` gates. Raises HarnessError only for bad usage;
    a bug of the harness itself ends as an `inconclusive` verdict that says so (traceback in harness-error.log)."""
    policy, phase, known = gate_policy(settings)
    require_gates(phase, settings)
    selected = _selected(settings, phase.suites, known)
    wanted = [s for s in (selected or phase.suites) if s in known]
    check_suite_options(settings, wanted)

    if phase.dropped_operations:  # the suites leave them out, and do not count them as not run
        settings = replace(settings, dropped_operations=phase.dropped_operations)
    if registry.any_needs(wanted, "prometheus"):  # a stack the harness starts brings its own for the live gates
        settings = replace(settings, with_prometheus=True)
    reports = settings.reports_dir
    prepare_reports(reports)
    backend, why = choose(settings)
    stack = make_stack(settings, backend)
    stack.check()  # bad usage (missing binaries, busy port) ends here, before anything starts
    say(f"gate: phase {phase.name}, suites {', '.join(wanted) or 'none'}, stack {stack.name}")
    started, t0 = _now(), time.monotonic()
    records: list[Evidence] = []
    suite_errors: dict[str, str] = {}
    notes: list[str] = [why] if why.startswith("auto:") else []
    target_info: dict[str, Any] = {"base_url": settings.target, "stack": stack.name, "version": None}
    secrets = run_secrets()  # the user-given ones; the target's join them once it exists
    try:
        with running(stack) as target:
            notes += getattr(stack, "notes", [])  # e.g. which Redis server binary the local stack chose
            say(f"stack: {stack.name} up at {target.base_url} ({time.monotonic() - t0:.1f} s)")
            status("suites: starting the pytest session (collecting the checks)")
            target_info = target.public()
            secrets = run_secrets(target)
            refused = (
                None
                if target.ephemeral
                else credentials_problem(
                    target, settings.external_timeout_s, profile_for(settings), scope_for(settings, False)
                )
            )
            secrets = run_secrets(target)  # with the token the credentials check's login returned, if any
            if refused is not None:  # our configuration is wrong, not the build: inconclusive, nothing judged
                suite_errors = dict.fromkeys(wanted, refused)
                notes.append(f"credentials: {refused}")
            elif wanted:
                run = run_suites(target, wanted, settings, reruns=phase.reruns)
                records, suite_errors = run.records, run.suite_errors
                notes += suite_notes(reports)
        raise_swallowed()
    except StackError as exc:
        suite_errors = dict.fromkeys(wanted, f"the {stack.name} stack did not come up: {exc}")
        notes.append(f"stack: {exc}")
    except Terminated as exc:  # SIGTERM or SIGHUP; a further signal is ignored until the verdict is written
        acknowledge()
        suite_errors = dict.fromkeys(wanted, f"the run was terminated ({exc.signame}) before it finished")
        notes.append(f"terminated by {exc.signame}")
        notes += suite_notes(reports)  # what a suite saw so far (a watch's rounds)
    except KeyboardInterrupt:
        acknowledge()
        suite_errors = dict.fromkeys(wanted, "the run was interrupted (Ctrl-C) before the suites finished")
        notes.append("interrupted by Ctrl-C")
        notes += suite_notes(reports)  # what a suite saw so far (a watch's rounds)
    except HarnessError:
        raise
    except Exception:  # noqa: BLE001 - a bug of ours: say so in the verdict, never exit 1 (no-go)
        line = internal_error(reports, secrets)
        suite_errors = dict.fromkeys(wanted, line)
        notes.append(line)
    if selected is not None:
        notes.append(f"narrowed run: --suites {','.join(selected)}")
    notes += exclusion_notes(records)
    if phase.dropped:
        notes.append(
            f"dropped by the team policy ({settings.policy_file}): gate(s) {', '.join(phase.dropped)} of phase "
            f"{phase.name!r} are not part of this verdict"
        )

    decision = evaluate(phase, records, selected=selected, available=known, suite_errors=suite_errors)
    doc = verdict_document(
        decision,
        phase=phase.name,
        target=target_info,
        started_at=started,
        finished_at=_now(),
        duration_s=time.monotonic() - t0,
        policy_source=policy.source,
        notes=notes,
    )
    with shielded():  # a signal now is raised once the reports are whole (the CLI then marks them inconclusive)
        doc = write_reports(doc, reports, secrets, history_file(settings))  # redacted: what the console shows
        end_run(reports)
    return GateRun(doc, decision, reports)


def suite_notes(reports: Path) -> list[str]:
    """What a suite asked the verdict's notes to say (reports/<suite>/notes.json: {"notes": [...]})."""
    out: list[str] = []
    for path in sorted(reports.glob("*/notes.json")):
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        notes = raw.get("notes") if isinstance(raw, dict) else None
        out += [str(n) for n in notes or [] if isinstance(n, str)]
    return out


def exclusion_notes(records: list[Evidence]) -> list[str]:
    """One note per reason the suites left operations out (the profile's exclusions, unsafe methods on a
    target the harness did not start), naming them: the verdict says what it did not look at."""
    by_reason: dict[str, list[str]] = {}
    for r in records:
        text = r.message.removeprefix("not applicable: ").removeprefix("not run: ")
        if r.outcome in ("not_applicable", "not_run") and text.startswith("excluded: "):
            label = r.id.partition("[")[2].rstrip("]") or r.id
            by_reason.setdefault(text.removeprefix("excluded: "), []).append(label)
    return [f"excluded {len(ops)} operation(s): {', '.join(ops)}: {why}" for why, ops in by_reason.items()]


def history_file(settings: Settings) -> Path | None:
    """The load history the report's nightly trend reads (None when the load options cannot say)."""
    try:
        from harness.load.profiles import load_options_for

        return load_options_for(settings).history_file
    except HarnessError:
        return None


def write_reports(
    doc: dict[str, Any], reports: Path, secrets: list[str], history: Path | None = None
) -> dict[str, Any]:
    """Write the verdict's reports, each from the document with the secrets redacted by structure; return
    that redacted document. report.html is built from that redacted document and the redacted files the
    suites wrote into reports/ (it never sees raw data)."""
    write_verdict(doc, reports / "verdict.json", secrets)
    write_markdown(doc, reports / "summary.md", secrets)
    write_gates_junit(doc, reports / "gates.xml", secrets)
    redacted = redact_data(doc, secrets)
    write_html(redacted, reports, secrets, history)
    write_step_summary(redacted)
    return redacted


def write_step_summary(doc: dict[str, Any]) -> None:
    """On GitHub Actions (GITHUB_STEP_SUMMARY names a file): append the Markdown summary to the job's page.
    Best effort: a summary file that cannot be written never changes the verdict."""
    from harness.report.markdown import render_markdown

    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a") as fh:
            fh.write(render_markdown(doc) + "\n")
    except OSError:
        pass


def internal_error(reports: Path | None, secrets: list[str] | None = None) -> str:
    """Log the current exception's traceback to reports/harness-error.log (redacted); return the one line
    to show."""
    import sys

    exc = sys.exc_info()[1]
    secrets = secrets if secrets is not None else run_secrets()
    what = redact_text(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "), secrets)
    where = "stderr"
    text = redact_text(traceback.format_exc(), secrets)
    if reports is not None:
        try:
            reports.mkdir(parents=True, exist_ok=True)
            (reports / ERROR_LOG).write_text(text)
            where = str(reports / ERROR_LOG)
        except OSError:
            reports = None
    if reports is None:  # a command without a reports dir of its own: never into someone's reports/
        import tempfile

        try:
            fd, name = tempfile.mkstemp(prefix="harness-error-", suffix=".log")
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            where = name
        except OSError:
            pass
    return f"the harness itself failed ({what}); this is a bug of the harness, not a finding (traceback: {where})"


def internal_error_verdict(
    reports: Path,
    phase: str,
    line: str,
    target: dict[str, Any] | None = None,
    note: str = "harness error: no gate was evaluated",
) -> bool:
    """Best effort: leave an `inconclusive` verdict saying the harness failed. False if it could not."""
    now = _now()
    target = target or {"base_url": None, "stack": "external", "version": None}
    doc = undecided_document(phase or "unknown", line, note, now, target)
    try:
        with shielded():
            write_reports(doc, reports, run_secrets())
    except Exception:  # noqa: BLE001 - the reports dir may be what is broken
        invalidate(reports)
        return False
    end_run(reports)
    return True


def invalidate(reports: Path) -> None:
    """Best effort, for a run that could not write its verdict: the previous one must not be read as this
    run's. Removed; if the dir refuses that, emptied (an empty file is no verdict)."""
    path = reports / "verdict.json"
    try:
        path.unlink(missing_ok=True)
        return
    except OSError:
        pass
    try:
        with open(path, "w"):
            pass
    except OSError:
        pass


def interrupted_verdict(reports: Path, phase: str, exc: BaseException, target: dict[str, Any] | None = None) -> bool:
    """Best effort, for a signal that landed outside the stack's lifetime (before the stack started, or
    after the verdict was decided): an `inconclusive` verdict saying so, over whatever was written. False
    if it could not be written."""
    what = interrupt_name(exc)
    verb = "terminated" if isinstance(exc, Terminated) else "interrupted"
    line = f"the run was {verb} ({what}) before it finished; no gate is judged"
    return internal_error_verdict(reports, phase, line, target, note=f"{verb} by {what}")
