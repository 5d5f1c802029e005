"""One options loader for every suite table: [tool.harness.<suite>] -> HARNESS_<SUITE>_<KEY> -> CLI flags.

A suite declares its options once, as an OptionSpec (key -> type, default, extra environment names,
validation), and reads them with suite_options(SPEC, settings):

    file table     Settings.suite_options[suite]   ([tool.harness.<suite>] or harness.toml [<suite>])
    environment    HARNESS_<SUITE>_<KEY>, then the option's documented short names (ZAP_API_URL, ...)
    CLI flags      Settings.suite_flags[suite]     (handed to the suites' pytest child as data, never as
                                                    environment variables; they win over everything)

Every problem is one ConfigError line naming the key and where its value came from; an unknown file
key gets a did-you-mean hint. Values of kind `object` are handed over as given, for the suite to check.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.errors import ConfigError, did_you_mean

KINDS = (str, int, float, bool, Path, tuple, dict, object)  # tuple: strings (comma-separated in the env)
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
DEFAULT = "default"

# check(key, value, where) -> value: validate (ConfigError naming key and where) and/or normalise
Check = Callable[[str, Any, str], Any]


@dataclass(frozen=True, slots=True)
class Option:
    """One key of a suite's options."""

    key: str
    kind: type = str
    default: Any = None
    aliases: tuple[str, ...] = ()  # documented short environment names, read after HARNESS_<SUITE>_<KEY>
    env: bool = True  # settable from the environment at all
    file: bool = True  # settable from the file table (False: environment and flags only)
    choices: tuple[str, ...] = ()
    check: Check | None = None  # runs on every value that is not the default
    flag: str | None = None  # the CLI flag that sets it (messages name it)
    high: float | None = None  # the ceiling of a number (after check: a duration's seconds); every number has one

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TypeError(f"option {self.key}: kind {self.kind!r} is not one of {KINDS}")


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """A suite's options. blank: what an empty environment value means, "unset" (ignored, the value
    from the file or the default stays) or "none" (the key is cleared: None, or an empty list)."""

    suite: str
    options: tuple[Option, ...]
    blank: str = "unset"

    def __post_init__(self) -> None:
        if self.blank not in ("unset", "none"):
            raise ValueError(f"blank must be 'unset' or 'none', not {self.blank!r}")

    @property
    def table(self) -> str:
        return f"[tool.harness.{self.suite}]"

    def option(self, key: str) -> Option:
        for opt in self.options:
            if opt.key == key:
                return opt
        raise KeyError(key)

    @property
    def file_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.options if o.file)

    def env_names(self, opt: Option) -> tuple[str, ...]:
        """The environment variables of one option, in the order they apply (a later one wins)."""
        if not opt.env:
            return ()
        return (f"HARNESS_{self.suite.upper()}_{opt.key.upper()}", *opt.aliases)


@dataclass(slots=True)
class Resolved:
    """A suite's option values, and where each came from ("default", the table, "environment NAME", "--flag")."""

    spec: OptionSpec
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def given(self, key: str) -> bool:
        """Set by the file, the environment or a flag (not the default)."""
        return self.sources.get(key, DEFAULT) != DEFAULT

    def where(self, key: str) -> str:
        """Where the value came from, for a message; the table when it is the default."""
        source = self.sources.get(key, DEFAULT)
        return self.spec.table if source == DEFAULT else source


def coerce(key: str, kind: type, value: Any, where: str) -> Any:
    """value as kind (strings from the environment parsed); ConfigError in one line when it is not one."""
    try:
        if value is None or (isinstance(value, str) and not value.strip() and kind is not object):
            return None
        if kind is object:
            return value
        if kind is dict:
            if not isinstance(value, dict):
                raise TypeError
            return value
        if kind is tuple:
            items = value.split(",") if isinstance(value, str) else value
            if not isinstance(items, list | tuple):
                raise TypeError
            return tuple(str(s).strip() for s in items if str(s).strip())
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in TRUE + FALSE:
                raise ValueError
            return text in TRUE
        if kind is Path:
            if not isinstance(value, str | os.PathLike):
                raise TypeError
            return Path(str(value).strip())
        if kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise TypeError
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            number = kind(value.strip()) if isinstance(value, str) else kind(value)
            if kind is float and not math.isfinite(number):
                raise ValueError
            return number
        if not isinstance(value, str):
            raise TypeError
        return value.strip()
    except (TypeError, ValueError):
        name = "list of strings" if kind is tuple else "table" if kind is dict else kind.__name__
        raise ConfigError(f"{where}: {key} = {value!r} is not a valid {name}") from None


