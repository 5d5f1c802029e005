"""One Settings object, built once: [tool.harness] / harness.toml -> HARNESS_* environment -> CLI flags."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.errors import ConfigError, did_you_mean
from harness.home import harness_home
from harness.jsonfile import parse_toml, read_text
from harness.redact import check_user_secrets, has_userinfo, strip_userinfo

STACKS = ("auto", "local", "containers", "external")
APP_TLS = ("off", "valid", "expired")  # the local stack's app: plain http, or https with a throwaway CA's cert
# [tool.harness.<table>] sub-tables besides those of the registered suites ([tool.harness.<suite id>])
OTHER_TABLES = ("containers", "service")


def suite_tables() -> tuple[str, ...]:
    """The sub-tables a project file may hold: every registered suite's (harness/registry.py), and the others."""
    from harness.registry import ids

    return (*ids(), *OTHER_TABLES)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run needs to know before it starts. Field docs double as `harness config` help."""

    phase: str = "internal"
    suites: tuple[str, ...] | None = None  # None: the phase's whole policy
    # operations ('METHOD /path' patterns) the team's policy drops from the phase (not user-settable: the gate sets
    # it from the policy); the suites leave them out without counting them as not run
    dropped_operations: tuple[str, ...] = ()
    stack: str = "auto"
    target: str | None = None
    # an external target's baseline deployment (blue/green: the stable one), for the live traffic the harness drives
    # (--drive-load: its users split between both); the canary judge still reads it through baseline_selector
    baseline_target: str | None = None
    token: str | None = field(default=None, repr=False)  # only from HARNESS_TOKEN, never from a file
    reports_dir: Path = Path("reports")
    suites_dir: Path = Path("tests")  # given: relative to the project; default: the harness's own (home/tests)
    policy_file: Path | None = None
    ready_timeout_s: float = 30.0
    external_timeout_s: float = 10.0
    check_timeout_s: float = 600.0  # each check (setup, call, teardown) of a suite must end within this
    app_port: int = 0  # 0: pick a free port
    app_workers: int = 1  # uvicorn worker processes of the local stack's app; 0: one per core (load runs)
    app_tls: str = "off"  # local stack: "valid" or "expired" serves the app over https (stack/certs.py)
    pg_bin_dir: Path | None = None
    redis_server: str = "redis-server"
    workers: int = 0  # pytest-xdist workers for the suites; 0: in one process
    app_image: str | None = None  # containers: test this image instead of building deploy/Dockerfile
    baseline_image: str | None = None  # containers: also start this image next to the candidate (blue/green)
    service_file: Path | None = None  # the service profile (service.toml); default: [tool.harness.service]
    allow_unsafe: bool = False  # a target the harness did not start: also call unsafe operations (flag/env only)
    baseline: bool = False  # local: also start a baseline app beside the candidate (ORCHESTRA_BASELINE_FAULTS)
    prometheus_bin: str = "prometheus"  # local: the Prometheus server the live phases start
    with_prometheus: bool = False  # set by the run, not by a file: the phase needs the live suite
    project_root: Path = Path(".")
    home: Path = field(default_factory=harness_home)  # the harness's own suites, deploy/ and policies/ (home.py)
    serve_db: Path = Path("reports/serve/serve.db")  # harness serve: verdicts by (phase, target, checksum)
    serve_targets: tuple[str, ...] = ()  # harness serve: the only targets a request may name (exact URLs)
    serve_ttl_s: float = 3600.0  # harness serve: how long a verdict is reused for the same key
    serve_run_timeout_s: float = 900.0  # harness serve: a gate run is stopped (inconclusive) after this
    serve_queue: int = 8  # harness serve: runs waiting to start; one more is refused (409)
    serve_workers: int = 1  # harness serve: gate runs at the same time (never two for one phase and target)
    serve_header_timeout_s: float = 10.0  # harness serve: a connection's request headers must be complete by then
    serve_max_connections: int = 1000  # harness serve: open connections; at the limit the oldest idle one is closed
    suite_options: dict[str, dict[str, Any]] = field(default_factory=dict)  # file tables, validated by each suite
    suite_flags: dict[str, dict[str, Any]] = field(default_factory=dict)  # CLI flags for a suite: win over all

    def to_json(self) -> str:
        """The whole run's settings as one JSON document for the suites' pytest child; never the token."""
        raw = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "token"}
        return json.dumps(raw, default=lambda v: str(v) if isinstance(v, Path) else list(v), indent=2)

    @classmethod
    def from_json(cls, text: str, token: str | None = None) -> Settings:
        """Settings from to_json() (the token comes from HARNESS_TOKEN, as it always does)."""
        raw = json.loads(text)
        kinds = {
            "reports_dir",
            "suites_dir",
            "policy_file",
            "pg_bin_dir",
            "project_root",
            "service_file",
            "serve_db",
            "home",
        }
        for key in kinds:
            if raw.get(key) is not None:
                raw[key] = Path(raw[key])
        if raw.get("suites") is not None:
            raw["suites"] = tuple(raw["suites"])
        raw["serve_targets"] = tuple(raw.get("serve_targets") or ())
        raw["dropped_operations"] = tuple(raw.get("dropped_operations") or ())
        token = token if token is not None else os.environ.get("HARNESS_TOKEN") or None
        return cls(**raw, token=token)

    def options(self, suite: str, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """The [tool.harness.<suite>] table (or harness.toml [<suite>]), empty when absent; with `keys`,
        any other key is a ConfigError with a did-you-mean hint."""
        table = dict(self.suite_options.get(suite, {}))
        if keys is not None:
            known = tuple(keys)
            for key in table:
                if key not in known:
                    raise ConfigError(f"[tool.harness.{suite}]: unknown key {key!r}{did_you_mean(key, known)}")
        return table


_TYPES: dict[str, type] = {
    "phase": str,
    "suites": tuple,
    "stack": str,
    "target": str,
    "baseline_target": str,
    "reports_dir": Path,
    "suites_dir": Path,
    "policy_file": Path,
    "ready_timeout_s": float,
    "external_timeout_s": float,
    "check_timeout_s": float,
    "app_port": int,
    "app_workers": int,
    "app_tls": str,
    "pg_bin_dir": Path,
    "redis_server": str,
    "workers": int,
    "app_image": str,
    "baseline_image": str,
    "service_file": Path,
    "allow_unsafe": bool,
    "serve_db": Path,
    "serve_targets": tuple,
    "serve_ttl_s": float,
    "serve_run_timeout_s": float,
    "serve_queue": int,
    "serve_workers": int,
    "serve_header_timeout_s": float,
    "serve_max_connections": int,
    "baseline": bool,
    "prometheus_bin": str,
}
NOT_FROM_FILE = ("allow_unsafe",)  # a flag (or HARNESS_ALLOW_UNSAFE) says so for this run, never a checked-in file
FILE_KEYS = tuple(k for k in _TYPES if k not in NOT_FROM_FILE)  # nor the token and project_root


def find_project_root(start: Path | None = None) -> Path:
    """The nearest directory at or above start holding harness.toml or a pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "harness.toml").is_file() or (d / "pyproject.toml").is_file():
            return d
    return here


