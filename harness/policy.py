"""Phases and their gates. Defaults come from the deployment guide (harness/policy.toml).

A team policy file is validated completely when it is loaded: every table and key has the right type,
every gate a known kind, `op` and a numeric `threshold` (for metric gates) and a known suite. A bad one
is one ConfigError line (exit 64), never a crash later in evaluate().
"""

from __future__ import annotations

import math
import operator
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, did_you_mean
from harness.jsonfile import parse_toml, read_text

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}
_GATE_KEYS = ("id", "suite", "check", "metric", "op", "threshold", "about")
_PHASE_KEYS = ("traffic", "description", "gates", "like", "drop", "rollout", "flags", "reruns")
RERUNS_DEFAULT = 1  # a failing check runs once more: fails again -> fail, passes -> flaky
RERUNS_MAX = 3
# always fullmatch(): `$` also matches before a trailing newline ("smoke.health\n" is no gate id)
_GATE_ID = re.compile(r"[a-z0-9_-]+\.[a-z0-9_.-]+")
_OPERATION = re.compile(r"(\*|GET|HEAD|OPTIONS|POST|PUT|PATCH|DELETE) /[^\s]*")  # 'POST /api/admin/*'
_CHECK_ID = re.compile(r"[a-z0-9_-]+\.[a-z0-9_.-]+\[[^\]\n]+\]")  # contract.openapi[POST /api/admin/reset]


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
    """A rollout phase (or a named non-rollout gate such as `pr`) and the gates that guard it."""

    name: str
    traffic: str
    description: str
    gates: tuple[Gate, ...]
    rollout: bool = True
    flags: tuple[tuple[str, int], ...] = ()  # feature flag -> the rollout percentage this phase expects
    reruns: int = RERUNS_DEFAULT  # how often a failing check is re-run before it counts as failed
    dropped: tuple[str, ...] = ()  # gates, checks (id[param]) or operations ('POST /x') a team policy removed

    @property
    def dropped_operations(self) -> tuple[str, ...]:
        """The 'METHOD /path' patterns the team's policy dropped: no check of the phase calls them, and no
        gate counts them as not run."""
        return tuple(d for d in self.dropped if _OPERATION.fullmatch(d))

    @property
    def expected_flags(self) -> dict[str, int]:
        """The percentages the flags suite's flags.phase_rollout gate compares with the service's shares."""
        return dict(self.flags)

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

    @property
    def suites(self) -> set[str]:
        return {s for p in self.phases.values() for s in p.suites}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _checked(gate: Gate, where: str, suites: set[str] | None) -> Gate:
    """A gate whose every field makes sense, or a ConfigError naming the field."""
    at = f"{where}: gate {gate.id!r}"
    for key in ("suite", "check", "metric", "op", "about"):
        value = getattr(gate, key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{at}: {key} = {value!r} must be a string")
    if not isinstance(gate.id, str) or not _GATE_ID.fullmatch(gate.id):
        raise ConfigError(f"{at}: an id is '<suite>.<name>' in lower case (e.g. 'load.p95_ms')")
    if not gate.suite:
        raise ConfigError(f"{at}: suite must not be empty")
    if suites is not None and gate.suite not in suites:
        raise ConfigError(
            f"{at}: unknown suite {gate.suite!r}{did_you_mean(gate.suite, suites)}; suites: {', '.join(sorted(suites))}"
        )
    if gate.check is not None and gate.metric is not None:
        raise ConfigError(f"{at}: set check or metric, not both")
    if gate.metric is not None or gate.op is not None or gate.threshold is not None:
        if not gate.metric:
            raise ConfigError(f'{at}: op and threshold only apply to a metric gate (metric = "<measurement>")')
        if gate.op not in OPS:
            op = str(gate.op)
            hint = f" (did you mean {op[::-1]!r}?)" if op[::-1] in OPS else did_you_mean(op, OPS)
            raise ConfigError(f"{at}: op = {gate.op!r} is not one of {' '.join(OPS)}{hint}")
        if not _is_number(gate.threshold):
            raise ConfigError(f"{at}: threshold = {gate.threshold!r} must be a number")
    if gate.check is not None and not gate.check.strip():
        raise ConfigError(f"{at}: check must name a check id or pattern")
    return gate


def _unknown(keys: Iterable[str], known: tuple[str, ...], what: str) -> None:
    for key in keys:
        if key not in known:
            raise ConfigError(f"{what}: unknown key {key!r}{did_you_mean(key, known)}")


def _gate(raw: dict[str, Any], where: str, suites: set[str] | None) -> Gate:
    _unknown(raw, _GATE_KEYS, f"{where}: gate")
    if "id" not in raw or "suite" not in raw:
        raise ConfigError(f"{where}: every new gate needs an id and a suite (got {raw!r})")
    if not isinstance(raw["id"], str):
        raise ConfigError(f"{where}: gate id {raw['id']!r} must be a string")
    return _checked(Gate(**raw), where, suites)


def _merge_gates(base: list[Gate], raw: Any, drop: Any, where: str, suites: set[str] | None) -> list[Gate]:
    if not isinstance(raw, list) or not all(isinstance(g, dict) for g in raw):
        raise ConfigError(f"{where}: gates must be a list of tables ({{ id = ..., suite = ... }})")
    if not isinstance(drop, list) or not all(isinstance(d, str) for d in drop):
        raise ConfigError(f"{where}: drop must be a list of gate ids")
    known = {g.id for g in base}
    for gid in drop:
        if _CHECK_ID.fullmatch(gid) or _OPERATION.fullmatch(gid):  # a check (id[param]) or an operation
            continue
        if gid not in known:
            raise ConfigError(f"{where}: drop names unknown gate {gid!r}{did_you_mean(gid, known)}")
    gates = {g.id: g for g in base if g.id not in set(drop)}
    for item in raw:
        gid = item.get("id")
        if gid in gates:
            _unknown(item, _GATE_KEYS, f"{where}: gate {gid!r}")
            updated = replace(gates[gid], **{k: v for k, v in item.items() if k != "id"})
            gates[gid] = _checked(updated, where, suites)
        else:
            gates[str(gid)] = _gate(item, where, suites)
    return list(gates.values())


def _text(raw: dict[str, Any], key: str, default: str, where: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} = {value!r} must be a string")
    return value


def _flags(raw: Any, start: Phase | None, at: str) -> tuple[tuple[str, int], ...]:
    """A phase's `flags = { name = percentage }`, merged over the phase it starts from."""
    out = dict(start.flags) if start else {}
    if raw is None:
        return tuple(out.items())
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: flags must be a table of flag name -> rollout percentage")
    for name, pct in raw.items():
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise ConfigError(f"{at}: flags.{name} = {pct!r} must be an integer percentage from 0 to 100")
        out[str(name)] = pct
    return tuple(out.items())


def _reruns(raw: Any, start: Phase | None, at: str) -> int:
    if raw is None:
        return start.reruns if start else RERUNS_DEFAULT
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= RERUNS_MAX:
        raise ConfigError(f"{at}: reruns = {raw!r} must be an integer from 0 to {RERUNS_MAX}")
    return raw


def _phases(table: dict[str, Any], base: dict[str, Phase], where: str, suites: set[str] | None) -> dict[str, Phase]:
    out = dict(base)
    if set(table) - {"phases"}:
        raise ConfigError(f"{where}: only [phases.<name>] tables are allowed at the top level")
    raw_phases = table.get("phases", {})
    if not isinstance(raw_phases, dict):
        raise ConfigError(f"{where}: phases must be tables ([phases.<name>])")
    for name, raw in raw_phases.items():
        at = f"{where}: phase {name!r}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{at} must be a table ([phases.{name}]), not {type(raw).__name__}")
        if not name.strip():
            raise ConfigError(f"{where}: a phase needs a name")
        _unknown(raw, _PHASE_KEYS, at)
        like = raw.get("like", name)
        if not isinstance(like, str):
            raise ConfigError(f"{at}: like = {like!r} must be a phase name")
        start = out.get(like)
        if "like" in raw and start is None:
            raise ConfigError(f"{at} is like unknown phase {like!r}{did_you_mean(like, out)}")
        rollout = raw.get("rollout", start.rollout if start else True)
        if not isinstance(rollout, bool):
            raise ConfigError(f"{at}: rollout = {rollout!r} must be true or false")
        drop = raw.get("drop", [])
        gates = _merge_gates(list(start.gates) if start else [], raw.get("gates", []), drop, at, suites)
        team = suites is not None  # the shipped defaults drop nothing a team chose
        out[name] = Phase(
            name=name,
            traffic=_text(raw, "traffic", start.traffic if start else "", at),
            description=_text(raw, "description", start.description if start else "", at),
            gates=tuple(gates),
            rollout=rollout,
            flags=_flags(raw.get("flags"), start, at),
            reruns=_reruns(raw.get("reruns"), start, at),
            dropped=tuple(dict.fromkeys((*(start.dropped if start else ()), *(drop if team else ())))),
        )
    return out


def default_policy() -> Policy:
    """The guide's phases and gates, as shipped."""
    text = resources.files("harness").joinpath("policy.toml").read_text()
    return Policy(_phases(tomllib.loads(text), {}, "harness/policy.toml", None), "defaults (deployment guide)")


def load_policy(override: Path | None = None, suites: Iterable[str] = ()) -> Policy:
    """The guide's default policy, with a team's override file merged on top and validated: a gate's
    suite must be one the defaults use or one of `suites` (the suites present in this build)."""
    policy = default_policy()
    if override is None:
        return policy
    text = read_text(
        override, "policy file", ConfigError, missing="does not exist; fix policy_file or HARNESS_POLICY_FILE"
    )
    table = parse_toml(text, str(override), ConfigError)
    known = policy.suites | set(suites)
    return Policy(_phases(table, policy.phases, str(override), known), f"defaults + {override}")
