"""The `harness` command: parse, build the objects, call the library, map the result to an exit code.

Exit codes: 0 go, 1 no-go, 2 inconclusive (or a report/target problem), 64 bad usage or configuration.
SIGINT, SIGTERM and SIGHUP at any moment of a gate end in exit 2 and an inconclusive verdict: run as a
program, the harness catches them from its first import on (harness.process), and a second one never cuts
the cleanup short.
"""

# ruff: noqa: E402 - the signal handlers go in before the slow imports
from __future__ import annotations

import os
import signal
import sys

from harness.process import (
    acknowledge,
    arm_signals,
    catch_signals,
    hold_signals,
    interrupt_name,
    release_signals,
    shielded,
    swallowed,
)

if __name__ == "__main__" or os.path.basename(sys.argv[0]) == "harness":
    catch_signals(armed=False)  # a signal during the imports is recorded, and raised once main() runs

from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from harness.config import load_settings
from harness.errors import ConfigError, ExitCode, HarnessError, ReportError

# what an unexpected exception needs to leave an inconclusive verdict behind (set once settings are known)
_CONTEXT: dict[str, Any] = {}


VERDICT_COMMANDS = ("gate", "load", "selftest", "checklist")  # the only commands that write a verdict


def _begin(args: list[str]) -> None:
    """Before anything can fail: the reports dir is claimed (or refused, before anything is touched) and no
    verdict of an earlier run survives this one (see gate.begin_run)."""
    from harness.config import early_reports_dir
    from harness.gate import begin_run

    given = _reports_flags(args)
    if len(given) > 1:
        raise ConfigError(f"--reports-dir is given {len(given)} times ({', '.join(map(repr, given))}); give it once")
    if given and not given[0].strip():
        raise ConfigError("--reports-dir is empty; give a directory (default: reports)")
    _CONTEXT["early_reports_dir"] = early_reports_dir(given[0] if given else None)
    begin_run(_CONTEXT["early_reports_dir"])


def _settings(suite_flags: dict[str, dict[str, Any]] | None = None, **flags: Any) -> Any:
    """Settings from file, environment and flags; suite_flags travel to the suites as data (never os.environ).
    Once the reports dir is known, signals are armed: one that arrived earlier is raised now, so that even
    it leaves an inconclusive verdict."""
    with shielded():
        settings = _load(suite_flags, flags)
    arm_signals()
    return settings


def _load(suite_flags: dict[str, dict[str, Any]] | None, flags: dict[str, Any]) -> Any:
    if "allow_unsafe" in flags:  # an absent flag leaves HARNESS_ALLOW_UNSAFE to decide
        flags["allow_unsafe"] = True if flags["allow_unsafe"] else None
    if flags.get("service_file") is not None:  # a path from a flag resolves against the cwd
        flags["service_file"] = Path(flags["service_file"]).resolve()
    settings = load_settings(flags)
    from harness.envnames import unknown_warnings

    for line in unknown_warnings(os.environ):
        _echo(line, err=True)
    if suite_flags:
        given = {
            suite: {
                k: str(v.resolve()) if isinstance(v, Path) else v
                for k, v in values.items()
                if v is not None and v is not False
            }
            for suite, values in suite_flags.items()
        }  # paths from flags resolve against the cwd
        settings = replace(settings, suite_flags={s: v for s, v in given.items() if v})
    stack = "external" if settings.target else settings.stack if settings.stack != "auto" else "local"
    _CONTEXT.update(
        reports_dir=settings.reports_dir, phase=settings.phase, target={"base_url": settings.target, "stack": stack}
    )
    return settings


def _echo(text: str, err: bool = False) -> None:
    """Print, but never fail on a closed terminal (SIGHUP): the verdict file is what counts then."""
    try:
        click.echo(text, err=err)
    except OSError:
        pass


QUIET = click.option(
    "--quiet", "-q", is_flag=True, default=False, help="No live progress on stderr (the verdict summary stays)."
)


def _progress(quiet: bool) -> Any:
    """Live progress on stderr: rich on a terminal, plain timed lines in CI logs (CI set, or no terminal)."""
    from harness.progress import mode_for, running

    return running(mode_for(quiet))


