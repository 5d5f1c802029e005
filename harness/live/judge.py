"""The canary judge: candidate vs baseline per metric, as Kayenta's NetflixACAJudge does.

Per metric, the candidate's and the baseline's samples (Prometheus range queries, one point per step) are
compared with a two-sided Mann-Whitney U test; the Hodges-Lehmann estimate of the shift (candidate -
baseline: the median of all pairwise differences) comes with its confidence interval at 98 % (the
order statistics of the pairwise differences at the test's critical value: exact for small samples,
normal approximation otherwise; Hollander & Wolfe, Nonparametric Statistical Methods, 4.3).

Classification of a metric (NaN removed first):
    NoData  fewer than min_points points on either side
    High    the test rejects at 2 % (p < 0.02), the interval does not reach below 0, and the mean ratio
            candidate/baseline exceeds 1 + allowed_increase
    Low     the same downwards, with the mean ratio below 1 - allowed_decrease (a failure only for
            direction "either"; for direction "increase" a drop is a Pass)
    Pass    otherwise
Score = 100 x Pass / (Pass + High + Low): computed over the metrics with data only, and a critical metric
classified High or Low makes it 0. NoData is missing evidence, never a pass and never a no-go (no data
is a Prometheus, scrape or traffic problem, not proof against the build):
    no metric has data                  no score: both canary gates missing
    a critical metric is NoData         canary.critical missing (a critical High/Low still fails it)
    score >= go_score, some NoData      inconclusive (missing), naming the metrics without data
no-go below nogo_score (75) whatever had no data (the metrics with data are the evidence), go at score >=
go_score (95) only when every metric had data, inconclusive between.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from statistics import NormalDist, fmean, median
from typing import Any

import numpy as np

from harness.errors import ConfigError
from harness.live.gates import with_selector

CONFIDENCE = 0.98
EXACT_MAX = 30  # exact null distribution of U up to 30 x 30 points; normal approximation above


# -- statistics -------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _u_counts(m: int, n: int) -> tuple[float, ...]:
    """How many arrangements give U = 0..mn under H0 (f(m, n) = f(m-1, n) shifted by n + f(m, n-1))."""
    table: dict[tuple[int, int], np.ndarray] = {}
    for i in range(m + 1):
        for j in range(n + 1):
            if i == 0 or j == 0:
                table[i, j] = np.ones(1)
                continue
            out = np.zeros(i * j + 1)
            a, b = table[i - 1, j], table[i, j - 1]
            out[j : j + len(a)] += a
            out[: len(b)] += b
            table[i, j] = out
    return tuple(table[m, n])


def u_cdf(u: int, m: int, n: int) -> float:
    """Exact P(U <= u) under H0 for samples of m and n points without ties."""
    counts = _u_counts(m, n)
    if u < 0:
        return 0.0
    return float(sum(counts[: u + 1]) / sum(counts))


def critical_u(m: int, n: int, confidence: float = CONFIDENCE) -> int:
    """The largest c with P(U <= c) <= (1 - confidence) / 2 (-1 when there is none): the interval of the
    shift is [D(c+1), D(mn-c)] of the sorted pairwise differences (1-based)."""
    alpha = (1 - confidence) / 2
    if m <= EXACT_MAX and n <= EXACT_MAX:
        counts = np.array(_u_counts(m, n))
        cdf = np.cumsum(counts) / counts.sum()
        below = np.nonzero(cdf <= alpha + 1e-12)[0]
        return int(below[-1]) if len(below) else -1
    z = NormalDist().inv_cdf(1 - alpha)
    sigma = math.sqrt(m * n * (m + n + 1) / 12)
    return max(int(math.floor(m * n / 2 - 0.5 - z * sigma)), -1)


@dataclass(frozen=True, slots=True)
class Shift:
    """The Hodges-Lehmann shift of candidate over baseline and its confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float = CONFIDENCE


def hodges_lehmann(candidate: list[float], baseline: list[float], confidence: float = CONFIDENCE) -> Shift:
    """Median of all pairwise differences candidate_i - baseline_j, with its distribution-free interval."""
    x, y = np.asarray(candidate, float), np.asarray(baseline, float)
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    c = critical_u(len(x), len(y), confidence)
    if c < 0:
        return Shift(float(np.median(diffs)), -math.inf, math.inf, confidence)
    return Shift(float(np.median(diffs)), float(diffs[c]), float(diffs[len(diffs) - 1 - c]), confidence)


def mann_whitney_p(candidate: list[float], baseline: list[float]) -> float:
    """Two-sided Mann-Whitney U p-value (scipy); 1.0 when every point of both samples is the same."""
    from scipy.stats import mannwhitneyu

    if len(set(candidate) | set(baseline)) <= 1:
        return 1.0
    return float(mannwhitneyu(candidate, baseline, alternative="two-sided").pvalue)


