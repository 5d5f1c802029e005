"""Every number a user can set has a ceiling declared beside it, and every HARNESS_* variable is one the
harness reads (a typo gets a did-you-mean warning)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.config import _TYPES, BOUNDS
from harness.envnames import known_names, unknown_warnings
from harness.errors import ConfigError
from harness.load.profiles import CEILINGS, load_options
from harness.load.profiles import SPEC as LOAD
from harness.options import resolve

ROOT = Path(__file__).resolve().parents[2]


def specs():
    from harness.checklist.options import SPEC as CHECKLIST
    from harness.contract.options import SPEC as CONTRACT
    from harness.flags.options import SPEC as FLAGS
    from harness.live.options import SPEC as LIVE
    from harness.security.options import SPEC as SECURITY
    from harness.stack.containers import SPEC as CONTAINERS

    return [CHECKLIST, CONTRACT, FLAGS, LIVE, SECURITY, CONTAINERS, LOAD]


def test_every_number_of_every_suite_and_of_settings_has_a_ceiling():
    missing = []
    for spec in specs():
        for opt in spec.options:
            numeric = opt.kind in (int, float) or opt.key.endswith(("_s", "_ms")) and opt.kind is object
            bounded = opt.high is not None or (spec is LOAD and opt.key in CEILINGS)
            if numeric and not bounded:
                missing.append(f"{spec.suite}.{opt.key}")
    missing += [k for k, kind in _TYPES.items() if kind in (int, float) and k not in BOUNDS]
    assert missing == []


@pytest.mark.parametrize(
    ("spec_name", "env", "says"),
    [
        (
            "flags",
            {"HARNESS_FLAGS_USERS": "99999999999999999999"},
            "users = 99999999999999999999 is above its bound: at most 1,000,000",
        ),
        ("flags", {"HARNESS_FLAGS_DEADLINE_S": "1e12"}, "at most 3,600"),
        ("live", {"HARNESS_LIVE_STEP": "2h"}, "at most 3,600"),
        ("live", {"HARNESS_LIVE_WATCH": "9000h"}, "at most 2,592,000"),
        ("security", {"HARNESS_SECURITY_MAX_PAGES": "10000000"}, "at most 100,000"),
    ],
)
def test_a_number_above_its_ceiling_is_one_line_naming_the_bound(spec_name, env, says):
    spec = next(s for s in specs() if s.suite == spec_name)
    with pytest.raises(ConfigError, match=re.escape(says)):
        resolve(spec, env=env)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        ({"users": 1_000_000_000}, "users = 1000000000 is above its bound: at most 100,000"),
        ({"spawn_rate": "1e9"}, "spawn_rate"),
        ({"duration_s": "999h"}, "at most 86,400"),
        ({"processes": 100_000}, "at most 256"),
    ],
)
def test_load_numbers_have_ceilings(flags, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_options({}, phase="load", root=ROOT, env={}, flags=flags)


def test_a_mistyped_variable_gets_a_did_you_mean_and_a_known_one_nothing():
    lines = unknown_warnings({"HARNESS_PHAES": "smoke", "HARNESS_PHASE": "pr", "HARNESS_FLAGS_USRES": "5", "PATH": "/"})
    assert len(lines) == 2
    assert "HARNESS_FLAGS_USRES" in lines[0] and "did you mean HARNESS_FLAGS_USERS?" in lines[0]
    assert "HARNESS_PHAES" in lines[1] and "did you mean HARNESS_PHASE?" in lines[1]


def test_every_harness_variable_the_code_reads_is_known():
    """A HARNESS_* name written in the code (read from the environment) must not draw the warning."""
    constants = {"HARNESS_SELECTOR", "HARNESS_BASELINE_SELECTOR", "HARNESS_PHAES"}  # PromQL labels, the doc's typo
    found = set()
    for path in (ROOT / "harness").rglob("*.py"):
        found |= set(re.findall(r"HARNESS_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert sorted(found - constants - known_names()) == []
