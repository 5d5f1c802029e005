"""The metrics contract: every series the alerts and the dashboard select is exported with its type and labels."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.contract.promql import Selector, selectors

# A selected series name -> (family name as the parser reports it, the type the family must have)
_SUFFIXES = (("_bucket", "histogram"), ("_count", "histogram"), ("_sum", "histogram"), ("_total", "counter"))


@dataclass(frozen=True, slots=True)
class Expr:
    """A PromQL expression and where it was found."""

    where: str
    expr: str


def expressions(alerts: Path | None, dashboard: Path | None) -> list[Expr]:
    """Every alert rule expr and every dashboard target expr (of those the service has)."""
    out = []
    rules = (yaml.safe_load(alerts.read_text()) or {}) if alerts is not None else {}
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            out.append(Expr(f"{alerts.name}: {name}", str(rule["expr"])))

    def walk(node: object, where: str) -> Iterator[Expr]:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                yield Expr(where, node["expr"])
            for key, value in node.items():
                yield from walk(value, f"{dashboard.name}: {node.get('title', where)}" if key == "targets" else where)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, where)

    if dashboard is not None:
        out += list(walk(json.loads(dashboard.read_text()), dashboard.name))
    return out


def expected(selector: Selector) -> tuple[str, str | None]:
    """(family name, required type or None) for a selected series name."""
    for suffix, kind in _SUFFIXES:
        if selector.metric.endswith(suffix):
            return selector.metric.removesuffix(suffix), kind
    return selector.metric, None


def problems(exposition: str, exprs: list[Expr]) -> list[str]:
    """What the /metrics text lacks for exprs: missing families, wrong types, missing labels."""
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    out: list[str] = []
    for e in exprs:
        for sel in selectors(e.expr):
            name, kind = expected(sel)
            family = families.get(name)
            if family is None:
                out.append(f"{e.where}: {sel.metric} is not exported")
                continue
            if kind and family.type != kind:
                out.append(f"{e.where}: {sel.metric} belongs to a {family.type}, expected a {kind}")
            seen = {label for sample in family.samples for label in sample.labels}
            for label in sorted(sel.labels - seen):
                out.append(f"{e.where}: {sel.metric} has no label {label!r} (has {sorted(seen)})")
    return list(dict.fromkeys(out))