def _read_file(root: Path) -> tuple[dict[str, Any], str]:
    """Return ([tool.harness] or harness.toml table, where it came from)."""
    for path in (root / "harness.toml", root / "pyproject.toml"):
        if not path.is_file():
            continue
        text = read_text(path, "project file", ConfigError, missing="does not exist")
        table = parse_toml(text, str(path), ConfigError)
        if path.name == "harness.toml":
            return table, str(path)
        table = table.get("tool", {}).get("harness", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.harness] must be a table")
        return table, f"{path} [tool.harness]"
    return {}, "defaults"


# documented bounds of the numeric settings: (low, high, low inclusive)
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "ready_timeout_s": (0, 3600, False),
    "external_timeout_s": (0, 600, False),
    "check_timeout_s": (0, 86400, False),
    "app_port": (0, 65535, True),
    "app_workers": (0, 64, True),
    "workers": (0, 64, True),
    "serve_ttl_s": (0, 30 * 86400, True),
    "serve_run_timeout_s": (0, 86400, False),
    "serve_queue": (0, 1000, True),
    "serve_workers": (1, 16, True),
    "serve_header_timeout_s": (0, 300, False),
    "serve_max_connections": (16, 100_000, True),
}
REQUIRED = ("phase", "stack", "reports_dir")  # an empty value is a mistake, not "the default"