def _common(fn: Any) -> Any:
    options = [
        click.option(
            "--stack",
            type=click.Choice(["auto", "local", "containers", "external"]),
            default=None,
            help="How the target comes to exist [env HARNESS_STACK; default auto].",
        ),
        click.option(
            "--target",
            metavar="URL",
            default=None,
            help="Test this deployment instead of starting one [env HARNESS_TARGET]; token from HARNESS_TOKEN.",
        ),
        click.option(
            "--baseline-target",
            metavar="URL",
            default=None,
            help="With --target: the deployment's baseline (blue/green), which --drive-load drives too "
            "[env HARNESS_BASELINE_TARGET].",
        ),
        click.option(
            "--app-image",
            default=None,
            metavar="IMAGE",
            help="containers: test this image instead of building deploy/Dockerfile [env HARNESS_APP_IMAGE].",
        ),
        click.option(
            "--baseline-image",
            default=None,
            metavar="IMAGE",
            help="containers: also start this image beside the candidate (blue/green) [env HARNESS_BASELINE_IMAGE].",
        ),
        click.option(
            "--app-port",
            type=int,
            default=None,
            help="Port for the local stack's app [env HARNESS_APP_PORT; default: a free one].",
        ),
        click.option(
            "--service",
            "service_file",
            type=click.Path(path_type=Path, dir_okay=False),
            default=None,
            help="The service profile (service.toml) of the service under test [env HARNESS_SERVICE_FILE; "
            "default: [tool.harness.service], else the reference app's].",
        ),
        click.option(
            "--allow-unsafe",
            is_flag=True,
            default=False,
            help="On a target the harness did not start, also call unsafe operations (POST/PUT/PATCH/DELETE) "
            "[env HARNESS_ALLOW_UNSAFE]. Default: GET, HEAD and OPTIONS only.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ai-orchestra-harness")
def cli() -> None:
    """AI Orchestra rollout validation harness: one go/no-go verdict per rollout phase."""


@cli.command()
@click.option("--phase", default=None, help="Rollout phase to gate [env HARNESS_PHASE; default internal].")
@click.option(
    "--suites",
    default=None,
    metavar="A,B",
    help="Run only these suites; the verdict records the narrowing [env HARNESS_SUITES].",
)
@_common
@click.option(
    "--reports-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where verdict.json and the reports go [env HARNESS_REPORTS_DIR; default reports].",
)
@click.option(
    "--policy-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Team policy merged onto the guide's defaults [env HARNESS_POLICY_FILE].",
)
@click.option(
    "-n",
    "--workers",
    type=int,
    default=None,
    help="pytest-xdist workers for the suites [env HARNESS_WORKERS; default 0].",
)
@click.option(
    "--zap-report",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="security: also judge this zap-baseline JSON report (zap-baseline.py -J) [env HARNESS_ZAP_REPORT].",
)
@click.option(
    "--trivy-cache-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="security: trivy cache holding a vulnerability DB, for the vulnerability scan [env HARNESS_TRIVY_CACHE_DIR].",
)
@QUIET
@click.option(
    "--prometheus",
    "prometheus_url",
    metavar="URL",
    default=None,
    help="live: the deployment's Prometheus HTTP API [env HARNESS_PROMETHEUS_URL; local stack: its own].",
)
@click.option(
    "--drive-load",
    is_flag=True,
    default=False,
    help="live: also drive Locust users at a target the harness did not start (remote-load guard applies).",
)
@click.option(
    "--watch",
    metavar="DURATION",
    default=None,
    help="live: evaluate every interval for this long (e.g. 24h); no-go after failure_limit + 1 breaches in a row.",
)
@click.option(
    "--baseline",
    is_flag=True,
    default=None,
    help="local or containers: also start a baseline app beside the candidate, for the canary judge "
    "[env HARNESS_BASELINE].",
)
def gate(**flags: Any) -> None:
    """Run the phase's suites and write reports/verdict.json; exit 0 go, 1 no-go, 2 inconclusive."""
    from harness import registry
    from harness.gate import run_gate
    from harness.live.watch import console_tail
    from harness.report.markdown import render_console

    suite_flags = registry.claim_flags(flags)  # --zap-report, --prometheus, ...: to the suite that declares them
    quiet = flags.pop("quiet")
    _CONTEXT["verdict"] = True  # an interrupt outside the run leaves an inconclusive verdict
    settings = _settings(suite_flags=suite_flags, **flags)
    tail = console_tail(settings, lambda line: _echo(f"harness: {line}", err=True))  # --watch: each round
    try:
        with _progress(quiet):
            run = run_gate(settings)
    finally:
        if tail is not None:
            tail.stop()
    for note in run.doc["notes"]:
        if note.startswith(("stack:", "interrupted", "terminated", "auto:")):
            _echo(f"harness: {note}", err=True)
    _echo(render_console(run.doc, run.reports_dir))
    sys.exit(int(run.decision.exit_code))


@cli.command()
@_common
@click.option(
    "--attestations",
    type=click.Path(path_type=Path),
    default=None,
    help="The attestations file (who/when/expiry) [env HARNESS_CHECKLIST_ATTESTATIONS].",
)
@click.option("--reports-dir", type=click.Path(path_type=Path), default=None, help="Where the reports go.")
@click.option("--policy-file", type=click.Path(path_type=Path), default=None, help="Team policy override.")
def checklist(**flags: Any) -> None:
    """The guide's pre-deployment checklist: each item's state and evidence; exit 0 all hold, 1 not."""
    from harness.checklist.options import SPEC as CHECKLIST
    from harness.checklist.report import render
    from harness.gate import run_gate

    attestations = {"attestations": flags.pop("attestations")}
    for key in ("zap_report", "trivy_cache_dir"):
        flags.pop(key, None)
    _CONTEXT["verdict"] = True
    settings = _settings(suite_flags={CHECKLIST.suite: attestations}, **{**flags, "phase": "checklist"})
    run = run_gate(settings)
    _echo(render(run.reports_dir))
    _echo(f"verdict: {run.doc['verdict']}  ({run.reports_dir / 'verdict.json'})")
    sys.exit(int(run.decision.exit_code))


@cli.command()
@_common
@click.option(
    "--with-prometheus",
    is_flag=True,
    default=False,
    help="local or containers: also start a Prometheus scraping the app(s) every second, with the guide's alert rules.",
)
@click.option(
    "--baseline",
    is_flag=True,
    default=None,
    help="local or containers: also start a baseline app beside the candidate (its faults: ORCHESTRA_BASELINE_FAULTS).",
)
def up(**flags: Any) -> None:
    """Start a stack, print where it answers, keep it running until Ctrl-C, SIGTERM or SIGHUP."""
    from dataclasses import replace

    from harness.stack import choose, make_stack, running

    with_prometheus = flags.pop("with_prometheus")
    settings = _settings(**flags)
    if with_prometheus:
        settings = replace(settings, with_prometheus=True)
    backend, why = choose(settings)
    if why.startswith("auto:"):
        click.echo(f"harness: {why}", err=True)
    stack = make_stack(settings, backend)
    with running(stack) as target:
        try:  # once the stack is up, a signal is the way to stop it: exit 0
            _echo(f"stack:    {target.stack}")
            _echo(f"base_url: {target.base_url}")
            _echo(f"ws_url:   {target.ws_url}")
            _echo(f"metrics:  {target.metrics_url}")
            if target.ca_file:
                _echo(f"ca_file:  {target.ca_file}")
            if target.ephemeral:
                _echo(f"database: {target.database_url}")
                _echo(f"redis:    {target.redis_url}")
                baseline = getattr(stack, "baseline", None)
                if baseline is not None:
                    _echo(f"baseline: {baseline.base_url}")
                elif target.baseline_url:
                    _echo(f"baseline: {target.baseline_url}")
                if target.prometheus_url:
                    _echo(f"prometheus: {target.prometheus_url}")
                admin = f" HARNESS_ADMIN_TOKEN={target.admin_token}" if target.admin_token else ""
                _echo(f"export HARNESS_TARGET={target.base_url} HARNESS_TOKEN={target.token}{admin}")
            _echo("running; Ctrl-C stops everything", err=True)
            while True:
                signal.pause()
        except KeyboardInterrupt:  # SIGINT, SIGTERM or SIGHUP
            acknowledge()
    _echo("stopped", err=True)


FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for scripts (one JSON document on stdout).",
)


