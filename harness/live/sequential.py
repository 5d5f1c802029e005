"""The canary judge's sequential mode: anytime-valid tests that decide as early as the data allows.

Where the fixed judge (judge.py) compares two samples once, at the end of the window, this mode looks at
every step and keeps, per metric, an e-process: a statistic whose chance of ever reaching 1/alpha, at any of
the looks, is at most alpha when the candidate's regression is within its allowed increase (Ville's
inequality). It stops `no-go` as soon as a metric is significant and the score can no longer reach go (a
critical metric at once), `go` early when every metric is shown to be below its allowed increase (the
futility e-process, the same test mirrored), and otherwise decides at the end of the window.

Per metric, from cumulative Prometheus counters differenced per step (no overlapping rate ranges):

count (errors out of requests): the Poisson-process test of Lindon & Malek (NeurIPS 2022, "Anytime-valid
    inference for multinomial count data"): conditional on the step's events, each comes from the
    candidate with probability theta = r n_c / (r n_c + n_b) (n: each side's requests in the step, r: the
    ratio of the candidate's rate to the baseline's). H0: r <= 1 + allowed_increase. The e-process is the
    likelihood ratio against r0 = 1 + allowed_increase, mixed over a fixed grid of r > r0 (and r = inf:
    the candidate errs where the baseline does not); the futility one over r < r0 (and r = 0).
mean (e.g. seconds / requests = latency): each step's mean on each side; d = log(candidate mean) -
    log(baseline mean) - log(1 + allowed_increase) has mean log(ratio / (1 + allowed)) when the candidate's
    distribution is the baseline's scaled by ratio. H0: E[d] <= 0, variance unknown: the scale-invariant
    Bayes factor of the t-test (Lai 1976; an e-process for the invariant filtration, Perez-Ortiz, Lardy,
    de Heide, Grunwald 2024), mixed over effect sizes delta = mu / sigma > 0 (futility: delta < 0).

The error rates are checked by simulation in tests/unit/test_live_sequential.py and, on the embedded
default, by scripts/bench_canary_seq.py (docs/explanations/benchmarks.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import logsumexp

from harness.errors import ConfigError
from harness.live.judge import Judgement, JudgeOptions, Metric, MetricResult, judge_options

ALPHA = 0.01
EARLY_MIN_POINTS = 3  # an early decision needs at least this many steps with data on each side
MAX_PATH = 400  # statistic path points kept per metric (evenly thinned above)

# -- the count test (errors out of requests) --------------------------------------------------------------

_GRID = np.geomspace(1.25, 200.0, 8)  # multiples of r0 (no-go) or fractions 1/g of it (futility)
_W_EXTREME = 0.5  # weight of r = inf (no-go) / r = 0 (futility); the rest spread evenly over the grid


def _log_weights() -> np.ndarray:
    return np.log(np.concatenate([[_W_EXTREME], np.full(len(_GRID), (1 - _W_EXTREME) / len(_GRID))]))


def count_log_lr(n_c: Any, e_c: Any, n_b: Any, e_b: Any, r0: float, up: bool = True) -> np.ndarray:
    """Per step (vectorised over leading axes): the log likelihood ratio of each alternative against r0,
    last axis = alternatives (r = inf then r0 * grid for up; r = 0 then r0 / grid for futility). A step
    without events, or with a side without requests, carries no evidence (0)."""
    n_c, e_c, n_b, e_b = (np.maximum(np.asarray(a, float), 0.0) for a in (n_c, e_c, n_b, e_b))
    ok = (e_c + e_b > 0) & (n_c > 0) & (n_b > 0)
    nc, nb = np.where(ok, n_c, 1.0)[..., None], np.where(ok, n_b, 1.0)[..., None]
    ec, eb = np.where(ok, e_c, 0.0)[..., None], np.where(ok, e_b, 0.0)[..., None]
    t0 = r0 * nc / (r0 * nc + nb)
    rs = r0 * _GRID if up else r0 / _GRID
    t = rs * nc / (rs * nc + nb)
    grid = ec * np.log(t / t0) + eb * np.log((1 - t) / (1 - t0))
    # the extreme: theta = 1 (up: only the candidate errs) or 0 (futility: only the baseline errs)
    mine, other, p = (ec, eb, t0) if up else (eb, ec, 1 - t0)
    with np.errstate(divide="ignore", invalid="ignore"):
        extreme = np.where(other > 0, -np.inf, mine * np.log(1 / p))
    return np.where(ok[..., None], np.concatenate([extreme, grid], axis=-1), 0.0)


def count_log_e(log_lr: np.ndarray) -> np.ndarray:
    """The mixture e-process (log) from cumulated log likelihood ratios (last axis: alternatives)."""
    return logsumexp(log_lr + _log_weights(), axis=-1)


@dataclass(slots=True)
class CountTest:
    """Candidate errors vs baseline errors, each step's requests as exposure. H0: rate ratio <= r0."""

    r0: float
    log_lr_up: np.ndarray = field(init=False)  # per alternative: log LR of r vs r0 (r = inf first, then grid)
    log_lr_down: np.ndarray = field(init=False)  # r = 0 first, then r0 / grid
    events: tuple[float, float] = (0.0, 0.0)  # errors so far (candidate, baseline)
    trials: tuple[float, float] = (0.0, 0.0)  # requests so far

    def __post_init__(self) -> None:
        self.log_lr_up = np.zeros(len(_GRID) + 1)
        self.log_lr_down = np.zeros(len(_GRID) + 1)

    def update(self, n_c: float, e_c: float, n_b: float, e_b: float) -> None:
        """One step: requests n and errors e on each side (increments of the counters)."""
        self.events = (self.events[0] + max(e_c, 0.0), self.events[1] + max(e_b, 0.0))
        self.trials = (self.trials[0] + max(n_c, 0.0), self.trials[1] + max(n_b, 0.0))
        self.log_lr_up = self.log_lr_up + count_log_lr(n_c, e_c, n_b, e_b, self.r0, up=True)
        self.log_lr_down = self.log_lr_down + count_log_lr(n_c, e_c, n_b, e_b, self.r0, up=False)

    @property
    def log_e(self) -> float:
        """log of the no-go e-process (evidence that the ratio exceeds r0)."""
        return float(count_log_e(self.log_lr_up))

    @property
    def log_e_futility(self) -> float:
        """log of the futility e-process (evidence that the ratio is below r0)."""
        return float(count_log_e(self.log_lr_down))

    @property
    def estimate(self) -> float | None:
        """The candidate's error ratio over the baseline's so far (inf when only the candidate erred)."""
        (e_c, e_b), (n_c, n_b) = self.events, self.trials
        if n_c == 0 or n_b == 0:
            return None
        if e_b == 0:
            return 1.0 if e_c == 0 else math.inf
        return (e_c / n_c) / (e_b / n_b)


