"""The reference service's pure parts: the guide's feature-flag semantics, fault and settings parsing."""

from __future__ import annotations

import hashlib
import json

import pytest

from app.faults import FAULTS, Faults, parse_faults
from app.feature_flags import DEFAULT_FLAGS, FeatureFlags, merge_flags


def guide_is_enabled(flags: dict, flag: str, user_id: str | None = None) -> bool:
    """The deployment guide's FeatureFlags.is_enabled, verbatim in logic: the oracle."""
    if flag not in flags:
        return False
    config = flags[flag]
    if not config["enabled"]:
        return False
    if user_id and user_id in config["allowlist"]:
        return True
    if user_id:
        hash_val = int(hashlib.md5(f"{flag}{user_id}".encode()).hexdigest(), 16)
        return (hash_val % 100) < config["rollout_percentage"]
    return config["rollout_percentage"] == 100


def test_flags_match_the_guide_for_many_users():
    ff = FeatureFlags()
    users = [None, "", "beta-users", "internal-testing", *(f"user-{i}" for i in range(2000))]
    for flag in [*DEFAULT_FLAGS, "no_such_flag"]:
        for user in users:
            assert ff.is_enabled(flag, user) == guide_is_enabled(DEFAULT_FLAGS, flag, user), (flag, user)


def test_percentage_rollout_is_roughly_the_percentage():
    ff = FeatureFlags()
    on = sum(ff.is_enabled("swarm_intelligence", f"u{i}") for i in range(4000))
    assert 0.45 < on / 4000 < 0.55


def test_override_merges_per_flag_and_validates():
    flags = merge_flags(json.dumps({"advanced_memory": {"enabled": True, "rollout_percentage": 100}}))
    assert flags["advanced_memory"]["allowlist"] == ["internal-testing"]
    assert FeatureFlags(flags).is_enabled("advanced_memory") is True
    with pytest.raises(ValueError, match="rollout_percentage"):
        merge_flags(json.dumps({"v2_api": {"rollout_percentage": 101}}))
    with pytest.raises(ValueError, match="not valid JSON"):
        merge_flags("{")


def test_faults_parse_and_reject_unknown_names():
    assert parse_faults(" chat_5xx, ws_no_pong ,") == {"chat_5xx", "ws_no_pong"}
    assert parse_faults(None) == frozenset()
    with pytest.raises(ValueError, match="unknown fault.*chat_500"):
        parse_faults("chat_500")
    faults = Faults.of({"health_503"})
    assert faults.active("health_503") and not faults.active("chat_5xx")
    with pytest.raises(KeyError):
        faults.active("typo")
    assert {"health_503", "chat_5xx", "ws_no_pong", "metrics_missing"} <= set(FAULTS)


def test_the_app_images_requirements_are_project_dependencies():
    """app/requirements.txt (what the app image installs) must not drift from pyproject's dependencies."""
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    declared = {
        re.split(r"[\[<>=~ ]", d, maxsplit=1)[0].lower()
        for d in tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    needed = [line.split("#")[0].strip() for line in (root / "app" / "requirements.txt").read_text().splitlines()]
    names = {re.split(r"[\[<>=~ ]", n, maxsplit=1)[0].lower() for n in needed if n}
    assert names and names <= declared, f"not in pyproject dependencies: {sorted(names - declared)}"
