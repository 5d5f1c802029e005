"""The policy: the guide's defaults, and a team's override merged per phase."""

from __future__ import annotations

import pytest

from harness.errors import ConfigError
from harness.policy import load_policy


def test_defaults_carry_the_guides_phases_and_numbers():
    policy = load_policy()
    assert list(policy.phases) == [
        *("internal", "beta", "canary-10", "canary-25", "canary-50", "canary-75", "full"),
        *("pr", "checklist", "load", "nightly"),  # not rollout phases: pre-merge, the checklist, load alone, nightly
    ]
    assert [p.name for p in policy.phases.values() if not p.rollout] == ["pr", "checklist", "load", "nightly"]
    gates = {g.id: g for g in policy.phase("internal").gates}
    assert (gates["load.p95_ms"].op, gates["load.p95_ms"].threshold) == ("<", 2000)
    assert (gates["load.error_ratio"].op, gates["load.error_ratio"].threshold) == ("<", 0.001)
    assert (gates["load.rps"].op, gates["load.rps"].threshold) == (">", 1000)
    ws = {g.id: g for g in policy.phase("canary-50").gates}["live.websocket_connections"]
    assert (ws.op, ws.threshold) == ("<", 900)
    assert policy.phase("internal").suites == (
        "smoke",
        "contract",
        "security",
        "load",
        "rollback",
        "flags",
        "checklist",
    )


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
            '[phases.internal]\ngates = [{ id = "load.y", suite = "load", metric = "m", op = "~", threshold = 1 }]\n',
            "op = '~' is not one of",
        ),
        (
            '[phases.internal]\ngates = [{ id = "load.p95_ms", op = "=>" }]\n',
            "op = '=>' is not one of .*did you mean '>='",
        ),
        (
            '[phases.internal]\ngates = [{ id = "load.p95_ms", threshold = "fast" }]\n',
            "threshold = 'fast' must be a number",
        ),
        (
            '[phases.internal]\ngates = [{ id = "load.x", suite = "lod", metric = "m", op = "<", threshold = 1 }]\n',
            "unknown suite 'lod' \\(did you mean 'load'\\?\\)",
        ),
        (
            '[phases.internal]\ngates = [{ id = "smoke.x", suite = "smoke", op = "<", threshold = 1 }]\n',
            "only apply to a metric gate",
        ),
        ('[phases.internal]\ngates = "smoke.health"\n', "gates must be a list of tables"),
        ('[phases.internal]\ndrop = ["smoke.helth"]\n', "drop names unknown gate 'smoke.helth' \\(did you mean"),
        ("[phases]\ninternal = 5\n", "phase 'internal' must be a table"),
        ("[phases.internal]\ntraffic = 5\n", "traffic = 5 must be a string"),
        ('[phases.internal]\ngates = [{ id = "x.y", suite = "x", treshold = 1 }]\n', "did you mean 'threshold'"),
        ('[phases.internal]\ntrafic = "1"\n', "did you mean 'traffic'"),
        ('[phases.x]\nlike = "nope"\n', "unknown phase 'nope'"),
        ("[phases.internal\n", "not valid TOML"),
        ("[phases.internal]\nreruns = 4\n", "reruns = 4 must be an integer from 0 to 3"),
        ('[phases.internal]\nreruns = "1"\n', "reruns = '1' must be an integer from 0 to 3"),
        ("[phases.internal]\nreruns = true\n", "reruns = True must be an integer"),
        ('[phases.internal]\ndrop = ["contract.openapi[POST /x]\\n"]\n', "drop names unknown gate"),
    ],
)
def test_bad_override_is_one_clear_config_error(tmp_path, text, message):
    f = tmp_path / "policy.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_policy(f)


def test_a_policy_file_that_is_not_utf8_is_one_line(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_bytes(b'[phases.internal]\ndescription = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_policy(f)


def test_a_suite_present_in_this_build_is_known(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text('[phases.mine]\ngates = [{ id = "perf.x", suite = "perf" }]\n')
    with pytest.raises(ConfigError, match="unknown suite 'perf'"):
        load_policy(f)
    assert load_policy(f, suites={"perf"}).phase("mine").suites == ("perf",)


def test_missing_override_file_says_where(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_policy(tmp_path / "nope.toml")


def test_a_team_policy_sets_reruns_and_what_it_drops_is_remembered_for_the_notes(tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text(
        '[phases.canary-25]\nreruns = 0\ndrop = ["canary.score", "canary.critical"]\n'
        '[phases.team]\nlike = "pr"\ndrop = ["contract.openapi[POST /api/admin/reset]"]\n'
    )
    policy = load_policy(f)
    canary = policy.phase("canary-25")
    assert canary.reruns == 0 and canary.dropped == ("canary.score", "canary.critical")
    assert "canary.score" not in {g.id for g in canary.gates}
    team = policy.phase("team")
    assert team.reruns == 1 and team.dropped == ("contract.openapi[POST /api/admin/reset]",)
    assert {g.id for g in team.gates} == {g.id for g in policy.phase("pr").gates}  # a check drop keeps its gate
    assert all(p.dropped == () and p.reruns == 1 for p in load_policy().phases.values())  # the defaults drop nothing


def test_a_team_policy_drops_an_operation_from_the_phase_and_the_scope_never_calls_it_nor_misses_it(tmp_path):
    from harness.service.operations import DROPPED, Scope
    from harness.service.profile import Operations

    f = tmp_path / "policy.toml"
    f.write_text('[phases.pr]\ndrop = ["* /api/admin/*", "contract.openapi[GET /x]"]\n')
    phase = load_policy(f).phase("pr")
    assert phase.dropped_operations == ("* /api/admin/*",)
    scope = Scope(Operations(), ephemeral=False, allow_unsafe=True, dropped=phase.dropped_operations)
    assert scope.excluded("POST", "/api/admin/reset") == DROPPED and scope.missed("POST", "/api/admin/reset") is None
    assert scope.excluded("POST", "/api/accounts") is None
    no_unsafe = Scope(Operations(), ephemeral=False, allow_unsafe=False, dropped=phase.dropped_operations)
    assert "--allow-unsafe" in (no_unsafe.missed("POST", "/api/accounts") or "")
    f.write_text('[phases.pr]\ndrop = ["FETCH /api"]\n')
    with pytest.raises(ConfigError, match="drop names unknown gate 'FETCH /api'"):
        load_policy(f)