def _accept(opt: Option, value: Any, where: str) -> Any:
    value = coerce(opt.key, opt.kind, value, where)
    if opt.choices and value is not None and value not in opt.choices:
        raise ConfigError(
            f"{where}: {opt.key} = {value!r} is not one of {', '.join(opt.choices)}{did_you_mean(value, opt.choices)}"
        )
    value = opt.check(opt.key, value, where) if opt.check is not None else value
    return within(opt.key, value, opt.high, where)


def within(key: str, value: Any, high: float | None, where: str) -> Any:
    """value, or one ConfigError line when a number is above its declared ceiling."""
    if high is not None and isinstance(value, int | float) and not isinstance(value, bool) and value > high:
        bound = f"{high:,.0f}" if float(high).is_integer() else f"{high:g}"
        raise ConfigError(f"{where}: {key} = {value!r} is above its bound: at most {bound}")
    return value


def resolve(
    spec: OptionSpec,
    *,
    table: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Resolved:
    """Defaults <- file table <- environment <- flags, each value typed and checked where it came from."""
    env = os.environ if env is None else env
    out = Resolved(spec, {o.key: o.default for o in spec.options}, {o.key: DEFAULT for o in spec.options})
    known = spec.file_keys
    for key, value in (table or {}).items():
        if key not in known:
            raise ConfigError(f"{spec.table}: unknown key {key!r}{did_you_mean(key, known)}")
        out.values[key], out.sources[key] = _accept(spec.option(key), value, spec.table), spec.table
    for opt in spec.options:
        for name in spec.env_names(opt):
            raw = env.get(name)
            if raw is None or (not raw.strip() and spec.blank == "unset"):
                continue
            where = f"environment {name}"
            out.values[opt.key], out.sources[opt.key] = _accept(opt, raw, where), where
    for key, value in (flags or {}).items():
        if value is None:
            continue
        try:
            opt = spec.option(key)
        except KeyError:
            raise ConfigError(f"no {spec.suite} option {key!r} for a command-line flag") from None
        where = opt.flag or f"--{key.replace('_', '-')}"
        out.values[key], out.sources[key] = _accept(opt, value, where), where
    return out


def suite_options(spec: OptionSpec, settings: Settings, env: Mapping[str, str] | None = None) -> Resolved:
    """The suite's options for this run: its file table and CLI flags from Settings, the environment from env."""
    return resolve(
        spec,
        table=settings.suite_options.get(spec.suite, {}),
        env=env,
        flags=settings.suite_flags.get(spec.suite, {}),
    )


# -- reusable checks -------------------------------------------------------------------------------


def positive(what: str = "number") -> Check:
    """The value must be > 0 (None is not a value)."""

    def check(key: str, value: Any, where: str) -> Any:
        if value is None or value <= 0:
            raise ConfigError(f"{where}: {key} must be a positive {what}")
        return value

    return check


def at_least(low: float) -> Check:
    def check(key: str, value: Any, where: str) -> Any:
        if value is None or value < low:
            raise ConfigError(f"{where}: {key} must be >= {low:g}")
        return value

    return check


def http_url(hint: str) -> Check:
    def check(key: str, value: Any, where: str) -> Any:
        if value and not str(value).startswith(("http://", "https://")):
            raise ConfigError(f"{where}: {key} = {value!r} must be an http:// URL {hint}")
        return value

    return check


def absolute(path: Path | str | None, root: Path) -> Path | None:
    """A configured path: absolute as given, else relative to the project root."""
    if path is None:
        return None
    p = Path(path)
    return p if p.is_absolute() else root / p