def _coerce(key: str, value: Any, where: str) -> Any:
    kind = _TYPES[key]
    if isinstance(value, str) and not value.strip() and key in REQUIRED:
        raise ConfigError(f"{where}: {key} is empty; give a value or leave it out")
    try:
        if value is None or value == "":
            return None
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(s.strip() for s in items if str(s).strip())
        if kind is Path:
            return Path(value)
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise ValueError
            return text in ("1", "true", "yes", "on")
        if isinstance(value, bool) and kind in (int, float):
            raise TypeError
        if kind is int and isinstance(value, str):
            number: Any = int(value.strip())
        elif kind is float and isinstance(value, str):
            number = float(value.strip())
        elif kind is str and not isinstance(value, str):
            raise TypeError
        else:
            number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key} = {value!r} is not a valid {kind.__name__}") from None
    if key in BOUNDS:
        low, high, inclusive = BOUNDS[key]
        if not math.isfinite(number) or not (low <= number if inclusive else low < number) or number > high:
            span = f"{'>=' if inclusive else '>'} {low:g} and <= {high:g}"
            raise ConfigError(f"{where}: {key} = {value!r} must be a finite number {span}")
    return number


def load_settings(
    flags: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    root: Path | None = None,
) -> Settings:
    """Build Settings from the project file, then HARNESS_* environment, then flags (None = not given)."""
    env = dict(os.environ if env is None else env)
    check_user_secrets(env)  # before anything starts: a secret too short to redact is refused
    root = find_project_root(root)
    table, where = _read_file(root)
    values: dict[str, Any] = {}
    suite_options: dict[str, dict[str, Any]] = {}
    tables = suite_tables()
    for key, value in table.items():
        if key in tables and isinstance(value, dict):
            suite_options[key] = value
            continue
        if key in NOT_FROM_FILE:
            raise ConfigError(f"{where}: {key} is not taken from a file; say it for one run: --allow-unsafe")
        if key not in FILE_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}{did_you_mean(key, FILE_KEYS + tables)}")
        values[key] = _coerce(key, value, where)
    for key in _TYPES:
        name = f"HARNESS_{key.upper()}"
        if name in env:
            values[key] = _coerce(key, env[name], f"environment {name}")
    for key, value in (flags or {}).items():
        if value is not None:
            values[key] = _coerce(key, value, f"--{key.replace('_', '-')}")
    values["token"] = env.get("HARNESS_TOKEN") or None
    settings = replace(Settings(project_root=root, suite_options=suite_options), **values)
    if "suites_dir" not in values:  # the suites that ship with the harness, wherever it is installed
        settings = replace(settings, suites_dir=settings.home / "tests")
    return _validated(settings, explicit_stack=(flags or {}).get("stack") is not None)


