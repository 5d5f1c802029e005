"""The live suite's options: [tool.harness.live] -> HARNESS_LIVE_<KEY> (and the short names below) -> flags.

    [tool.harness.live]
    prometheus_url = "http://prometheus.monitoring:9090"   # or --prometheus URL / HARNESS_PROMETHEUS_URL
    candidate_selector = '{version="green"}'   # which series are the candidate's (the guide labels pods `version`)
    baseline_selector = '{version="blue"}'     # the baseline's, for the canary judge (optional)
    window = "5m"                              # how far back the gates look
    min_requests = 500                         # fewer requests in the window: the metric gates are missing
    timeout_s = 10                             # one Prometheus query, connect to last byte
    drive_load = false                         # --drive-load: also drive Locust users at a target we did not start
    watch = "24h"                              # --watch: look every interval for this long (Argo-like)
    interval = "60s"                           # the watch's interval
    failure_limit = 1                          # no-go after failure_limit + 1 breaches in a row
    step = "5s"                                # the canary judge's range-query step
    min_points = 50                            # the judge's NoData threshold per side
    judge_mode = "auto"                        # sequential when the harness drives the traffic, else fixed; or either

    [tool.harness.live.judge]                  # go_score, nogo_score, metrics.<name> = {query, allowed_increase, ...}

The bearer token of the Prometheus API comes only from the environment (HARNESS_PROMETHEUS_TOKEN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError
from harness.options import Option, OptionSpec, at_least, http_url, positive, suite_options

HARNESS_SELECTOR = '{track="candidate"}'  # the local stack's Prometheus labels what it scrapes by track
HARNESS_BASELINE_SELECTOR = '{track="baseline"}'
_MATCHER = r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*'
MATCHER = re.compile(_MATCHER)
SELECTOR = re.compile(r"^\s*\{(?:" + _MATCHER + r"(?:," + _MATCHER + r")*,?)?\s*\}\s*$")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
JUDGE_MODES = ("auto", "fixed", "sequential")
UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any, what: str) -> float:
    """'5m', '90s', '1h', '24h' or a number of seconds -> seconds (> 0); ConfigError naming what otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = DURATION.match(str(value))
        if not m:
            raise ConfigError(f"{what} = {value!r} is not a duration (e.g. 90s, 5m, 1h)")
        seconds = float(m.group(1)) * UNITS[m.group(2)]
    if not seconds > 0:
        raise ConfigError(f"{what} = {value!r} must be longer than 0 s")
    return seconds


def promql_duration(seconds: float) -> str:
    """Seconds as a PromQL range ('300s'); whole milliseconds at least."""
    ms = max(int(round(seconds * 1000)), 1)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def matchers(selector: str) -> list[tuple[str, str, str]]:
    """'{a="b", c=~"d"}' -> [("a", "=", "b"), ("c", "=~", "d")]; ValueError when it is not a label selector."""
    if not SELECTOR.match(selector):
        raise ValueError(selector)
    inner = selector.strip()[1:-1]
    return [(m.group(1), m.group(2), m.group(3)) for m in MATCHER.finditer(inner)]