# -- metrics and classification -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metric:
    """One judged metric: its PromQL template ({sel}: the series selector's matchers, {range}: the rate range)."""

    name: str
    query: str
    allowed_increase: float = 0.2
    allowed_decrease: float = 0.2
    direction: str = "increase"  # increase: only a rise fails; either: a drop fails too
    critical: bool = False

    def promql(self, selector: str, rate_range: str) -> str:
        inner = with_selector("x", selector)[1:]  # '{a="b"}' or '' for an empty selector
        inner = inner[1:-1] if inner else ""
        return self.query.replace("{range}", rate_range).replace("{sel}", inner)


CHAT = 'path="/chat/v2/chat"'
DEFAULT_METRICS = (
    Metric(
        "chat_latency_s",
        "sum(rate(http_request_duration_seconds_sum{" + CHAT + ",{sel}}[{range}])) / "
        "sum(rate(http_request_duration_seconds_count{" + CHAT + ",{sel}}[{range}]))",
        allowed_increase=0.2,
    ),
    Metric(
        "error_ratio",
        '(sum(rate(http_requests_total{status=~"5..",{sel}}[{range}])) or vector(0)) / '
        "sum(rate(http_requests_total{{sel}}[{range}]))",
        allowed_increase=0.5,
        critical=True,
    ),
)


@dataclass(slots=True)
class MetricResult:
    name: str
    classification: str  # Pass | High | Low | NoData
    candidate_median: float | None = None
    baseline_median: float | None = None
    shift: Shift | None = None
    mean_ratio: float | None = None
    p_value: float | None = None
    points: tuple[int, int] = (0, 0)
    critical: bool = False
    promql: str = ""
    why: str = ""

    def line(self) -> str:
        if self.classification == "NoData":
            return f"{self.name}: NoData ({self.why})"
        assert self.shift is not None
        ratio = "inf" if self.mean_ratio == math.inf else f"{self.mean_ratio:.3g}"
        return (
            f"{self.name}: {self.classification} (candidate median {self.candidate_median:.4g}, baseline median "
            f"{self.baseline_median:.4g}, shift {self.shift.estimate:+.4g} "
            f"[{self.shift.low:+.4g}, {self.shift.high:+.4g}] at {self.shift.confidence:.0%}, mean ratio {ratio}, "
            f"p {self.p_value:.3g}, points {self.points[0]}/{self.points[1]}"
            f"{', critical' if self.critical else ''})"
        )


def mean_ratio(candidate: list[float], baseline: list[float]) -> float:
    base, cand = fmean(baseline), fmean(candidate)
    if base == 0:
        return 1.0 if cand == 0 else math.inf
    return cand / base


def classify(
    metric: Metric, candidate: list[float], baseline: list[float], min_points: int = 50, confidence: float = CONFIDENCE
) -> MetricResult:
    """One metric's classification from its two samples (NaN and infinities removed)."""
    x = [v for v in candidate if math.isfinite(v)]
    y = [v for v in baseline if math.isfinite(v)]
    out = MetricResult(metric.name, "NoData", points=(len(x), len(y)), critical=metric.critical)
    if len(x) < min_points or len(y) < min_points:
        out.why = f"{len(x)} candidate and {len(y)} baseline points, fewer than {min_points}"
        return out
    shift = hodges_lehmann(x, y, confidence)
    ratio = mean_ratio(x, y)
    out.candidate_median, out.baseline_median = median(x), median(y)
    out.shift, out.mean_ratio, out.p_value = shift, ratio, mann_whitney_p(x, y)
    significant = out.p_value < 1 - confidence  # ties (an error ratio mostly 0) can keep the interval at 0
    if significant and shift.low >= 0 and ratio > 1 + metric.allowed_increase:
        out.classification = "High"
    elif significant and shift.high <= 0 and ratio < 1 - metric.allowed_decrease and metric.direction == "either":
        out.classification = "Low"
    else:
        out.classification = "Pass"
    return out


@dataclass(slots=True)
class Judgement:
    metrics: list[MetricResult] = field(default_factory=list)
    go_score: float = 95.0
    nogo_score: float = 75.0
    queries: list[str] = field(default_factory=list)  # the PromQL it ran (candidate, baseline per metric)
    window: tuple[float, float] = (0.0, 0.0)
    step_s: float = 5.0

    @property
    def judged(self) -> list[MetricResult]:
        """The metrics with data (Pass, High or Low): the only ones the score is computed over."""
        return [m for m in self.metrics if m.classification != "NoData"]

    @property
    def nodata(self) -> list[MetricResult]:
        return [m for m in self.metrics if m.classification == "NoData"]

    @property
    def score(self) -> float | None:
        """100 x Pass / metrics with data (0 when a critical metric is High or Low); None when none had data."""
        judged = self.judged
        if not judged:
            return None
        if any(m.critical and m.classification != "Pass" for m in judged):
            return 0.0
        return 100.0 * sum(m.classification == "Pass" for m in judged) / len(judged)

    @property
    def critical_failed(self) -> list[MetricResult]:
        """Critical metrics whose data says the candidate is worse (High, or Low for direction "either")."""
        return [m for m in self.metrics if m.critical and m.classification in ("High", "Low")]

    @property
    def critical_nodata(self) -> list[MetricResult]:
        return [m for m in self.nodata if m.critical]

    @property
    def decision(self) -> str:
        """go, no-go or inconclusive: no-go needs data against the candidate, go needs data on every metric."""
        score = self.score
        if score is None:
            return "inconclusive"
        if score < self.nogo_score:
            return "no-go"
        return "go" if score >= self.go_score and not self.nodata else "inconclusive"

    def summary(self) -> str:
        """'score 100 over 1 of 2 metrics (1 without data: error_ratio)' or 'no score: ...'."""
        n, missing = len(self.metrics), self.nodata
        names = ", ".join(m.name for m in missing) or "no metric configured"
        if self.score is None:
            return f"no score: none of the {n} metrics had data (NoData: {names})"
        text = f"score {self.score:.0f} over {len(self.judged)} of {n} metrics"
        return text + (f" ({len(missing)} without data: {names})" if missing else "")