@cli.command()
@click.option(
    "--policy-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Team policy merged onto the guide's defaults [env HARNESS_POLICY_FILE].",
)
@FORMAT
@click.argument("phase", required=False)
def phases(phase: str | None, policy_file: Path | None, fmt: str) -> None:
    """List the rollout phases and their gates (or one phase's)."""
    import json

    from harness.gate import gate_policy

    settings = _settings(policy_file=policy_file)
    policy = gate_policy(settings)[0]
    chosen = [policy.phase(phase)] if phase else list(policy.phases.values())
    if fmt == "json":
        click.echo(json.dumps({"policy": policy.source, "phases": [phase_json(p) for p in chosen]}, indent=2))
        return
    for p in chosen:
        kind = "" if p.rollout else "  [not a rollout phase]"
        click.echo(f"{p.name}  ({p.traffic}) {p.description}{kind}")
        for g in p.gates:
            click.echo(f"    {g.id:<32} {g.threshold_text():<12} {g.about}")


def phase_json(p: Any) -> dict[str, Any]:
    """One phase for `harness phases --format json`."""
    gates = [
        {
            "id": g.id,
            "suite": g.suite,
            "kind": g.kind,
            "check": g.check,
            "metric": g.metric,
            "op": g.op,
            "threshold": g.threshold,
            "threshold_text": g.threshold_text(),
            "about": g.about,
        }
        for g in p.gates
    ]
    return {
        "name": p.name,
        "traffic": p.traffic,
        "description": p.description,
        "rollout": p.rollout,
        "suites": list(p.suites),
        "gates": gates,
    }


