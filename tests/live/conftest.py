"""Fixtures of the live suite: the options, the Prometheus client, and one look at the candidate's metrics
per session (after driving traffic on a stack the harness started, or with --drive-load)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.live.gates import read_live
from harness.live.options import HARNESS_BASELINE_SELECTOR, HARNESS_SELECTOR, LiveOptions, live_options
from harness.live.prometheus import TOKEN_ENV, Prometheus
from harness.live.traffic import drive, live_load_options
from harness.plugins.target import harness_settings, run_reports_dir

NOTES_FILE = "notes.json"  # reports/live/notes.json: what the suite wants the verdict's notes to say
WATCH_PROGRESS = "watch.jsonl"  # one line per watch round, tailed by `harness gate` for the console
SCRAPE_SETTLE_S = 2.5  # after the traffic: the last samples reach a 1 s scrape


def _reports(config: pytest.Config) -> Path:
    return run_reports_dir(config) / "live"


@pytest.fixture(scope="session")
def live_dir(pytestconfig: pytest.Config) -> Path:
    """reports/live/: the suite's notes, the driven traffic's Locust files, the canary judge's details."""
    return _reports(pytestconfig)


@pytest.fixture(scope="session")
def live_config(pytestconfig: pytest.Config) -> LiveOptions:
    try:
        return live_options(harness_settings(pytestconfig))
    except HarnessError as exc:
        pytest.fail(f"live configuration: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def prometheus(target, live_config: LiveOptions) -> Prometheus:
    url = live_config.prometheus_url or target.prometheus_url
    if not url:
        pytest.skip("no Prometheus to read: give --prometheus URL (or HARNESS_PROMETHEUS_URL, [tool.harness.live])")
    return Prometheus(url, token=os.environ.get(TOKEN_ENV) or None, timeout_s=live_config.timeout_s)


@pytest.fixture(scope="session")
def candidate_selector(target, live_config: LiveOptions) -> str:
    if live_config.candidate_selector:
        return live_config.candidate_selector
    own = target.prometheus_url and not live_config.prometheus_url
    return HARNESS_SELECTOR if own else "{}"


@pytest.fixture(scope="session")
def judge_choice(target, live_config: LiveOptions) -> tuple[str, str]:
    """The canary judge's mode for this run (fixed or sequential: `auto` resolved by
    LiveOptions.resolved_judge_mode) and why; the judge's note says both."""
    try:
        return live_config.resolved_judge_mode(driven=bool(target.ephemeral or live_config.drive_load))
    except HarnessError as exc:
        pytest.fail(f"canary judge configuration: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def judge_mode(judge_choice: tuple[str, str]) -> str:
    return judge_choice[0]


@pytest.fixture(scope="session")
def sequential_state() -> dict[str, Any]:
    """judge_mode = "sequential": the judgement (or the error) the driven traffic or the watch produced."""
    return {}


def no_go_stop(state: dict[str, Any]) -> str:
    """Why the driven traffic ended before its window: the sequential canary judge decided no-go early ("" when
    it did not). The gates that need the window's traffic are then not run, not missing: a no-go needs no more."""
    got = state.get("judgement")
    if got is None or not got.final or got.decision != "no-go" or not got.stopped_early:
        return ""
    return (
        f"the sequential canary judge decided no-go {got.decided_after_s:.0f} s into the "
        f"{got.window[1] - got.window[0]:.0f} s window and the traffic stopped there (a no-go needs no more)"
    )


@pytest.fixture(scope="session")
def traffic_stopped(sequential_state, live_traffic) -> str:
    """no_go_stop() of this session (after the traffic ran)."""
    return no_go_stop(sequential_state)


@pytest.fixture(scope="session")
def live_traffic(
    target, live_config: LiveOptions, pytestconfig: pytest.Config, sequential_state, request
) -> dict[str, Any]:
    """Drive the live profile when the harness started the stack (or --drive-load); observe only otherwise.
    With judge_mode = "sequential" and a baseline, the canary judge looks every step while the traffic runs
    and the traffic ends when it decides."""
    out = _reports(pytestconfig)
    out.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    result: dict[str, Any] = {"driven": False}
    if target.ephemeral or live_config.drive_load:
        try:
            options = live_load_options(harness_settings(pytestconfig))
        except HarnessError as exc:
            pytest.fail(f"live traffic configuration: {exc}", pytrace=False)
        if live_config.watch_s:  # the traffic runs for the whole watch, in the background
            return _background(target, options, live_config, out, notes)
        if request.getfixturevalue("judge_mode") == "sequential" and request.getfixturevalue("baseline_selector"):
            traffic = _drive_judging(target, options, live_config, out, sequential_state, request)
        else:
            traffic = drive(target, options, out / "load")
        if traffic.errors:
            notes.append("live: the harness's traffic did not run cleanly: " + "; ".join(traffic.errors))
        if traffic.seconds:
            notes.append(traffic.note())
            if not no_go_stop(sequential_state):  # after an early no-go no gate waits for the last scrape
                time.sleep(SCRAPE_SETTLE_S)
            result = {"driven": True, "seconds": traffic.seconds, "started": traffic.started, "ended": traffic.ended}
    else:
        notes.append("live: observe only (the traffic is the deployment's own users; --drive-load adds Locust users)")
    (out / NOTES_FILE).write_text(json.dumps({"notes": notes}, indent=2))
    return result


def _drive_judging(target: Any, options: Any, live_config: LiveOptions, out: Path, state: dict, request) -> Any:
    """The traffic in a thread while the sequential judge looks every step; a decision ends the traffic."""
    import threading

    from harness.live.prometheus import PrometheusError
    from harness.live.sequential import live_sequential_options, run_sequential

    stop = threading.Event()
    done: list[Any] = []
    thread = threading.Thread(
        target=lambda: done.append(drive(target, options, out / "load", stop)), daemon=True, name="live-traffic"
    )
    started = time.time()
    thread.start()
    try:
        opts = live_sequential_options(live_config, driven=True)
        prom = request.getfixturevalue("prometheus")
        cand, base = request.getfixturevalue("candidate_selector"), request.getfixturevalue("baseline_selector")
        state["judgement"] = run_sequential(
            prom, cand, base, started, started + options.profile.duration_s, opts, stop=lambda: not thread.is_alive()
        )
    except (HarnessError, PrometheusError) as exc:
        state["error"] = str(exc)
    finally:
        stop.set()
        thread.join(timeout=60)
    return done[0] if done else drive_failed(started)


def drive_failed(started: float) -> Any:
    from harness.live.traffic import Traffic

    return Traffic(started=started, ended=time.time(), errors=["the traffic thread did not finish"])


def _background(target: Any, options: Any, opts: LiveOptions, out: Path, notes: list[str]) -> dict[str, Any]:
    """--watch on a stack the harness drives: Locust for the watch's duration (plus a warm-up) in a thread."""
    import threading
    from dataclasses import replace

    warmup = min(opts.interval_s, 15.0)
    long = replace(options, profile=replace(options.profile, duration_s=opts.watch_s + warmup + 5))
    thread = threading.Thread(target=drive, args=(target, long, out / "load"), daemon=True, name="live-traffic")
    started = time.time()
    thread.start()
    notes.append(
        f"live: the harness drove the traffic for the watch (Locust profile {long.profile.name}, "
        f"{long.profile.duration_s:.0f} s, in the background)"
    )
    (out / NOTES_FILE).write_text(json.dumps({"notes": notes}, indent=2))
    time.sleep(warmup)
    return {"driven": True, "seconds": warmup, "started": started, "ended": time.time(), "background": True}


@pytest.fixture(scope="session")
def live_readings(
    prometheus: Prometheus,
    candidate_selector: str,
    live_config: LiveOptions,
    live_traffic,
    live_dir,
    pytestconfig,
    sequential_state,
    request,
):
    """One look at every live measurement (a driven run's window is the traffic's own span), or with --watch
    one look every interval for the watch's duration, decided by the consecutive-breach rule."""
    window = live_config.window_s
    if live_traffic.get("driven") and not live_traffic.get("background"):
        window = min(window, live_traffic["seconds"] + SCRAPE_SETTLE_S)
    if not live_config.watch_s:
        return read_live(prometheus, candidate_selector, window, live_config.min_requests)
    canary = None
    if request.getfixturevalue("judge_mode") == "sequential" and request.getfixturevalue("baseline_selector"):
        canary = _sequential_rounds(live_config, live_traffic, sequential_state, request)
    return _watch(prometheus, candidate_selector, live_config, live_dir, harness_settings(pytestconfig), canary)


def _sequential_rounds(live_config: LiveOptions, live_traffic: dict, state: dict, request) -> Any:
    """--watch with the sequential judge: each round updates it over the watch so far; a significant result
    is a breach that ends the watch at once (its error rate holds however many rounds look)."""
    from harness.live.prometheus import PrometheusError
    from harness.live.sequential import SCRAPE_LAG_S, live_sequential_options, sequential_judge

    try:
        opts = live_sequential_options(live_config, driven=bool(live_traffic.get("driven")))
    except HarnessError as exc:
        state["error"] = str(exc)
        return None
    prom = request.getfixturevalue("prometheus")
    cand, base = request.getfixturevalue("candidate_selector"), request.getfixturevalue("baseline_selector")
    start = time.time()
    end = start + (live_config.watch_s or 0.0)

    def canary() -> list[str]:
        upto = time.time() - SCRAPE_LAG_S
        if upto < start + opts.step_s:  # not one step of data yet
            return []
        try:
            got = sequential_judge(prom, cand, base, start, end, opts, upto=upto)
        except PrometheusError as exc:  # this round could not look; a later one may
            state["error"] = str(exc)
            return []
        state.pop("error", None)
        state["judgement"] = got
        if got.final and got.decision == "no-go":
            return ["canary.score", *(["canary.critical"] if got.critical_failed else [])]
        return []

    return canary


def _watch(
    prometheus: Prometheus, selector: str, opts: LiveOptions, out: Path, settings: Any, canary: Any = None
) -> dict[str, Any]:
    """The watch's deciding readings: the breaching round's on no-go, the last clean round's on go."""
    from harness.live.gates import Reading
    from harness.live.watch import Round, run_watch
    from harness.policy import load_policy
    from harness.suites import available_suites

    phase = load_policy(settings.policy_file, suites=available_suites(settings.suites_dir)).phase(settings.phase)
    gates = {g.metric: g for g in phase.gates if g.suite == "live" and g.metric}
    seen: dict[str, Any] = {}
    progress = out / WATCH_PROGRESS
    notes_file = out / NOTES_FILE
    notes = json.loads(notes_file.read_text())["notes"] if notes_file.is_file() else []

    def evaluate() -> Round:
        readings = read_live(prometheus, selector, min(opts.window_s, max(opts.interval_s, 10.0)), opts.min_requests)
        breached = [
            g.id for m, g in gates.items() if m in readings and readings[m].ok and not g.holds(readings[m].value)
        ]
        unknown = [g.id for m, g in gates.items() if m in readings and not readings[m].ok]
        values = ", ".join(f"{m} {readings[m].value:g}" for m in gates if m in readings and readings[m].ok)
        significant = canary() if canary is not None else []
        rnd = Round(time.time(), breached + significant, unknown, values, decisive=bool(significant))
        seen["last"] = readings
        if not breached and not unknown:
            seen["clean"] = readings
        return rnd

    def on_round(watch: Any, rnd: Round) -> None:
        line = {
            "round": len(watch.rounds),
            "status": rnd.status,
            "breached": rnd.breached,
            "unknown": rnd.unknown,
            "values": rnd.summary,
            "in_a_row": watch.in_a_row,
        }
        with progress.open("a") as fh:
            fh.write(json.dumps(line) + "\n")
        notes_file.write_text(json.dumps({"notes": [*notes, watch.note(final=False)]}, indent=2))

    watch = run_watch(evaluate, opts.watch_s, opts.interval_s, opts.failure_limit, on_round=on_round)
    notes_file.write_text(json.dumps({"notes": [*notes, watch.note()]}, indent=2))
    if watch.decision == "go":
        return seen.get("clean") or seen["last"]
    if watch.decision == "no-go":
        return seen["last"]
    last = seen.get("last") or {}
    why = f"the watch ended inconclusive: {watch.note()}"
    return {m: Reading(m, r.promql, status="missing", reason=why) for m, r in last.items()} or {
        m: Reading(m, "", status="missing", reason=why) for m in ("requests", *gates)
    }


@pytest.fixture(scope="session")
def baseline_selector(target, live_config: LiveOptions) -> str | None:
    """The baseline's series: configured, or the local stack's own baseline (--baseline); None: no judge."""
    if live_config.baseline_selector:
        return live_config.baseline_selector
    if target.baseline_url and target.prometheus_url and not live_config.prometheus_url:
        return HARNESS_BASELINE_SELECTOR
    return None
