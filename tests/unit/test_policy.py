"""The policy: the guide's defaults, and a team's override merged per phase."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.policy import load_policy


def test_defaults_carry_the_guides_phases_and_numbers():
    policy = load_policy()
    assert list(policy.phases) == [
        *("internal", "beta", "canary-10", "canary-25", "canary-50", "canary-75", "full"),
        "nightly",  # not a rollout phase: the nightly load job's gates
    ]
    gates = {g.id: g for g in policy.phase("internal").gates}
    assert (gates["load.p95_ms"].op, gates["load.p95_ms"].threshold) == ("<", 2000)
    assert (gates["load.error_ratio"].op, gates["load.error_ratio"].threshold) == ("<", 0.001)
    assert (gates["load.rps"].op, gates["load.rps"].threshold) == (">", 1000)
    ws = {g.id: g for g in policy.phase("canary-50").gates}["live.websocket_connections"]
    assert (ws.op, ws.threshold) == ("<", 900)
    assert policy.phase("internal").suites == ("smoke", "contract", "security", "load")


def test_unknown_phase_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown phase 'canary10' \(did you mean 'canary-10'\?\)"):
        load_policy().phase("canary10")


def test_override_updates_a_threshold_adds_and_drops_gates(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text(
        "[phases.internal]\n"
        'drop = ["contract.all"]\n'
        'gates = [{ id = "load.p95_ms", threshold = 1500 },\n'
        '         { id = "load.p99_ms", suite = "load", metric = "p99_ms", op = "<", threshold = 4000 }]\n'
        '[phases.hotfix]\nlike = "internal"\ndescription = "emergency"\n'
    )
    policy = load_policy(f)
    gates = {g.id: g for g in policy.phase("internal").gates}
    assert gates["load.p95_ms"].threshold == 1500
    assert gates["load.p95_ms"].op == "<"
    assert "load.p99_ms" in gates and "contract.all" not in gates
    assert policy.phase("hotfix").description == "emergency"
    assert "defaults +" in policy.source


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[phases.internal]\ngates = [{ id = "x.y", suite = "x", metric = "m", op = "~", threshold = 1 }]\n',
            "needs op",
        ),
        ('[phases.internal]\ngates = [{ id = "x.y", suite = "x", treshold = 1 }]\n', "did you mean 'threshold'"),
        ('[phases.internal]\ntrafic = "1"\n', "did you mean 'traffic'"),
        ('[phases.x]\nlike = "nope"\n', "unknown phase 'nope'"),
        ("[phases.internal\n", "not valid TOML"),
    ],
)
def test_bad_override_is_one_clear_config_error(tmp_path, text, message):
    f = tmp_path / "policy.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_policy(f)


def test_missing_override_file_says_where(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")
