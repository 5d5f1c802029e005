"""Phases and their gates. Defaults come from the deployment guide (harness/policy.toml)."""

from __future__ import annotations

import operator
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, did_you_mean

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
_GATE_KEYS = {"id", "suite", "check", "metric", "op", "threshold", "about"}


@dataclass(frozen=True, slots=True)
class Gate:
    """One go/no-go condition over the evidence of one suite."""

    id: str
    suite: str
    check: str | None = None
    metric: str | None = None
    op: str | None = None
    threshold: float | None = None
    about: str = ""

    @property
    def kind(self) -> str:
        return "metric" if self.metric else "check" if self.check else "suite"

    def threshold_text(self) -> str:
        if self.kind == "metric":
            return f"{self.op} {self.threshold:g}"
        return "passed" if self.kind == "check" else "all passed"

    def holds(self, observed: float) -> bool:
        assert self.op is not None and self.threshold is not None
        return OPS[self.op](observed, self.threshold)


@dataclass(frozen=True, slots=True)
class Phase:
    """A rollout phase and the gates that guard it."""

    name: str
    traffic: str
    description: str
    gates: tuple[Gate, ...]

    @property
    def suites(self) -> tuple[str, ...]:
        """Suites this phase needs evidence from, in gate order."""
        return tuple(dict.fromkeys(g.suite for g in self.gates))


@dataclass(frozen=True, slots=True)
class Policy:
    """All phases, after any team override is merged onto the guide's defaults."""

    phases: dict[str, Phase]
    source: str

    def phase(self, name: str) -> Phase:
        if name not in self.phases:
            raise ConfigError(
                f"unknown phase {name!r}{did_you_mean(name, self.phases)}; phases: {', '.join(self.phases)}"
            )
        return self.phases[name]


def _gate(raw: dict[str, Any], where: str) -> Gate:
    unknown = set(raw) - _GATE_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{where}: unknown gate key {key!r}{did_you_mean(key, _GATE_KEYS)}")
    if "id" not in raw or "suite" not in raw:
        raise ConfigError(f"{where}: every gate needs an id and a suite")
    gate = Gate(**raw)
    if gate.metric and (gate.op not in OPS or not isinstance(gate.threshold, int | float)):
        raise ConfigError(f"{where}: gate {gate.id!r} needs op (one of {' '.join(OPS)}) and a numeric threshold")
    return gate


def _merge_gates(base: list[Gate], raw: list[dict[str, Any]], drop: list[str], where: str) -> list[Gate]:
    gates = {g.id: g for g in base if g.id not in set(drop)}
    for item in raw:
        gid = item.get("id")
        if gid in gates:
            extra = set(item) - _GATE_KEYS
            if extra:
                raise ConfigError(f"{where}: unknown gate key {sorted(extra)[0]!r}")
            gates[gid] = replace(gates[gid], **{k: v for k, v in item.items() if k != "id"})
        else:
            gates[gid] = _gate(item, where)
    return list(gates.values())


def _phases(table: dict[str, Any], base: dict[str, Phase], where: str) -> dict[str, Phase]:
    out = dict(base)
    raw_phases = table.get("phases", {})
    if set(table) - {"phases"}:
        raise ConfigError(f"{where}: only [phases.<name>] tables are allowed at the top level")
    for name, raw in raw_phases.items():
        known = {"traffic", "description", "gates", "like", "drop"}
        if set(raw) - known:
            key = sorted(set(raw) - known)[0]
            raise ConfigError(f"{where}: phase {name!r}: unknown key {key!r}{did_you_mean(key, known)}")
        start = out.get(raw.get("like", name))
        if "like" in raw and start is None:
            raise ConfigError(f"{where}: phase {name!r} is like unknown phase {raw['like']!r}")
        gates = _merge_gates(
            list(start.gates) if start else [], raw.get("gates", []), raw.get("drop", []), f"{where}: phase {name!r}"
        )
        out[name] = Phase(
            name=name,
            traffic=raw.get("traffic", start.traffic if start else ""),
            description=raw.get("description", start.description if start else ""),
            gates=tuple(gates),
        )
    return out


def load_policy(override: Path | None = None) -> Policy:
    """The guide's default policy, with a team's override file merged on top."""
    text = resources.files("harness").joinpath("policy.toml").read_text()
    phases = _phases(tomllib.loads(text), {}, "harness/policy.toml")
    source = "defaults (deployment guide)"
    if override is not None:
        if not override.is_file():
            raise ConfigError(f"policy file {override} does not exist; fix policy_file or HARNESS_POLICY_FILE")
        try:
            table = tomllib.loads(override.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{override}: not valid TOML ({exc})") from None
        phases = _phases(table, phases, str(override))
        source = f"defaults + {override}"
    return Policy(phases=phases, source=source)
