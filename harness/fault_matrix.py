"""The fault matrix (harness/faults.toml): which fault is expected to trip which gate.

    from harness.fault_matrix import load_matrix, for_phase
    for case in for_phase(policy.phase("pr")):      # FaultCase records
        case.kind, case.app, case.stack, case.options, case.gates, case.expect, case.needs

A case is one way to make the candidate (or its evidence) bad on purpose:
- kind `app`: an ORCHESTRA_FAULTS value, switched at run time in one running stack
  (harness.stack.admin.set_faults(target, case.app));
- kind `stack`: Settings overrides that need a stack of their own (e.g. {"app_tls": "expired"});
- kind `options`: suite option overrides ({"security": {"deploy_dir": ...}}), for Settings.suite_flags;
- kind `prometheus`: a fault of the Prometheus the live suite reads (harness.stack.prometheus_faults: empty,
  nan, hang, timeout, no_rules), switched at run time in a proxy in front of the stack's own Prometheus; it
  may carry `options` too (a short query timeout for `hang`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from harness.config import FILE_KEYS
from harness.errors import ConfigError, did_you_mean
from harness.jsonfile import parse_toml, read_text
from harness.policy import Phase

KINDS = ("app", "stack", "options", "prometheus")
EXPECT = ("fail", "missing", "error", "flaky")  # every one of them keeps the verdict from `go`
_KEYS = ("kind", "app", "stack", "options", "prometheus", "gates", "expect", "needs", "about")
_GATE_ID = re.compile(r"^[a-z0-9_-]+\.[a-z0-9_.-]+$")


@dataclass(frozen=True, slots=True)
class FaultCase:
    """One negative control and the gates it must trip."""

    name: str
    kind: str  # one of KINDS
    gates: tuple[str, ...]  # gate ids expected to come out `expect`
    about: str
    app: str | None = None  # kind app: the ORCHESTRA_FAULTS value to switch on
    stack: dict[str, Any] = field(default_factory=dict)  # kind stack: Settings field -> value
    options: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # kind options (or prometheus): suite -> option -> value
    prometheus: str | None = None  # kind prometheus: the fault of the proxy in front of the stack's Prometheus
    expect: str = "fail"
    needs: str | None = None  # what must exist before the case can trip its gates; None: it can today

    @property
    def suites(self) -> tuple[str, ...]:
        """The suites whose gates the case trips (a run needs only these)."""
        return tuple(dict.fromkeys(g.split(".", 1)[0] for g in self.gates))

    @property
    def runnable(self) -> bool:
        """False while something the case needs does not exist yet."""
        return self.needs is None

    def env(self) -> dict[str, str]:
        """The same case through the environment, for a run by hand (`env ... harness gate`): ORCHESTRA_FAULTS,
        HARNESS_<KEY> for stack settings, HARNESS_<SUITE>_<OPTION> for suite options (lists comma-joined)."""
        if self.kind == "app":
            return {"ORCHESTRA_FAULTS": str(self.app)}
        if self.kind == "stack":
            return {f"HARNESS_{k.upper()}": _env_value(v) for k, v in self.stack.items()}
        if self.kind == "prometheus":  # the proxy exists only inside `harness selftest`: its options, by hand
            return {
                f"HARNESS_{s.upper()}_{k.upper()}": _env_value(v) for s, t in self.options.items() for k, v in t.items()
            }
        return {
            f"HARNESS_{suite.upper()}_{key.upper()}": _env_value(value)
            for suite, table in self.options.items()
            for key, value in table.items()
        }


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _case(name: str, raw: Any, where: str) -> FaultCase:
    at = f"{where}: case {name!r}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at} must be a table ([cases.{name}])")
    for key in raw:
        if key not in _KEYS:
            raise ConfigError(f"{at}: unknown key {key!r}{did_you_mean(key, _KEYS)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{at}: kind = {kind!r} is not one of {', '.join(KINDS)}")
    for other in {"app", "stack", "options", "prometheus"} - {kind} - ({"options"} if kind == "prometheus" else set()):
        if other in raw:
            raise ConfigError(f"{at}: a {kind} case has no {other!r} (it would be ignored)")
    gates = raw.get("gates")
    if not isinstance(gates, list) or not gates or not all(isinstance(g, str) and _GATE_ID.match(g) for g in gates):
        raise ConfigError(f"{at}: gates must be a non-empty list of gate ids ('<suite>.<name>')")
    expect = raw.get("expect", "fail")
    if expect not in EXPECT:
        raise ConfigError(f"{at}: expect = {expect!r} is not one of {', '.join(EXPECT)}")
    for key in ("about", "needs"):
        if not isinstance(raw.get(key, ""), str):
            raise ConfigError(f"{at}: {key} must be a string")
    if not raw.get("about"):
        raise ConfigError(f"{at}: about (one line) is required")
    if kind == "app" and not (isinstance(raw.get("app"), str) and raw["app"].strip()):
        raise ConfigError(f'{at}: an app case needs app = "<ORCHESTRA_FAULTS value>"')
    stack = raw.get("stack", {})
    if kind == "stack":
        if not isinstance(stack, dict) or not stack:
            raise ConfigError(f"{at}: a stack case needs stack = {{ <setting> = value }}")
        for key in stack:
            if key not in FILE_KEYS:
                raise ConfigError(f"{at}: stack: unknown setting {key!r}{did_you_mean(key, FILE_KEYS)}")
    if kind == "prometheus":
        from harness.stack.prometheus_faults import FAULTS as PROMETHEUS_FAULTS

        if raw.get("prometheus") not in PROMETHEUS_FAULTS:
            raise ConfigError(
                f"{at}: a prometheus case needs prometheus = one of {', '.join(map(repr, PROMETHEUS_FAULTS))}"
            )
    options = raw.get("options", {})
    if kind == "prometheus" and (
        not isinstance(options, dict) or not all(isinstance(t, dict) for t in options.values())
    ):
        raise ConfigError(f"{at}: options must be {{ <suite> = {{ <option> = value }} }}")
    if kind == "options" and (
        not isinstance(options, dict) or not options or not all(isinstance(t, dict) and t for t in options.values())
    ):
        raise ConfigError(f"{at}: an options case needs options = {{ <suite> = {{ <option> = value }} }}")
    return FaultCase(
        name=name,
        kind=kind,
        gates=tuple(gates),
        about=raw["about"],
        app=raw.get("app"),
        stack=dict(stack),
        options={s: dict(t) for s, t in options.items()},
        prometheus=raw.get("prometheus"),
        expect=expect,
        needs=raw.get("needs") or None,
    )


def parse_matrix(text: str, where: str) -> tuple[FaultCase, ...]:
    """Every case of a matrix document, validated; a ConfigError (one line) names what is wrong."""
    table = parse_toml(text, where, ConfigError)
    if set(table) - {"cases"} or not isinstance(table.get("cases"), dict):
        raise ConfigError(f"{where}: only [cases.<name>] tables are allowed")
    return tuple(_case(name, raw, where) for name, raw in table["cases"].items())


@cache
def _default() -> tuple[FaultCase, ...]:
    return parse_matrix(resources.files("harness").joinpath("faults.toml").read_text(), "harness/faults.toml")


def load_matrix(path: Path | None = None) -> tuple[FaultCase, ...]:
    """The shipped matrix (harness/faults.toml), or another file of the same shape."""
    if path is None:
        return _default()
    return parse_matrix(
        read_text(path, "fault matrix", ConfigError, missing="cannot be read (it does not exist)"), str(path)
    )


def cases_for(gate_id: str, matrix: Iterable[FaultCase] | None = None) -> list[FaultCase]:
    """The cases expected to trip one gate."""
    return [c for c in (load_matrix() if matrix is None else matrix) if gate_id in c.gates]


def for_phase(phase: Phase, matrix: Iterable[FaultCase] | None = None) -> list[FaultCase]:
    """The cases that trip at least one gate of the phase (its negative controls), in matrix order."""
    ids = {g.id for g in phase.gates}
    return [c for c in (load_matrix() if matrix is None else matrix) if ids & set(c.gates)]
