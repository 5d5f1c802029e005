"""Load profiles and the load suite's options: defaults here, overrides from [tool.harness.load].

    [tool.harness.load]
    profile = "smoke"                       # default: the profile named like the phase, else smoke
    locustfile = "tests/load/locustfile.py"
    history_file = "reports/history/load.jsonl"

    [tool.harness.load.regression]
    window = 5          # compare with the last N good runs of the same profile
    min_runs = 3        # fewer good runs than this: no baseline, the regression gate is missing
    margin = 0.2        # worse than their median by more than 20 % (and than their noise) = regression

    [tool.harness.load.profiles.smoke]      # any field of Profile; a new name starts from smoke's values
    users = 40
    weights = { chat = 6, health = 3, websocket = 1 }

The same options come from the environment (HARNESS_LOAD_PROFILE, HARNESS_LOAD_USERS,
HARNESS_LOAD_DURATION_S, HARNESS_LOAD_WORKERS, ...), and `harness load` flags win over both: they reach
the pytest child as data (Settings.suite_flags, harness.options), never through the environment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError, did_you_mean
from harness.options import Option, OptionSpec, absolute, resolve, within

USER_CLASSES = {"chat": "ChatUser", "health": "HealthUser", "websocket": "WebSocketUser"}
ENV_PREFIX = "HARNESS_LOAD_"


@dataclass(frozen=True, slots=True)
class Profile:
    """One load shape: how many users, how fast they arrive, how long, which traffic, on how many cores."""

    name: str
    users: int = 40
    spawn_rate: float = 40.0  # users started per second
    duration_s: float = 15.0  # steady run time after the spawn begins
    time_cap_s: float = 0.0  # hard cap for the whole Locust run; 0: duration + spawn + stop + 30 s
    processes: int = -1  # Locust --processes: -1 one per core, 1 a single process
    workers: int = 0  # > 0: distributed, a Locust master + N worker processes (overrides processes)
    weights: dict[str, int] = field(default_factory=lambda: {"chat": 6, "health": 3, "websocket": 1})
    wait_s: tuple[float, float] = (0.0, 0.0)  # think time between a user's tasks (min, max)
    request_timeout_s: float = 10.0
    stop_timeout_s: float = 10.0  # users finish their current request at the end (no survivors dropped)
    min_requests: int = 200  # fewer requests than this: the measurements are missing, not judged

    @property
    def cap_s(self) -> float:
        """The hard time cap: nothing of this run may live longer."""
        if self.time_cap_s:
            return self.time_cap_s
        return self.run_time_s + 30.0

    @property
    def run_time_s(self) -> float:
        """Locust's own --run-time, a safety net: the locustfile ends the run gracefully at duration_s."""
        return self.duration_s + self.users / self.spawn_rate + self.stop_timeout_s + 15.0

    @property
    def user_classes(self) -> list[str]:
        """Locust user classes with a weight, in a stable order."""
        return [USER_CLASSES[k] for k in USER_CLASSES if self.weights.get(k, 0) > 0]

    def plan(self) -> dict[str, Any]:
        """What the locustfile needs (HARNESS_LOAD_PLAN): weights, think time, timeouts."""
        return {
            "profile": self.name,
            "weights": dict(self.weights),
            "wait_s": list(self.wait_s),
            "request_timeout_s": self.request_timeout_s,
            "duration_s": self.duration_s,
        }

    def public(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_PROFILES: dict[str, Profile] = {
    # a short run for laptops and `tox -e load`: about 15 s of load
    "smoke": Profile("smoke"),
    # the pre-merge gate (phase pr): a short run, enough to judge p95, errors and WebSocket connects
    "pr": Profile("pr", users=20, spawn_rate=20, duration_s=8, min_requests=200),
    # the guide's run (k6 --vus 100 --duration 5m)
    "internal": Profile("internal", users=100, spawn_rate=20, duration_s=300, min_requests=5000),
    # the live suite's traffic on a stack the harness started (beta, canary, full): a few users for about 60 s,
    # one Locust process, so Prometheus sees a window with enough requests to judge
    "live": Profile("live", users=8, spawn_rate=8, duration_s=60, processes=1, wait_s=(0.05, 0.15), min_requests=100),
    # the nightly job: longer, so a slow leak or a regression shows
    "nightly": Profile("nightly", users=100, spawn_rate=20, duration_s=900, min_requests=20000),
}


@dataclass(frozen=True, slots=True)
class Regression:
    """How tonight is compared with the history of good runs."""

    window: int = 5
    min_runs: int = 3
    margin: float = 0.2


MAX_REMOTE_WORKERS = 1000
MAX_WORKERS_WAIT_S = 900.0


@dataclass(frozen=True, slots=True)
class MasterBind:
    """Locust's master on an address other hosts reach, waiting for workers started there (harness load-worker)."""

    host: str
    port: int
    expect_workers: int
    wait_s: float = 60.0  # Locust's --expect-workers-max-wait: fewer workers by then, the run is inconclusive

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_master_bind(value: Any, where: str) -> tuple[str, int]:
    """'198.18.0.2:5557', '0.0.0.0', '[::]:5557' -> (host, port); Locust's default port is 5557."""
    text = str(value).strip()
    m = re.fullmatch(r"\[([0-9a-fA-F:.]+)\](?::(\d+))?|([A-Za-z0-9._-]+)(?::(\d+))?", text)
    if not text or m is None:
        raise ConfigError(f"{where} = {value!r} is not HOST or HOST:PORT (e.g. 0.0.0.0:5557, 198.18.0.2)")
    host, port = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    number = int(port) if port else 5557
    if not 1 <= number <= 65535:
        raise ConfigError(f"{where} = {value!r}: the port must be 1-65535")
    return host, number


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """The load suite's validated options."""

    profile: Profile
    locustfile: Path
    history_file: Path
    regression: Regression
    allow_remote: bool = False
    record_history: bool = False
    master: MasterBind | None = None  # distributed over hosts: the master's address and the workers it waits for


_PROFILE_FIELDS = {f.name for f in fields(Profile)} - {"name"}
_ENV_FIELDS = ("users", "spawn_rate", "duration_s", "time_cap_s", "processes", "workers", "min_requests")
ENV_WHERE = "environment HARNESS_LOAD_*"
# Every key is also HARNESS_LOAD_<KEY>. The profile overrides (users ... min_requests) come from the
# environment and `harness load` flags only, and are checked by the profile's own rules (_profile_field).
SPEC = OptionSpec(
    "load",
    (
        Option("profile", str, flag="--profile"),  # None: the profile named like the phase, else smoke
        Option("locustfile", str),  # None: the load suite's own (<suites_dir>/load/locustfile.py)
        Option("history_file", str, "reports/history/load.jsonl", flag="--history-file"),
        Option("regression", dict, {}, env=False),
        Option("profiles", dict, {}, env=False),
        Option("users", object, file=False, flag="--users"),
        Option("spawn_rate", object, file=False),
        Option("duration_s", object, file=False, flag="--duration"),
        Option("time_cap_s", object, file=False),
        Option("processes", object, file=False, flag="--processes"),
        Option("workers", object, file=False, flag="--workers"),
        Option("min_requests", object, file=False),
        Option("master_bind", str, None, flag="--master-bind"),  # HOST[:PORT]: Locust's master for other hosts
        Option("expect_workers", object, 0, flag="--expect-workers"),  # workers on other hosts to wait for
        Option("expect_workers_wait_s", object, 60, high=MAX_WORKERS_WAIT_S),
        Option("history", bool, False, file=False, flag="--history"),  # append this run to the history
        Option(
            "allow_remote_load",
            bool,
            False,
            file=False,
            aliases=("HARNESS_ALLOW_REMOTE_LOAD",),
            flag="--allow-remote-load",
        ),
    ),
)


def parse_duration(value: Any, what: str) -> float:
    """30, "30", "30s", "5m", "1h30m" -> seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} = {value!r} is not a duration (e.g. 30, 30s, 5m)")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        parts = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text)
        if not text or parts is None:
            raise ConfigError(f"{what} = {value!r} is not a duration (e.g. 30, 30s, 5m)")
        h, m, s = (float(x) if x else 0.0 for x in parts.groups())
        seconds = h * 3600 + m * 60 + s
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{what} = {value!r} must be a positive duration")
    return seconds


def _number(value: Any, what: str, *, kind: type = float, low: float = 0, allow_low: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{what} = {value!r} is not a number")
    try:
        number = kind(value.strip()) if isinstance(value, str) else kind(value)
    except ValueError:
        raise ConfigError(f"{what} = {value!r} is not a valid {kind.__name__}") from None
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{what} = {value!r} is not a whole number")
    if not (number >= low if allow_low else number > low) or (kind is float and not math.isfinite(number)):
        raise ConfigError(f"{what} = {value!r} must be {'>=' if allow_low else '>'} {low:g}")
    return number


# the ceiling of every number of a profile: what one machine (or a Locust master and its workers) can hold
# and what a rollout's load test needs (the guide's longest run is the 15 min nightly; a soak of a day at most)
CEILINGS: dict[str, float] = {
    "users": 100_000,
    "min_requests": 1_000_000_000,
    "spawn_rate": 10_000,
    "request_timeout_s": 600,
    "duration_s": 86_400,
    "time_cap_s": 2 * 86_400,
    "stop_timeout_s": 600,
    "workers": 256,
    "processes": 256,
    "weights": 1_000,
    "wait_s": 3_600,
}


def _profile_field(key: str, value: Any, where: str) -> Any:
    got = _profile_value(key, value, where)
    high = CEILINGS[key]
    numbers = got.values() if isinstance(got, dict) else got if isinstance(got, tuple) else (got,)
    for number in numbers:
        within(key, number, high, where)
    return got


def _profile_value(key: str, value: Any, where: str) -> Any:
    what = f"{where} {key}"
    if key in ("users", "min_requests"):
        return _number(value, what, kind=int, low=1, allow_low=True)
    if key in ("spawn_rate", "request_timeout_s"):
        return _number(value, what)
    if key in ("duration_s",):
        return parse_duration(value, what)
    if key == "time_cap_s":
        return 0.0 if value in (0, "0") else parse_duration(value, what)
    if key == "stop_timeout_s":
        return float(_number(value, what, low=0, allow_low=True))
    if key == "workers":
        return _number(value, what, kind=int, low=0, allow_low=True)
    if key == "processes":
        n = _number(value, what, kind=int, low=-1, allow_low=True)
        if n == 0:
            raise ConfigError(f"{what} = 0: use -1 (one per core) or a positive count")
        return n
    if key == "weights":
        if not isinstance(value, dict):
            raise ConfigError(f"{what} must be a table like {{ chat = 6, health = 3, websocket = 1 }}")
        out = {}
        for name, w in value.items():
            if name not in USER_CLASSES:
                raise ConfigError(
                    f"{what}: unknown traffic {name!r}{did_you_mean(name, USER_CLASSES)}; "
                    f"known: {', '.join(USER_CLASSES)}"
                )
            out[name] = _number(w, f"{what}.{name}", kind=int, low=0, allow_low=True)
        if not any(out.values()):
            raise ConfigError(f"{what}: at least one weight must be > 0")
        return out
    if key == "wait_s":
        pair = [value, value] if isinstance(value, int | float | str) else value
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ConfigError(f"{what} = {value!r} must be seconds or [min, max]")
        low, high = (_number(v, what, low=0, allow_low=True) for v in pair)
        if high < low:
            raise ConfigError(f"{what} = {value!r}: max is below min")
        return (float(low), float(high))
    raise AssertionError(key)


def _apply(profile: Profile, raw: dict[str, Any], where: str, wheres: dict[str, str] | None = None) -> Profile:
    changes = {}
    for key, value in raw.items():
        if key not in _PROFILE_FIELDS:
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, _PROFILE_FIELDS)}")
        changes[key] = _profile_field(key, value, (wheres or {}).get(key, where))
    result = replace(profile, **changes)
    if result.users < len(result.user_classes):
        raise ConfigError(
            f"{where}: users = {result.users} is fewer than the {len(result.user_classes)} kinds of traffic weighted"
        )
    return result


def profiles_from(table: dict[str, Any]) -> dict[str, Profile]:
    """The default profiles with [tool.harness.load.profiles.<name>] merged on top."""
    out = dict(DEFAULT_PROFILES)
    raw_profiles = table.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raise ConfigError("[tool.harness.load] profiles must be a table of [profiles.<name>] tables")
    for name, raw in raw_profiles.items():
        where = f"[tool.harness.load.profiles.{name}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a table")
        out[name] = _apply(replace(out.get(name, DEFAULT_PROFILES["smoke"]), name=name), raw, where)
    return out


def _regression(raw: Any) -> Regression:
    where = "[tool.harness.load.regression]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    known = {f.name for f in fields(Regression)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, known)}")
    reg = Regression(
        window=within(
            "window", _number(raw.get("window", 5), f"{where} window", kind=int, low=1, allow_low=True), 1000, where
        ),
        min_runs=within(
            "min_runs",
            _number(raw.get("min_runs", 3), f"{where} min_runs", kind=int, low=1, allow_low=True),
            1000,
            where,
        ),
        margin=within("margin", _number(raw.get("margin", 0.2), f"{where} margin", low=0, allow_low=True), 100, where),
    )
    if reg.min_runs > reg.window:
        raise ConfigError(f"{where}: min_runs = {reg.min_runs} is larger than window = {reg.window}")
    return reg


def load_options(
    table: dict[str, Any],
    *,
    phase: str,
    root: Path,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    suites_dir: Path | None = None,
) -> LoadOptions:
    """Validate [tool.harness.load], then HARNESS_LOAD_* / HARNESS_ALLOW_REMOTE_LOAD from env, then the
    `harness load` flags (Settings.suite_flags["load"]), which win."""
    values = resolve(SPEC, table=table, env=env, flags=flags)
    profiles = profiles_from({"profiles": values["profiles"] or {}})
    name = values["profile"] or (phase if phase in profiles else "smoke")
    if name not in profiles:
        raise ConfigError(
            f"unknown load profile {name!r}{did_you_mean(name, profiles)}; profiles: {', '.join(profiles)}"
        )
    overrides = {key: values[key] for key in _ENV_FIELDS if values.given(key)}
    wheres = {
        key: ENV_WHERE if values.sources[key].startswith("environment") else f"flag {values.where(key)}"
        for key in overrides
    }
    profile = _apply(profiles[name], overrides, ENV_WHERE, wheres) if overrides else profiles[name]
    if profile.workers and profile.processes not in (-1, 1):
        raise ConfigError(f"load profile {name!r}: set workers (distributed) or processes, not both")
    master = _master(values, profile)
    # given: relative to the project; default: the load suite's own, wherever the suites are (a checkout or the wheel)
    locustfile = absolute(values["locustfile"], root) or (suites_dir or root / "tests") / "load" / "locustfile.py"
    if not locustfile.is_file():
        raise ConfigError(f"[tool.harness.load] locustfile {locustfile} does not exist; fix the path")
    return LoadOptions(
        profile=profile,
        locustfile=locustfile,
        history_file=absolute(values["history_file"], root) or root / "reports/history/load.jsonl",
        regression=_regression(values["regression"] if values["regression"] is not None else {}),
        allow_remote=bool(values["allow_remote_load"]),
        record_history=bool(values["history"]),
        master=master,
    )


def _master(values: Any, profile: Profile) -> MasterBind | None:
    """The distributed-over-hosts settings, checked together: an address and a worker count go in pairs."""
    keys = ("master_bind", "expect_workers", "expect_workers_wait_s")
    where = {k: f"{SPEC.table} {k}" if values.where(k) == SPEC.table else values.where(k) for k in keys}
    expect = _number(values["expect_workers"], where["expect_workers"], kind=int, low=0, allow_low=True)
    if expect > MAX_REMOTE_WORKERS:
        raise ConfigError(f"{where['expect_workers']} = {expect}: at most {MAX_REMOTE_WORKERS} workers")
    wait = _number(values["expect_workers_wait_s"], where["expect_workers_wait_s"], low=0)
    if wait > MAX_WORKERS_WAIT_S:
        raise ConfigError(f"{where['expect_workers_wait_s']} = {wait:g}: at most {MAX_WORKERS_WAIT_S:g} s")
    if not values["master_bind"]:
        if expect:
            raise ConfigError(
                f"{where['expect_workers']} = {expect} needs --master-bind HOST[:PORT] (an address of this host "
                "that the workers reach)"
            )
        return None
    host, port = parse_master_bind(values["master_bind"], where["master_bind"])
    if not expect:
        raise ConfigError(
            f"{where['master_bind']} = {values['master_bind']!r} needs --expect-workers N (how many workers "
            "on other hosts the master waits for)"
        )
    return MasterBind(host, port, expect, float(wait))


def load_options_for(settings: Settings, env: Mapping[str, str] | None = None) -> LoadOptions:
    """load_options() for a run: the file table and the CLI flags from Settings, the environment from env."""
    return load_options(
        settings.options("load"),
        phase=settings.phase,
        root=settings.project_root,
        env=env,
        flags=settings.suite_flags.get("load", {}),
        suites_dir=settings.suites_dir,
    )