@cli.command("service")
@click.option(
    "--service",
    "service_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The profile to check [env HARNESS_SERVICE_FILE; default: the project's, else the reference app's].",
)
@click.option("--phase", default=None, help="The phase whose gates to forecast [env HARNESS_PHASE].")
@click.option("--target", metavar="URL", default=None, help="Forecast for this deployment [env HARNESS_TARGET].")
@click.option(
    "--allow-unsafe", is_flag=True, default=None, help="Forecast with unsafe operations allowed on the target."
)
@click.option("--baseline", is_flag=True, default=None, help="Forecast with a baseline for the canary judge.")
@click.option(
    "--policy-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A team policy over the guide's [env HARNESS_POLICY_FILE].",
)
def service_command(service_file: Path | None, **flags: Any) -> None:
    """Validate a service profile and show what the harness will do with it, and which gates of the phase
    will be not run or N/A on the target, and why, before anything starts (exit 0, or 64 with one line)."""
    from harness.forecast import describe_gaps, forecast, machine_gaps
    from harness.gate import gate_policy
    from harness.service import profile_for, scope_for
    from harness.service.describe import describe_profile

    settings = _settings(service_file=Path(service_file).resolve() if service_file else None, **flags)
    profile = profile_for(settings)
    click.echo(describe_profile(profile))
    _, phase, _ = gate_policy(settings)
    settings = replace(settings, dropped_operations=phase.dropped_operations)
    external = bool(settings.target) or settings.stack == "external"
    baseline = settings.baseline or bool(settings.baseline_image) or bool(_baseline_selector(settings))
    https = str(settings.target or "").startswith("https://") or (not external and settings.app_tls != "off")
    gaps = forecast(
        profile,
        phase,
        scope_for(settings, not external),
        baseline=baseline,
        https=https,
        missing=machine_gaps(settings),
    )
    where = f"the target {settings.target}" if external else "a stack the harness starts"
    click.echo(describe_gaps(gaps, phase, where))


def _baseline_selector(settings: Any) -> str | None:
    from harness.live.options import live_options

    try:
        return live_options(settings).baseline_selector
    except ConfigError:
        return None


