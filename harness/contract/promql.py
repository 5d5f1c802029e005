"""Just enough PromQL reading for the metrics contract: which series an expression selects, and a lint
for the one mistake the deployment guide makes (histogram_quantile over a histogram's bare name)."""

from __future__ import annotations

import re
from dataclasses import dataclass

KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "inf",
        "nan",
        "atan2",
    }
)
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_SELECTOR = re.compile(
    r"""(?<![\w:.])([a-zA-Z_:][\w:]*)\s*(\{(?:[^{}"']|"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')*\})?(\s*\()?"""
)
_MATCHER = re.compile(r"""([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*')""")


@dataclass(frozen=True, slots=True)
class Selector:
    """A metric selected by an expression, and the labels its matchers name."""

    metric: str
    labels: frozenset[str]


def selectors(expr: str) -> list[Selector]:
    """Every metric selector in expr (functions, keywords, grouping labels and durations left out)."""
    text = _RANGE.sub("", _GROUPING.sub("", expr))
    out = []
    for m in _SELECTOR.finditer(text):
        name, matchers, call = m.group(1), m.group(2), m.group(3)
        if call or name.lower() in KEYWORDS:
            continue
        labels = frozenset(lm.group(1) for lm in _MATCHER.finditer(matchers or ""))
        out.append(Selector(name, labels))
    return out


def _call_args(expr: str, func: str) -> list[list[str]]:
    """The top-level arguments of every call to func in expr."""
    calls = []
    for m in re.finditer(rf"\b{func}\s*\(", expr):
        depth, start, args = 1, m.end(), []
        i = start
        while i < len(expr) and depth:
            ch = expr[i]
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            if (ch == "," and depth == 1) or depth == 0:
                args.append(expr[start:i].strip())
                start = i + 1
            i += 1
        calls.append(args)
    return calls


def lint(expr: str) -> list[str]:
    """Problems that make expr measure something other than what it says (empty when fine)."""
    problems = []
    for args in _call_args(expr, "histogram_quantile"):
        series = args[1] if len(args) > 1 else ""
        names = [s.metric for s in selectors(series)]
        if not any(n.endswith("_bucket") for n in names):
            problems.append(
                f"histogram_quantile({', '.join(args)}) must aggregate the histogram's _bucket series by le, "
                f"e.g. histogram_quantile({args[0] if args else '0.95'}, sum by (le) (rate(<name>_bucket[5m])))"
            )
        elif not re.search(r"\b(?:rate|irate|increase)\s*\(", series):
            problems.append(f"histogram_quantile over {names} should take rate() of the buckets, not raw counts")
    return problems