# -- the mean test (latency: seconds over requests per step) ------------------------------------------------

# effect sizes mu / sigma of the mixture (each weighted evenly): where a window of up to a few hundred looks can
# find them. Below 0.25 an e-value of 1/alpha = 100 needs n delta^2 / 2 > log 100, more than 150 looks even
# when sigma were known; above 2 the first few looks decide whatever the grid. (0.125-4 before: the same
# validity, about 2 looks later at +30 % latency in simulation, docs/explanations/benchmarks.md.)
_DELTAS = np.geomspace(0.25, 2.0, 6)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(64)  # Gauss-Legendre nodes on [-1, 1]


def log_i(n: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """log of I(n, b) = integral over v > 0 of v^(n-1) exp(-v^2/2 + b v) dv (n >= 1): 64-point
    Gauss-Legendre over 14 Laplace widths either side of the integrand's peak; vectorised over n and b."""
    n, b = np.broadcast_arrays(np.asarray(n, float), np.asarray(b, float))
    peak = (b + np.sqrt(b * b + 4 * np.maximum(n - 1, 0))) / 2
    peak = np.maximum(peak, 0.0)
    width = 1 / np.sqrt(1 + np.maximum(n - 1, 0) / np.maximum(peak, 1e-9) ** 2)
    lo = np.maximum(peak - 14 * width, 0.0)
    hi = peak + 14 * width
    half = (hi - lo)[..., None] / 2
    grid = lo[..., None] + half * (_GL_X + 1)
    f = (n[..., None] - 1) * np.log(np.maximum(grid, 1e-300)) - grid**2 / 2 + b[..., None] * grid
    return logsumexp(f, b=_GL_W, axis=-1) + np.log(half[..., 0])


def _t_log_bf_exact(n: np.ndarray, c: np.ndarray, sign: int) -> np.ndarray:
    deltas = sign * _DELTAS
    nn, cc = n[..., None], c[..., None]
    log_bf = log_i(nn, deltas * cc) - nn * deltas**2 / 2 - log_i(n, np.zeros_like(c))[..., None]
    return logsumexp(log_bf, axis=-1) - math.log(len(_DELTAS))


@lru_cache(maxsize=4096)
def _bf_table(n: int, sign: int) -> Any:
    """log BF as a cubic spline of c = s1 / sqrt(s2) in [-sqrt(n), sqrt(n)] (all it depends on for n
    observations)."""
    from scipy.interpolate import CubicSpline

    c = np.linspace(-math.sqrt(n), math.sqrt(n), 1001)
    return CubicSpline(c, _t_log_bf_exact(np.full(c.shape, float(n)), c, sign))


def t_log_bf(n: Any, s1: Any, s2: Any, sign: int = 1) -> np.ndarray:
    """log Bayes factor of the one-sided t-test mixture (delta = sign * _DELTAS, equal weights) against
    mu = 0, from n observations with sum s1 and sum of squares s2 (vectorised; a cubic spline of 1001
    points per n, within 0.005 of the quadrature in log: 0.5 % of the e-value)."""
    n, s1, s2 = np.broadcast_arrays(np.asarray(n, float), np.asarray(s1, float), np.asarray(s2, float))
    c = np.where(s2 > 0, s1 / np.sqrt(np.where(s2 > 0, s2, 1.0)), 0.0)
    out = np.zeros(n.shape)
    for k in np.unique(n):
        if k < 1:
            continue
        at = n == k
        half = math.sqrt(k)
        out[at] = _bf_table(int(k), sign)(np.clip(c[at], -half, half))
    return out


@dataclass(slots=True)
class MeanTest:
    """Per step: d = log(candidate mean) - log(baseline mean) - log(r0). H0: E[d] <= 0."""

    r0: float
    n: int = 0
    s1: float = 0.0
    s2: float = 0.0
    log_ratio_sum: float = 0.0

    def update(self, mean_c: float, mean_b: float) -> None:
        if not (mean_c > 0 and mean_b > 0 and math.isfinite(mean_c) and math.isfinite(mean_b)):
            return
        d = math.log(mean_c) - math.log(mean_b) - math.log(self.r0)
        self.n += 1
        self.s1 += d
        self.s2 += d * d
        self.log_ratio_sum += d + math.log(self.r0)

    @property
    def log_e(self) -> float:
        return float(t_log_bf(self.n, self.s1, self.s2, +1)) if self.n else 0.0

    @property
    def log_e_futility(self) -> float:
        return float(t_log_bf(self.n, self.s1, self.s2, -1)) if self.n else 0.0

    @property
    def estimate(self) -> float | None:
        """The geometric mean of the per-step ratios candidate / baseline."""
        return math.exp(self.log_ratio_sum / self.n) if self.n else None


# -- metrics: which counters, which test ------------------------------------------------------------------

KINDS = ("count", "mean")
CHAT = 'path="/chat/v2/chat"'
# counters of the default metrics ({sel}: the selector's matchers): numerator, denominator, kind
DEFAULT_COUNTERS = {
    "chat_latency_s": (
        "sum(http_request_duration_seconds_sum{" + CHAT + ",{sel}})",
        "sum(http_request_duration_seconds_count{" + CHAT + ",{sel}})",
        "mean",
    ),
    "error_ratio": (
        'sum(http_requests_total{status=~"5..",{sel}}) or vector(0)',
        "sum(http_requests_total{{sel}})",
        "count",
    ),
}


@dataclass(frozen=True, slots=True)
class SeqMetric:
    """One metric of the sequential judge: cumulative counters (numerator, denominator) and their test."""

    metric: Metric
    numerator: str
    denominator: str
    kind: str  # count | mean

    def promql(self, which: str, selector: str) -> str:
        template = self.numerator if which == "numerator" else self.denominator
        return Metric(self.metric.name, template).promql(selector, "")


def counter_queries(selector: str) -> list[str]:
    """The default metrics' counter PromQL for one side (what scripts/bench_canary_seq.py records)."""
    out = []
    for num, den, _ in DEFAULT_COUNTERS.values():
        out += [Metric("x", num).promql(selector, ""), Metric("x", den).promql(selector, "")]
    return out


@dataclass(frozen=True, slots=True)
class SequentialOptions:
    metrics: tuple[SeqMetric, ...]
    step_s: float = 5.0
    min_points: int = 50
    alpha: float = ALPHA
    go_score: float = 95.0
    nogo_score: float = 75.0


_SEQ_KEYS = ("alpha", "numerator", "denominator", "kind")


def sequential_options(
    raw: dict[str, Any], step_s: float = 5.0, min_points: int = 50, where: str = "[tool.harness.live.judge]"
) -> SequentialOptions:
    """The judge table as the sequential mode reads it: the fixed judge's metrics (allowed_increase,
    critical, ...) plus, per metric, its counters (numerator, denominator: PromQL of cumulative counters with
    {sel}) and kind (count | mean), and alpha (0.01) for the table."""
    raw = dict(raw)
    alpha = raw.pop("alpha", ALPHA)
    extra: dict[str, dict[str, Any]] = {}
    metrics_raw = {}
    for name, table in (raw.get("metrics") or {}).items():
        if isinstance(table, dict):
            extra[name] = {k: table[k] for k in ("numerator", "denominator", "kind") if k in table}
            metrics_raw[name] = {k: v for k, v in table.items() if k not in extra[name]}
        else:
            metrics_raw[name] = table
    if "metrics" in raw:
        raw["metrics"] = metrics_raw
    base: JudgeOptions = judge_options(raw, step_s, min_points, where)
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: alpha must be a number, not {alpha!r}") from None
    if not 1e-6 <= alpha <= 0.2:
        raise ConfigError(f"{where}: alpha = {alpha:g} must be between 1e-06 and 0.2 (default {ALPHA})")
    out = []
    for metric in base.metrics:
        num, den, kind = DEFAULT_COUNTERS.get(metric.name, ("", "", ""))
        given = extra.get(metric.name, {})
        num, den, kind = (
            str(given.get("numerator", num)),
            str(given.get("denominator", den)),
            str(given.get("kind", kind)),
        )
        at = f"{where} metrics.{metric.name}"
        if not num or not den:
            raise ConfigError(
                f"{at}: the sequential judge needs numerator and denominator (PromQL of cumulative counters with "
                f'{{sel}}, e.g. numerator = "sum(my_errors_total{{{{sel}}}})") and kind = "count" or "mean"'
            )
        if kind not in KINDS:
            raise ConfigError(f'{at}: kind must be "count" (events out of trials) or "mean" (sum over count)')
        if "{sel}" not in num or "{sel}" not in den:
            raise ConfigError(f"{at}: numerator and denominator must use {{sel}} for the selector's matchers")
        out.append(SeqMetric(metric, num, den, kind))
    return SequentialOptions(tuple(out), step_s, min_points, alpha, base.go_score, base.nogo_score)


def live_sequential_options(live: Any, driven: bool) -> SequentialOptions:
    """From the live suite's options (LiveOptions): a 1 s step on the harness's own 1 s-scraped stack when
    the harness drove the traffic and no step is set, as for the fixed judge."""
    step = 1.0 if driven and not live.step_given else live.step_s
    return sequential_options(live.judge, step, live.min_points)


# -- results -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SeqMetricResult(MetricResult):
    """A metric of the sequential judge: its e-values, when it was decided, and the statistic's path."""

    kind: str = ""
    e_value: float = 1.0  # the no-go e-process at the decision (or the end)
    e_futility: float = 1.0
    threshold: float = 100.0  # 1 / alpha
    estimate: float | None = None  # count: error-ratio ratio; mean: geometric mean of per-step ratios
    allowed: float = 0.0
    decided_at: float | None = None  # unix time of the step that decided it (High, or Pass by futility)
    events: tuple[float, float] = (0.0, 0.0)  # count metrics: errors (candidate, baseline)
    trials: tuple[float, float] = (0.0, 0.0)
    path: list[tuple[float, float, float]] = field(default_factory=list)  # (t, log10 e, log10 e futility)

    def line(self) -> str:
        if self.classification == "NoData":
            return f"{self.name}: NoData ({self.why})"
        est = "n/a" if self.estimate is None else "inf" if self.estimate == math.inf else f"{self.estimate:.3g}"
        counts = ""
        if self.kind == "count":
            counts = f", errors {self.events[0]:.0f}/{self.trials[0]:.0f} vs {self.events[1]:.0f}/{self.trials[1]:.0f}"
        return (
            f"{self.name}: {self.classification} (sequential {self.kind}, ratio {est} vs allowed "
            f"{1 + self.allowed:.3g}, e-value {self.e_value:.3g} / futility {self.e_futility:.3g} "
            f"(threshold {self.threshold:g}){counts}, points {self.points[0]}/{self.points[1]}"
            f"{', critical' if self.critical else ''}{f', {self.why}' if self.why else ''})"
        )


@dataclass(slots=True)
class SequentialJudgement(Judgement):
    """The sequential judge's judgement: the fixed judge's score rules, plus when it was decided."""

    mode: str = "sequential"
    alpha: float = ALPHA
    final: bool = False  # decided (early, or at the end of the window)
    decided_at: float | None = None  # unix time of the deciding step
    looks: int = 0  # steps examined

    @property
    def decided_after_s(self) -> float:
        return (self.decided_at or self.window[1]) - self.window[0]

    @property
    def stopped_early(self) -> bool:
        return self.final and self.decided_at is not None and self.decided_at < self.window[1] - 1e-6

    def summary(self) -> str:
        when = f"{self.decided_after_s:.0f} s into the {self.window[1] - self.window[0]:.0f} s window"
        how = "stopped early" if self.stopped_early else "at the end of the window"
        return (
            f"sequential (alpha {self.alpha:g}): {self.decision} after {self.looks} look(s), {when} ({how}); "
            f"{Judgement.summary(self)}"
        )

    def document(self) -> dict[str, Any]:
        """reports/live/canary.json's sequential part: the decision, its time and each metric's path."""
        return {
            "mode": self.mode,
            "alpha": self.alpha,
            "decision": self.decision,
            "score": self.score,
            "window": list(self.window),
            "decided_at": self.decided_at,
            "decided_after_s": round(self.decided_after_s, 3),
            "stopped_early": self.stopped_early,
            "looks": self.looks,
            "step_s": self.step_s,
            "metrics": {
                m.name: {
                    "classification": m.classification,
                    "kind": m.kind,
                    "e_value": m.e_value,
                    "e_futility": m.e_futility,
                    "threshold": m.threshold,
                    "decided_at": m.decided_at,
                    "path": [[round(t, 3), round(a, 4), round(b, 4)] for t, a, b in m.path],
                }
                for m in self.metrics
                if isinstance(m, SeqMetricResult)
            },
        }


# -- from Prometheus: per-step increments -------------------------------------------------------------------


def increments(points: list[tuple[float, float]]) -> dict[float, float]:
    """Cumulative counter points -> {t: increase since the previous point} (a drop is a reset: the new value)."""
    out: dict[float, float] = {}
    prev: float | None = None
    for t, v in points:
        if not math.isfinite(v):
            continue
        if prev is not None:
            out[round(t, 3)] = v - prev if v >= prev else v
        prev = v
    return out


def _series(client: Any, promql: str, start: float, end: float, step: float) -> list[tuple[float, float]]:
    got = client.query_range(promql, start, end, step)
    return list(got[0].points) if len(got) == 1 else []


@dataclass(slots=True)
class _Steps:
    """One metric's aligned per-step increments: t -> (num_c, den_c, num_b, den_b)."""

    times: list[float]
    rows: dict[float, tuple[float, float, float, float]]
    points: tuple[int, int]  # steps with data (denominator > 0) per side


def _steps(client: Any, m: SeqMetric, candidate: str, baseline: str, start: float, end: float, step: float) -> _Steps:
    inc = {}
    for side, sel in (("c", candidate), ("b", baseline)):
        for which in ("numerator", "denominator"):
            inc[side, which] = increments(_series(client, m.promql(which, sel), start, end, step))
    times = sorted(set(inc["c", "denominator"]) | set(inc["b", "denominator"]))
    rows = {
        t: (
            inc["c", "numerator"].get(t, 0.0),
            inc["c", "denominator"].get(t, 0.0),
            inc["b", "numerator"].get(t, 0.0),
            inc["b", "denominator"].get(t, 0.0),
        )
        for t in times
    }
    points = (
        sum(1 for t in times if rows[t][1] > 0),
        sum(1 for t in times if rows[t][3] > 0),
    )
    return _Steps(times, rows, points)


def _thin(path: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    if len(path) <= MAX_PATH:
        return path
    idx = np.linspace(0, len(path) - 1, MAX_PATH).round().astype(int)
    return [path[i] for i in sorted(set(idx))]


def sequential_judge(
    client: Any,
    candidate: str,
    baseline: str,
    start: float,
    end: float,
    opts: SequentialOptions,
    upto: float | None = None,
) -> SequentialJudgement:
    """Every step of [start, min(end, upto)] looked at in order; the judgement at the first step that decides
    (final), at the end of the window (final), or, when upto < end and nothing decided yet, not final.
    A PrometheusError (unreachable, refused PromQL) propagates."""
    last = end if upto is None else min(end, upto)
    step = opts.step_s
    threshold = math.log(1 / opts.alpha)
    data = {m.metric.name: _steps(client, m, candidate, baseline, start, last, step) for m in opts.metrics}
    tests: dict[str, CountTest | MeanTest] = {
        m.metric.name: (CountTest if m.kind == "count" else MeanTest)(1 + m.metric.allowed_increase)
        for m in opts.metrics
    }
    results = {
        m.metric.name: SeqMetricResult(
            m.metric.name,
            "Pass",
            critical=m.metric.critical,
            kind=m.kind,
            threshold=1 / opts.alpha,
            allowed=m.metric.allowed_increase,
            promql=m.promql("numerator", candidate) + "  /  " + m.promql("denominator", candidate),
        )
        for m in opts.metrics
    }
    seen = {name: [0, 0] for name in results}
    decided: dict[str, str] = {}
    times = sorted({t for d in data.values() for t in d.times})
    out = SequentialJudgement(go_score=opts.go_score, nogo_score=opts.nogo_score, alpha=opts.alpha, step_s=step)
    out.window = (start, end)
    for i, t in enumerate(times):
        for m in opts.metrics:
            name = m.metric.name
            row = data[name].rows.get(t)
            test = tests[name]
            if row is None or name in decided:
                continue
            num_c, den_c, num_b, den_b = row
            seen[name][0] += den_c > 0
            seen[name][1] += den_b > 0
            if isinstance(test, CountTest):
                test.update(den_c, num_c, den_b, num_b)
            elif den_c > 0 and den_b > 0:
                test.update(num_c / den_c, num_b / den_b)
            res = results[name]
            res.path.append((t, test.log_e / math.log(10), test.log_e_futility / math.log(10)))
            if min(seen[name]) >= EARLY_MIN_POINTS:
                if test.log_e >= threshold:
                    decided[name] = "High"
                    res.decided_at = t
                elif test.log_e_futility >= threshold:
                    decided[name] = "Pass"
                    res.decided_at = t
        out.looks = i + 1
        # stop when the outcome is settled: the undecided metrics counted as passing cannot make it go
        # (a High that the score cannot absorb), or every metric is shown within its allowed increase
        if decided:
            out.metrics = [_classified(results[n], decided.get(n, "Pass"), tests[n], seen[n]) for n in results]
            if out.decision == "no-go" or (len(decided) == len(results) and out.decision == "go"):
                out.final, out.decided_at = True, t
                return _finish(out, results, decided, tests, seen, data, opts, final_end=False)
    out.final = upto is None or upto >= end
    return _finish(out, results, decided, tests, seen, data, opts, final_end=out.final)


def _classified(res: SeqMetricResult, cls: str, test: CountTest | MeanTest, seen: list[int]) -> SeqMetricResult:
    res.classification = cls
    res.e_value, res.e_futility = math.exp(min(test.log_e, 700)), math.exp(min(test.log_e_futility, 700))
    res.estimate = test.estimate
    res.points = (seen[0], seen[1])
    if isinstance(test, CountTest):
        res.events, res.trials = test.events, test.trials
    return res


def _finish(
    out: SequentialJudgement,
    results: dict[str, SeqMetricResult],
    decided: dict[str, str],
    tests: dict[str, CountTest | MeanTest],
    seen: dict[str, list[int]],
    data: dict[str, _Steps],
    opts: SequentialOptions,
    final_end: bool,
) -> SequentialJudgement:
    metrics = []
    for name, res in results.items():
        cls = decided.get(name, "Pass")
        pts = seen[name]
        if name not in decided and min(pts) < (opts.min_points if final_end else EARLY_MIN_POINTS):
            cls = "NoData"
            res.why = (
                f"{pts[0]} candidate and {pts[1]} baseline points with data, fewer than "
                f"{opts.min_points if final_end else EARLY_MIN_POINTS}"
            )
        elif name in decided and cls == "Pass":
            res.why = "shown within its allowed increase (futility bound)"
        res.path = _thin(res.path)
        metrics.append(_classified(res, cls, tests[name], pts))
    out.metrics = metrics
    return out


# -- live: look every step until a decision or the end of the window -----------------------------------------

SCRAPE_LAG_S = 1.0  # a step's counters reach Prometheus after a scrape (1 s on the harness's own stack)


def run_sequential(
    client: Any,
    candidate: str,
    baseline: str,
    start: float,
    end: float,
    opts: SequentialOptions,
    *,
    stop: Callable[[], bool] | None = None,
    on_look: Callable[[SequentialJudgement], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SequentialJudgement:
    """Look every step from start until a decision or end (plus the scrape lag); stop() true ends the looks
    early (e.g. the traffic ended): the judgement is then the one over the data so far, final at the end."""
    while True:
        now = clock()
        upto = now - SCRAPE_LAG_S
        if upto < start + opts.step_s and (stop is None or not stop()):  # not one step of data yet
            sleep(max(start + opts.step_s - upto, 0.2))
            continue
        got = sequential_judge(client, candidate, baseline, start, end, opts, upto=upto)
        if on_look is not None:
            on_look(got)
        if got.final:
            return got
        if stop is not None and stop():
            return sequential_judge(client, candidate, baseline, start, max(min(end, upto), start + 1e-3), opts)
        # every half step: a step's data is seen soon after it is scraped (each look recomputes the whole path,
        # so a step read before its last scrape is complete at the next look)
        sleep(max(min(opts.step_s / 2, end + SCRAPE_LAG_S - now), 0.2))