def _validated(s: Settings, explicit_stack: bool = True) -> Settings:
    if s.stack not in STACKS:
        raise ConfigError(f"stack {s.stack!r} is not one of {', '.join(STACKS)}{did_you_mean(s.stack, STACKS)}")
    if s.suites is not None and not s.suites:
        raise ConfigError(
            "--suites names no suite; leave it out to run the whole phase, or name suites: smoke,contract"
        )
    if s.target:
        if has_userinfo(s.target):  # never sent, never printed: the password would land in every report
            raise ConfigError(
                f"--target {strip_userinfo(s.target)}: credentials in the URL (user:password@) are not accepted; "
                "put the token in HARNESS_TOKEN, not in the URL"
            )
        _check_url(s.target)
        if s.stack not in ("auto", "external") and explicit_stack:
            raise ConfigError(f"--target and --stack {s.stack} contradict each other; drop one of them")
        s = replace(s, stack="external")  # a target given anywhere wins over a stack from file or environment
    elif s.stack == "external":
        raise ConfigError("--stack external needs --target URL (or HARNESS_TARGET)")
    if s.baseline_target:
        if has_userinfo(s.baseline_target):
            raise ConfigError("--baseline-target: credentials in the URL (user:password@) are not accepted")
        _check_url(s.baseline_target, "baseline_target")
        if not s.target:
            raise ConfigError(
                "--baseline-target names a deployment's baseline, so it needs --target URL (a stack the harness "
                "starts has its own: --baseline)"
            )
    if s.app_tls not in APP_TLS:
        raise ConfigError(f"app_tls {s.app_tls!r} is not one of {', '.join(APP_TLS)}{did_you_mean(s.app_tls, APP_TLS)}")
    for url in s.serve_targets:
        _check_url(url, "serve_targets")
    root = s.project_root
    return replace(
        s,
        serve_db=s.serve_db if s.serve_db.is_absolute() else root / s.serve_db,
        reports_dir=s.reports_dir if s.reports_dir.is_absolute() else root / s.reports_dir,
        suites_dir=s.suites_dir if s.suites_dir.is_absolute() else root / s.suites_dir,
        policy_file=(s.policy_file if s.policy_file is None or s.policy_file.is_absolute() else root / s.policy_file),
        service_file=None if s.service_file is None else root / s.service_file,
    )


def early_reports_dir(flag: Path | str | None, env: dict[str, str] | None = None) -> Path:
    """Where this run's reports will go, found before anything is validated (so that a stale verdict can be
    removed first, whatever fails next): the flag, HARNESS_REPORTS_DIR, the project file, else reports/."""
    env = dict(os.environ if env is None else env)
    root = find_project_root()
    if flag is None and "HARNESS_REPORTS_DIR" in env and not env["HARNESS_REPORTS_DIR"].strip():
        raise ConfigError("environment HARNESS_REPORTS_DIR: reports_dir is empty; give a directory or unset it")
    raw: Any = flag or env.get("HARNESS_REPORTS_DIR")
    if not raw:
        try:
            raw = _read_file(root)[0].get("reports_dir")
        except ConfigError:
            raw = None
    path = Path(raw) if isinstance(raw, str | Path) and str(raw).strip() else Path("reports")
    return path if path.is_absolute() else root / path


def _check_url(url: str, where: str = "--target") -> None:
    """An http(s) URL with a host and, if given, a numeric port; a ConfigError naming what is wrong."""
    hint = "e.g. https://staging.example or http://127.0.0.1:8000"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ConfigError(f"{where} {url!r} holds whitespace or a control character; give the URL alone ({hint})")
    if len(url) > 2048:
        raise ConfigError(f"{where}: a URL of {len(url)} characters is longer than 2048; give the base URL ({hint})")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where} {url!r} must be an http:// or https:// URL ({hint})")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{where} {url!r} is not a valid URL ({exc}; {hint})") from None
    if not parts.hostname:
        raise ConfigError(f"{where} {url!r} has no host ({hint})")


def describe() -> list[tuple[str, str]]:
    """(key, default) rows for the configuration reference and `harness config`."""
    return [(f.name, repr(f.default)) for f in fields(Settings) if f.name in FILE_KEYS]
