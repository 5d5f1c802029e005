"""The flags suite's library and the policy's phase percentages: the guide's formula, the bounded sample,
the probe users, and `flags = { name = pct }` validated on load."""

from __future__ import annotations

import hashlib

import pytest

from app.feature_flags import FeatureFlags
from harness.errors import ConfigError
from harness.flags import PROBE, PROBE_OFF, allowlist_users, bucket, is_enabled, probe_configs, sample, share
from harness.policy import load_policy


def test_the_formula_is_the_guides_and_the_reference_apps():
    app = FeatureFlags()
    config = {"enabled": True, "rollout_percentage": 50, "allowlist": ["beta-users"]}
    for i in range(500):
        user = f"u{i}"
        expected = int(hashlib.md5(f"swarm_intelligence{user}".encode()).hexdigest(), 16) % 100 < 50
        assert is_enabled(config, "swarm_intelligence", user) is expected is app.is_enabled("swarm_intelligence", user)
    assert is_enabled(config, "x", "beta-users") is True
    assert is_enabled({**config, "enabled": False}, "x", "beta-users") is False


def test_the_bad_builds_differ_from_the_formula():
    good = FeatureFlags()
    skew, no_allow = FeatureFlags(bad_hash=True), FeatureFlags(bad_allowlist=True)
    users = [f"u{i}" for i in range(300)]
    assert any(skew.is_enabled("swarm_intelligence", u) != good.is_enabled("swarm_intelligence", u) for u in users)
    flags = no_allow.merged(probe_configs(30, allowlist_users(1, "t")), bad_hash=False, bad_allowlist=True)
    assert flags.is_enabled(PROBE, allowlist_users(1, "t")[0]) is False


def test_probe_allowlisted_users_are_above_every_step():
    users = allowlist_users(5, "p")
    assert len(set(users)) == 5
    assert all(bucket(PROBE, u) >= 90 and bucket(PROBE_OFF, u) >= 90 for u in users)


def test_sample_collects_every_user_and_reports_failures():
    def get(session, user):
        if user == "bad":
            return 500, None
        return 200, {"flags": {PROBE: user.endswith("1")}}

    s = sample(get, lambda: object(), ["a1", "a2", "bad", "b1"], batch=2, workers=2)
    assert s.wanted == 4 and set(s.reported) == {"a1", "a2", "b1"} and s.errors == ["bad: answered 500"]
    assert share(s.reported, PROBE) == pytest.approx(200 / 3)
    assert share(s.reported, PROBE, exclude=["a2"]) == 100.0


def test_a_sample_past_its_deadline_says_so():
    s = sample(lambda session, user: (200, {"flags": {}}), lambda: object(), ["a", "b"], batch=1, deadline_s=-1)
    assert s.timed_out and s.reported == {}


def test_phases_declare_flag_percentages_and_a_bad_one_is_one_line(tmp_path):
    policy = load_policy()
    assert policy.phase("canary-25").expected_flags == {"v2_api": 25}
    assert policy.phase("internal").expected_flags == {"v2_api": 100}
    team = tmp_path / "team.toml"
    team.write_text("[phases.canary-25]\nflags = { v2_api = 101 }\n")
    with pytest.raises(ConfigError, match=r"flags.v2_api = 101 must be an integer percentage from 0 to 100"):
        load_policy(team)
    team.write_text('[phases.mine]\nlike = "canary-50"\nflags = { swarm_intelligence = 5 }\n')
    assert load_policy(team).phase("mine").expected_flags == {"v2_api": 50, "swarm_intelligence": 5}