# -- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JudgeOptions:
    metrics: tuple[Metric, ...] = DEFAULT_METRICS
    step_s: float = 5.0
    min_points: int = 50
    go_score: float = 95.0
    nogo_score: float = 75.0
    confidence: float = CONFIDENCE


_JUDGE_KEYS = ("go_score", "nogo_score", "metrics", "alpha")  # alpha: the sequential mode's (sequential.py)
_METRIC_KEYS = ("query", "allowed_increase", "allowed_decrease", "direction", "critical")
_SEQUENTIAL_KEYS = ("numerator", "denominator", "kind")  # read by the sequential mode (sequential.py)


def judge_options(
    raw: dict[str, Any], step_s: float = 5.0, min_points: int = 50, where: str = "[tool.harness.live.judge]"
) -> JudgeOptions:
    """[tool.harness.live.judge]: go_score, nogo_score, and [..judge.metrics.<name>] tables (step and
    min_points are options of the live table: HARNESS_LIVE_STEP, HARNESS_LIVE_MIN_POINTS): a default metric's
    fields overridden, or a new metric with its `query`."""
    from harness.errors import did_you_mean

    for key in raw:
        if key not in _JUDGE_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, _JUDGE_KEYS)}")
    metrics = {m.name: m for m in DEFAULT_METRICS}
    for name, table in (raw.get("metrics") or {}).items():
        at = f"{where} metrics.{name}"
        if not isinstance(table, dict):
            raise ConfigError(f"{at} must be a table")
        for key in table:
            if key not in _METRIC_KEYS + _SEQUENTIAL_KEYS:
                raise ConfigError(f"{at}: unknown key {key!r}{did_you_mean(key, _METRIC_KEYS + _SEQUENTIAL_KEYS)}")
        base = metrics.get(name)
        if base is None and "query" not in table:
            raise ConfigError(f'{at}: a new metric needs query = "<PromQL with {{sel}} and {{range}}>"')
        fields_ = {
            "name": name,
            "query": str(table.get("query", base.query if base else "")),
            "allowed_increase": float(table.get("allowed_increase", base.allowed_increase if base else 0.2)),
            "allowed_decrease": float(table.get("allowed_decrease", base.allowed_decrease if base else 0.2)),
            "direction": str(table.get("direction", base.direction if base else "increase")),
            "critical": bool(table.get("critical", base.critical if base else False)),
        }
        if fields_["direction"] not in ("increase", "either"):
            raise ConfigError(f'{at}: direction must be "increase" or "either"')
        if "{range}" not in fields_["query"]:
            raise ConfigError(f"{at}: query must use {{range}} for its rate range (and {{sel}} for the selector)")
        metrics[name] = Metric(**fields_)
    try:
        go, nogo = float(raw.get("go_score", 95)), float(raw.get("nogo_score", 75))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: go_score and nogo_score must be numbers") from None
    if not 0 <= nogo <= go <= 100:
        raise ConfigError(f"{where}: need 0 <= nogo_score ({nogo:g}) <= go_score ({go:g}) <= 100")
    return JudgeOptions(tuple(metrics.values()), step_s, min_points, go, nogo)


# -- one judgement from Prometheus -------------------------------------------------------------------

MIN_RATE_RANGE_S = 3.0  # a rate needs two samples of a 1 s scrape in every step's range


def judge(
    client: Any, candidate: str, baseline: str, start: float, end: float, opts: JudgeOptions
) -> tuple[Judgement, list[str]]:
    """Every metric of opts for the two selectors over [start, end]: the judgement and the PromQL it ran.
    A PrometheusError (unreachable, refused PromQL) propagates."""
    from harness.live.options import promql_duration

    rate_range = promql_duration(max(opts.step_s, MIN_RATE_RANGE_S))
    result = Judgement(go_score=opts.go_score, nogo_score=opts.nogo_score)
    queries: list[str] = []
    for metric in opts.metrics:
        samples: dict[str, list[float]] = {}
        for side, selector in (("candidate", candidate), ("baseline", baseline)):
            promql = metric.promql(selector, rate_range)
            queries.append(promql)
            series = client.query_range(promql, start, end, opts.step_s)
            samples[side] = series[0].values if len(series) == 1 else []
        got = classify(metric, samples["candidate"], samples["baseline"], opts.min_points, opts.confidence)
        got.promql = metric.promql(candidate, rate_range)
        result.metrics.append(got)
    return result, queries