@cli.command()
@click.argument("verdict_file", type=click.Path(path_type=Path), default=Path("reports/verdict.json"))
@FORMAT
@click.option(
    "--html",
    "html",
    is_flag=True,
    default=False,
    help="Also (re)write report.html beside the verdict, from it and the reports next to it.",
)
@click.option(
    "--history-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="--html: the load history for the nightly trend [default: the load options' history_file].",
)
def report(verdict_file: Path, fmt: str, html: bool, history_file: Path | None) -> None:
    """Validate a verdict.json (v1, v1.1 or v1.2) against its schema and print its summary; exit with its code."""
    import json

    import jsonschema

    from harness.gate import unfinished_run

    if verdict_file.is_dir():
        raise ConfigError(f"{verdict_file} is a directory; give the verdict file (e.g. {verdict_file}/verdict.json)")
    from harness.jsonfile import load_json
    from harness.report.markdown import render_console
    from harness.verdict import EXIT_CODES, validate_verdict

    unfinished = unfinished_run(verdict_file.parent)
    if unfinished is not None:
        raise ReportError(f"{verdict_file}: {unfinished}; run `harness gate` again")
    hint = "give a verdict.json that `harness gate` wrote"
    doc = load_json(verdict_file, "verdict", ReportError, missing="does not exist; run `harness gate` first", hint=hint)
    try:
        validate_verdict(doc)
    except jsonschema.ValidationError as exc:
        raise ReportError(f"{verdict_file} is not a valid verdict (v1, v1.1 or v1.2): {exc.message}") from None
    if html:
        written = _write_html(doc, verdict_file.parent, history_file)
        _echo(f"harness: wrote {written}", err=True)
    click.echo(json.dumps(doc, indent=2) if fmt == "json" else render_console(doc))
    sys.exit(int(EXIT_CODES[doc["verdict"]]))


def _write_html(doc: dict[str, Any], reports: Path, history_file: Path | None) -> Path:
    """report.html for `harness report --html`: from the (already redacted) verdict and the files beside it."""
    from harness.gate import history_file as settings_history
    from harness.redact import run_secrets
    from harness.report.html import write_html

    if history_file is None:
        settings = _settings()
        history_file = settings_history(settings)
    try:
        return write_html(doc, reports, run_secrets(), history_file.resolve() if history_file else None)
    except OSError as exc:
        raise ReportError(
            f"cannot write {reports / 'report.html'} ({exc.strerror or exc}); make the directory writable"
        ) from None


@cli.command("load")
@click.option(
    "--profile",
    default=None,
    help="Load profile: smoke, internal, nightly or one from config [env HARNESS_LOAD_PROFILE].",
)
@click.option(
    "--phase",
    default="load",
    show_default=True,
    help="Phase whose gates judge the run: `load` (the internal phase's load gates), `nightly`, or one of yours.",
)
@_common
@click.option("--users", type=int, default=None, help="Override the profile's user count.")
@click.option("--duration", default=None, metavar="30s|5m", help="Override the profile's run time.")
@click.option(
    "--workers",
    "locust_workers",
    type=int,
    default=None,
    help="Distributed: a Locust master plus N worker processes [env HARNESS_LOAD_WORKERS].",
)
@click.option("--processes", type=int, default=None, help="Locust --processes (-1: one per core; 1: one process).")
@click.option(
    "--master-bind",
    default=None,
    metavar="HOST[:PORT]",
    help="Distributed over hosts: Locust's master listens here (port 5557 by default) for workers started "
    "elsewhere with `harness load-worker` [env HARNESS_LOAD_MASTER_BIND].",
)
@click.option(
    "--expect-workers",
    type=int,
    default=None,
    help="With --master-bind: how many workers on other hosts the run waits for [env HARNESS_LOAD_EXPECT_WORKERS].",
)
@click.option(
    "--app-workers", type=int, default=None, help="uvicorn workers of the local app [env HARNESS_APP_WORKERS]."
)
@click.option(
    "--allow-remote-load",
    is_flag=True,
    default=False,
    help="Allow load on a target that is not loopback or ephemeral [env HARNESS_ALLOW_REMOTE_LOAD].",
)
@click.option("--history", is_flag=True, default=False, help="Append this run to the load history (nightly).")
@click.option(
    "--history-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The history file (JSON lines).",
)
@click.option("--reports-dir", type=click.Path(path_type=Path), default=None, help="Where the reports go.")
@click.option("--policy-file", type=click.Path(path_type=Path), default=None, help="Team policy override.")
@QUIET
def load_command(**flags: Any) -> None:
    """Run the load suite (Locust, headless, bounded) and judge it; exit 0 go, 1 no-go, 2 inconclusive."""
    from harness.load.profiles import SPEC as LOAD
    from harness.load_gate import run_load
    from harness.report.markdown import render_console

    names = {"duration": "duration_s", "locust_workers": "workers"}  # flag -> [tool.harness.load] option
    load_only = ("profile", "users", "duration", "locust_workers", "processes", "allow_remote_load", "history")
    load_only += ("master_bind", "expect_workers")
    load = {names.get(k, k): flags.pop(k) for k in (*load_only, "history_file")}
    quiet = flags.pop("quiet")
    _CONTEXT["verdict"] = True
    settings = _settings(suite_flags={LOAD.suite: load}, **flags)
    with _progress(quiet):
        outcome = run_load(settings, lambda line: _echo(line, err=True))
    for note in outcome.run.doc["notes"] + outcome.notes:
        if note.startswith(("stack:", "auto:", "interrupted", "terminated", "history:", "Locust report")):
            _echo(f"harness: {note}", err=True)
    _echo(render_console(outcome.run.doc, outcome.run.reports_dir))
    sys.exit(int(outcome.run.decision.exit_code))


@cli.command("load-worker")
@click.option(
    "--master",
    "master",
    required=True,
    metavar="HOST[:PORT]",
    help="Where the master of `harness load --master-bind` listens (port 5557 by default).",
)
def load_worker(master: str) -> None:
    """A Locust worker for a load run on another host: becomes `python -m locust -f <the load locustfile> --worker`.

    It receives the profile and the traffic from the master; a token comes from this host's environment
    (HARNESS_LOAD_TOKEN), never over the wire. It quits when the run ends, or when its master is silent
    for HARNESS_LOAD_MASTER_TIMEOUT_S (default 20 s)."""
    from harness.load.profiles import load_options_for, parse_master_bind

    settings = _settings()
    host, port = parse_master_bind(master, "--master")
    locustfile = load_options_for(settings).locustfile
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker", "--loglevel", "WARNING"]
    argv += ["--master-host", host, "--master-port", str(port)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # the worker is this process: signals, pid and exit status are Locust's


@cli.command()
@click.option("--phase", default=None, help="Phase whose gates must each trip [env HARNESS_PHASE; default pr].")
@click.option(
    "--policy-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Team policy merged onto the guide's defaults: prove that its gates still trip [env HARNESS_POLICY_FILE].",
)
@click.option("--only", default=None, metavar="F1,F2", help="Run only these faults of the matrix (and the clean run).")
@click.option("--reports-dir", type=click.Path(path_type=Path), default=None, help="Where selftest.json/.md go.")
@click.option(
    "--stack",
    type=click.Choice(["local", "containers"]),
    default=None,
    help="Where the reference service runs [env HARNESS_STACK; default local].",
)
def selftest(**flags: Any) -> None:
    """Negative controls: the phase on the clean reference service, then once per fault; exit 0 only when
    the clean run is go and every fault is caught by its expected gate (1 otherwise)."""
    from harness.selftest import run_selftest

    flags["phase"] = flags["phase"] or "pr"
    only = tuple(f.strip() for f in (flags.pop("only") or "").split(",") if f.strip())
    settings = _settings(**flags)
    result = run_selftest(settings, lambda line: click.echo(line, err=True), only=only)
    click.echo((settings.reports_dir / "selftest.md").read_text())
    sys.exit(int(result.exit_code))


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (not loopback: needs HARNESS_SERVE_TOKEN).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option(
    "--target",
    metavar="URL",
    default=None,
    help="Gate this deployment when a request names no target [env HARNESS_TARGET; default: a stack per run].",
)
@click.option(
    "--policy-file",
    type=click.Path(path_type=Path),
    default=None,
    help="Team policy merged onto the guide's defaults [env HARNESS_POLICY_FILE].",
)
@click.option(
    "--service",
    "service_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The service profile (service.toml) every gate run uses [env HARNESS_SERVICE_FILE; "
    "default: [tool.harness.service], else the reference app's]. Read and checked before the server listens.",
)
@click.option(
    "--baseline",
    is_flag=True,
    default=None,
    help="Runs on a stack of their own also start a baseline app, for the canary judge [env HARNESS_BASELINE]; "
    "on a target the baseline is baseline_selector in its Prometheus.",
)
@click.option(
    "--prometheus",
    "prometheus_url",
    metavar="URL",
    default=None,
    help="Runs on a target read the live gates from this Prometheus [env HARNESS_PROMETHEUS_URL].",
)
@click.option(
    "--baseline-target",
    metavar="URL",
    default=None,
    help="With --target: the deployment's baseline (blue/green), handed to the runs on that target "
    "[env HARNESS_BASELINE_TARGET].",
)
def serve(host: str, port: int, **flags: Any) -> None:
    """The gate as an HTTP service for Argo Rollouts, Flagger and CI (token: HARNESS_SERVE_TOKEN); runs until
    Ctrl-C, SIGTERM or SIGHUP, then stops every gate run it started."""
    from harness import registry
    from harness.serve.server import serve as run_server

    suite_flags = registry.claim_flags(flags)  # --prometheus: the live suite's, handed to every run on a target
    settings = _settings(suite_flags=suite_flags, **flags)
    try:
        run_server(settings, host, port, lambda line: _echo(line, err=True))
    except KeyboardInterrupt:  # SIGINT, SIGTERM or SIGHUP: the runs are stopped already
        acknowledge()
    _echo("harness serve: stopped", err=True)


def _end() -> None:
    from harness.gate import end_run

    for key in ("early_reports_dir", "reports_dir"):
        if _CONTEXT.get(key) is not None:
            end_run(_CONTEXT[key])


def _reports_flags(args: list[str]) -> list[str]:
    """Every --reports-dir as given on the command line, read before click parses anything (which may fail)."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == "--reports-dir" and i + 1 < len(args):
            out.append(args[i + 1])
        elif arg.startswith("--reports-dir="):
            out.append(arg.split("=", 1)[1])
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point: every error a user can cause ends in one line and a documented exit code; a signal at
    any moment ends in exit 2 (with an inconclusive verdict for `gate` and `load`), never in a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    ours = False
    try:
        ours = catch_signals(armed=False)  # armed once the command knows its reports dir (_settings); from
        # then on, the first SIGINT/SIGTERM/SIGHUP is an exception
        _CONTEXT["claimed"] = bool(args) and args[0] in VERDICT_COMMANDS
        code = _early(args) if _CONTEXT["claimed"] else None  # first of all: no earlier verdict survives
        code = _run(args) if code is None else code
        if (lost := swallowed()) is not None:  # its exception was swallowed on the way: still exit 2
            code = _interrupted(lost)
        hold_signals()  # the exit code is decided: a signal now changes nothing
    except KeyboardInterrupt as exc:  # the one signal landed in _run's own error handling
        hold_signals()
        code = _interrupted(exc)
    if ours:  # called in-process (the unit tests): give the caller its handlers back
        release_signals()
    _flush_quietly()
    sys.exit(code)


def _early(args: list[str]) -> int | None:
    """Claim the reports dir of a verdict command before click parses anything: a refused dir is one line and
    64 with nothing touched. None when the run may go on."""
    try:
        _begin(args)
    except HarnessError as exc:
        _echo(f"harness: error: {exc}", err=True)
        return int(exc.exit_code)
    return None


def _run(argv: list[str]) -> int:
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        _end()
        _echo(f"harness: error: {exc.format_message()}", err=True)
        return int(ExitCode.USAGE)
    except click.Abort as exc:  # click's name for a KeyboardInterrupt inside a command
        return _interrupted(exc.__context__ if isinstance(exc.__context__, KeyboardInterrupt) else exc)
    except HarnessError as exc:
        _end()  # a run that stopped on bad usage wrote no verdict, and its reports dir holds none
        _echo(f"harness: error: {exc}", err=True)
        return int(exc.exit_code)
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except Exception:  # noqa: BLE001 - a bug of ours must read as inconclusive (2), never as no-go (1)
        from harness.gate import internal_error, internal_error_verdict

        # only a verdict command touches its reports dir; `phases`, `service`, `serve` leave it as it is
        reports = _CONTEXT.get("reports_dir") if _CONTEXT.get("claimed") else None
        line = internal_error(reports)
        if (
            reports is not None
            and _CONTEXT.get("verdict")
            and internal_error_verdict(reports, _CONTEXT.get("phase", ""), line)
        ):
            line += f"; inconclusive verdict in {reports}/verdict.json"
        _echo(f"harness: error: {line}", err=True)
        return int(ExitCode.INCONCLUSIVE)


def _interrupted(exc: BaseException) -> int:
    """A signal outside the stack's lifetime (the gate handles those inside it): exit 2, and for the
    commands that write a verdict, an inconclusive one over whatever was there."""
    acknowledge()
    line = f"harness: interrupted ({interrupt_name(exc)})"
    reports = _CONTEXT.get("reports_dir")
    if _CONTEXT.get("verdict") and reports is not None:
        from harness.gate import interrupted_verdict

        if interrupted_verdict(reports, _CONTEXT.get("phase") or "", exc, _CONTEXT.get("target")):
            line += f"; inconclusive verdict in {reports}/verdict.json"
    _echo(line, err=True)
    return int(ExitCode.INCONCLUSIVE)


def _flush_quietly() -> None:
    """A closed terminal (SIGHUP) must not turn the exit code into Python's 120 at shutdown."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
            except (OSError, ValueError):
                pass


if __name__ == "__main__":
    main()