def _selector(key: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    try:
        matchers(str(value))
    except ValueError:
        raise ConfigError(
            f"{where}: {key} = {value!r} is not a label selector; "
            'write it like {track="canary"} or {version="green"}'
        ) from None
    return str(value).strip()


def _duration_option(key: str, value: Any, where: str) -> Any:
    return parse_duration(value, f"{where}: {key}") if value is not None else None


SPEC = OptionSpec(
    "live",
    (
        Option(
            "prometheus_url",
            str,
            aliases=("HARNESS_PROMETHEUS_URL",),
            check=http_url("(the Prometheus HTTP API, e.g. http://127.0.0.1:9090)"),
            flag="--prometheus",
        ),
        Option("candidate_selector", str, check=_selector),
        Option("baseline_selector", str, check=_selector),
        Option("window", object, default="5m", check=_duration_option, high=86400),
        Option("min_requests", int, default=500, check=at_least(0), high=1_000_000_000),
        Option("timeout_s", float, default=10.0, check=positive("number of seconds"), high=600),
        Option("drive_load", bool, default=False, flag="--drive-load"),
        Option("watch", object, default=None, check=_duration_option, flag="--watch", high=30 * 86400),
        Option("interval", object, default="60s", check=_duration_option, high=86400),
        Option("failure_limit", int, default=1, check=at_least(0), high=10_000),
        Option("judge", dict, default=None),
        Option("step", object, default="5s", check=_duration_option, high=3600),  # the canary judge's range-query step
        Option(
            "min_points", int, default=50, check=at_least(3), high=100_000
        ),  # fewer points per side: the metric is NoData
        Option("judge_mode", str, default="auto", choices=JUDGE_MODES),  # the canary judge's mode (resolved_judge_mode)
    ),
)


@dataclass(frozen=True, slots=True)
class LiveOptions:
    """The live suite's validated options (selectors may be None: the stack decides, see resolve_selectors)."""

    prometheus_url: str | None
    candidate_selector: str | None
    baseline_selector: str | None
    window_s: float
    min_requests: int
    timeout_s: float
    drive_load: bool
    watch_s: float | None
    interval_s: float
    failure_limit: int
    judge: dict[str, Any]
    step_s: float = 5.0
    min_points: int = 50
    step_given: bool = False  # step set by the file, environment or a flag (not the default)
    judge_mode: str = "auto"  # fixed: one Mann-Whitney look at the end (judge.py); sequential: sequential.py
    prometheus_url_from: str = "[tool.harness.live]"

    def resolved_judge_mode(self, driven: bool) -> tuple[str, str]:
        """The canary judge's mode for this run, and why. `auto` (the default) is sequential when the harness drives
        the window's traffic (the window is waited for anyway, so a judge that may end it at its decision can only
        be sooner) and every judge metric suits the sequential tests (counters, increases only); fixed when it
        only observes a deployment (the past window is there: one look judges it at once) or a team metric is
        the fixed judge's only."""
        if self.judge_mode != "auto":
            return self.judge_mode, f"judge_mode = {self.judge_mode}"
        if not driven:
            return "fixed", "judge_mode auto: observing a deployment, the past window is judged at once"
        from harness.live.judge import judge_options
        from harness.live.sequential import sequential_options

        metrics = judge_options(self.judge, self.step_s, self.min_points).metrics  # a broken table: raised as is
        either = [m.name for m in metrics if m.direction != "increase"]
        if either:
            return "fixed", f"judge_mode auto: direction = either on {', '.join(either)} (sequential tests increases)"
        try:
            sequential_options(self.judge, self.step_s, self.min_points)
        except ConfigError as exc:
            return "fixed", f"judge_mode auto: a judge metric is the fixed judge's only ({exc})"
        return "sequential", "judge_mode auto: the harness drives the traffic, the judge may end the window early"

    def check_before_start(self, settings: Settings) -> None:
        """The gate's check before anything starts (harness/gate.py): on a target the harness did not start, the
        live gates need the deployment's Prometheus."""
        if settings.stack == "external" and not self.prometheus_url:
            raise ConfigError(
                f"phase {settings.phase} reads live metrics: give the deployment's Prometheus with --prometheus URL "
                "(or HARNESS_PROMETHEUS_URL, [tool.harness.live] prometheus_url)"
            )


def live_options(settings: Settings, env: dict[str, str] | None = None) -> LiveOptions:
    values = suite_options(SPEC, settings, env)
    window = values["window"]
    interval = values["interval"]
    return LiveOptions(
        prometheus_url=values["prometheus_url"],
        candidate_selector=values["candidate_selector"],
        baseline_selector=values["baseline_selector"],
        window_s=parse_duration(window, "window") if not isinstance(window, float) else window,
        min_requests=int(values["min_requests"]),
        timeout_s=float(values["timeout_s"]),
        drive_load=bool(values["drive_load"]),
        watch_s=values["watch"],
        interval_s=parse_duration(interval, "interval") if not isinstance(interval, float) else interval,
        failure_limit=int(values["failure_limit"]),
        judge=dict(values["judge"] or {}),
        step_s=values["step"] if isinstance(values["step"], float) else parse_duration(values["step"], "step"),
        min_points=int(values["min_points"]),
        step_given=values.given("step"),
        judge_mode=str(values["judge_mode"]),
        prometheus_url_from=values.where("prometheus_url"),
    )
