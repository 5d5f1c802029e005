"""The suite registry: every validation suite, the harness's own and a team's, is an entry point of the group
`harness.suites` whose object is a `Suite` (or a table of its fields). The gate, the runner, the report and the
CLI read this registry; none of them lists suites by hand.

    [project.entry-points."harness.suites"]
    team_headers = "team_suite:SUITE"

A broken entry point (it does not import, its object is no Suite, a field is bad) or two suites with one id is
bad input of the user's installation: one ConfigError line (exit 64) naming the distribution and the field,
never a traceback. See docs/reference/suite-entry-points.md."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

GROUP = "harness.suites"
_ID = re.compile(r"[a-z][a-z0-9_-]{0,39}")  # the first part of a gate id ('<suite>.<name>', harness/policy.py)
_FOLDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # one folder name under reports/
_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")  # "module:attribute"
_PACKAGE = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*")
_TEMPLATE = re.compile(r"[a-z0-9_-]+\.html\.j2")
MAX_ORDER = 1000
MAX_FLAGS = 16
NEEDS = ("prometheus",)  # what a suite may ask a stack the harness starts to bring


@dataclass(frozen=True, slots=True)
class Suite:
    """What a suite declares. Only `id` is required; see docs/reference/suite-entry-points.md."""

    id: str
    tests: str | None = None  # None: <suites dir>/<id> of the harness home; else a package holding test_*.py
    options: str | None = None  # "module:function", (Settings) -> options; a bad value raises ConfigError (64)
    reports: str | None = None  # its folder under reports/ (default: the id)
    destructive: bool | str = False  # changes data: never on a target the harness did not start (a text: what)
    section: str | None = None  # "module:function", (records, folder, secrets) -> dict | None: its report section
    template: str | None = None  # the harness's own section template (report/templates/sections/); None: a table
    title: str | None = None  # the section's heading (default: the id)
    order: int = 500  # where its section stands in report.html (lower first)
    lists_checks: bool = False  # its section shows every check of it (else they go to 'Other checks' too)
    flags: tuple[str, ...] = ()  # `harness gate` flags this suite owns: handed down in Settings.suite_flags[id]
    progress: str | None = None  # "module:function", (Settings, folder) -> (path, text): its live numbers
    needs: tuple[str, ...] = ()  # what a stack the harness starts must bring for it: "prometheus"
    source: str = "built-in"  # filled in by the registry: the distribution and entry point that declared it

    @property
    def changes(self) -> str:
        """What it changes, for the line that refuses it on a target the harness did not start."""
        return self.destructive if isinstance(self.destructive, str) else f"the {self.id} suite changes data"

    @property
    def folder(self) -> str:
        return self.reports or self.id

    def tests_dir(self, suites_dir: Path) -> Path | None:
        """Where its test files are: <suites_dir>/<id>, or its package's folder (None if that does not import)."""
        if self.tests is None:
            return suites_dir / self.id
        spec = importlib.util.find_spec(self.tests) if _importable(self.tests) else None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        return Path(locations[0]) if locations else None

    def call(self, field: str, *args: Any) -> Any:
        """Call the function one of its fields names. It failing to import is one ConfigError line."""
        return resolve(self, field)(*args)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name.split(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def resolve(suite: Suite, field: str) -> Callable[..., Any]:
    ref = getattr(suite, field)
    module, _, attr = ref.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except Exception as exc:  # noqa: BLE001 - a third party's import error: one line naming it
        raise ConfigError(
            f"suite {suite.id!r} ({suite.source}): field {field!r}: {ref} cannot be loaded "
            f"({type(exc).__name__}: {exc}); fix or uninstall that distribution"
        ) from None
    if not callable(fn):
        raise ConfigError(f"suite {suite.id!r} ({suite.source}): field {field!r}: {ref} is not callable")
    return fn


def _bad(where: str, field: str, what: str) -> ConfigError:
    return ConfigError(f"{where}: field {field!r} {what}; fix or uninstall that distribution")


def validate(raw: Any, where: str, name: str | None = None) -> Suite:
    """A Suite from what an entry point loaded (a Suite, or a mapping of its fields), checked field by field."""
    if isinstance(raw, Mapping):
        known = {f.name for f in fields(Suite)} - {"source"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise _bad(where, unknown[0], f"is not a suite field (fields: {', '.join(sorted(known))})")
        if "id" not in raw:
            raise _bad(where, "id", "is missing")
        raw = Suite(**{k: tuple(v) if k in ("flags", "needs") and isinstance(v, list) else v for k, v in raw.items()})
    if not isinstance(raw, Suite):
        raise ConfigError(
            f"{where}: the entry point's object is a {type(raw).__name__}, not a harness.registry.Suite (or a table of "
            "its fields); fix or uninstall that distribution"
        )
    s = raw
    if not isinstance(s.id, str) or not _ID.fullmatch(s.id):
        raise _bad(where, "id", f"is {s.id!r}: lower-case letters, digits, '_' or '-', starting with a letter")
    if name is not None and name != s.id:
        raise _bad(where, "id", f"is {s.id!r} but the entry point is named {name!r}: name it after the id")
    for field in ("options", "section", "progress"):
        value = getattr(s, field)
        if value is not None and (not isinstance(value, str) or not _REF.fullmatch(value)):
            raise _bad(where, field, f"is {value!r}, not 'module:function'")
    if s.tests is not None and (not isinstance(s.tests, str) or not _PACKAGE.fullmatch(s.tests)):
        raise _bad(where, "tests", f"is {s.tests!r}, not a package name (or absent for a suite of the harness home)")
    if s.reports is not None and (not isinstance(s.reports, str) or not _FOLDER.fullmatch(s.reports)):
        raise _bad(where, "reports", f"is {s.reports!r}, not one folder name")
    text = isinstance(s.destructive, str)
    if not isinstance(s.destructive, bool | str) or (text and not 0 < len(s.destructive) <= 200):
        raise _bad(where, "destructive", f"is {s.destructive!r}: true, false, or what it changes (1 to 200 characters)")
    if s.template is not None and (not isinstance(s.template, str) or not _TEMPLATE.fullmatch(s.template)):
        raise _bad(where, "template", f"is {s.template!r}, not a template name of the harness ('name.html.j2')")
    if s.template is not None and s.section is None:
        raise _bad(where, "template", "needs a section function")
    if s.title is not None and (not isinstance(s.title, str) or not 0 < len(s.title) <= 80):
        raise _bad(where, "title", "must be a text of 1 to 80 characters")
    if not isinstance(s.lists_checks, bool):
        raise _bad(where, "lists_checks", f"is {s.lists_checks!r}, not true or false")
    if isinstance(s.order, bool) or not isinstance(s.order, int) or not 0 <= s.order <= MAX_ORDER:
        raise _bad(where, "order", f"is {s.order!r}, not a whole number from 0 to {MAX_ORDER}")
    if not isinstance(s.needs, tuple) or not set(s.needs) <= set(NEEDS):
        raise _bad(where, "needs", f"is {s.needs!r}: a list of {', '.join(repr(n) for n in NEEDS)}")
    flags = s.flags
    if not isinstance(flags, tuple) or len(flags) > MAX_FLAGS or not all(isinstance(f, str) for f in flags):
        raise _bad(where, "flags", f"must be a list of at most {MAX_FLAGS} flag names")
    return s


def _where(ep: importlib.metadata.EntryPoint) -> str:
    dist = ep.dist
    who = f"distribution {dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"entry point {ep.name!r} = {ep.value!r} of {who} (group {GROUP})"


@cache
def suites() -> dict[str, Suite]:
    """Every registered suite by id, in report order. ConfigError (64) for a broken entry point or a clash."""
    found: dict[str, Suite] = {}
    seen: dict[str, str] = {}
    for ep in importlib.metadata.entry_points(group=GROUP):
        where = _where(ep)
        if ep.name in seen and seen[ep.name] == where:
            continue  # the same distribution seen twice on sys.path (an editable install beside a wheel)
        try:
            raw = ep.load()
        except Exception as exc:  # noqa: BLE001 - a third party's import error: one line naming it
            raise ConfigError(f"{where}: does not load ({type(exc).__name__}: {exc}); fix or uninstall it") from None
        suite = validate(raw, where, ep.name)
        if suite.id in found:
            raise ConfigError(
                f"suite id {suite.id!r} is declared twice: by {seen[suite.id]} and by {where}; uninstall one of them"
            )
        found[suite.id] = replace(suite, source=where)
        seen[suite.id] = where
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def get(suite_id: str) -> Suite:
    """The registered suite, or the defaults for a folder of the suites dir that no entry point declares."""
    return suites().get(suite_id) or Suite(id=suite_id, source="a folder of the suites dir")


def destructive() -> set[str]:
    return {s.id for s in suites().values() if s.destructive}


def any_needs(suite_ids: Any, what: str) -> bool:
    """Whether one of these suites needs `what` from a stack the harness starts (its `needs` field)."""
    return any(what in get(s).needs for s in suite_ids)


def ids() -> tuple[str, ...]:
    return tuple(suites())


def claim_flags(flags: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Pop from a command's flags those a suite owns (its `flags` field): {suite id: {flag: value}}."""
    out: dict[str, dict[str, Any]] = {}
    for suite in suites().values():
        mine = {k: flags.pop(k) for k in suite.flags if k in flags}
        if mine:
            out[suite.id] = mine
    return out


def owner(flag: str) -> Suite:
    """The suite that owns a `harness gate` flag (ConfigError if none: a harness bug, said in one line)."""
    for suite in suites().values():
        if flag in suite.flags:
            return suite
    raise ConfigError(f"no registered suite owns the flag {flag!r}")
