"""Errors a user can cause: one clear line, a documented exit code, no traceback, nothing started."""

from __future__ import annotations

import json
import socket

import pytest

SMOKE_PHASE = ("--phase", "smoke", "--policy-file", "policies/smoke-only.toml")


def one_line_error(run) -> str:
    assert "Traceback" not in run.out + run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    assert lines[0].startswith("harness: error: ")
    return lines[0]


def test_unknown_phase_suggests_the_closest(harness):
    run = harness("gate", "--phase", "canary10")
    assert run.code == 64
    assert "did you mean 'canary-10'?" in one_line_error(run)
    assert not (run.reports / "verdict.json").exists()


@pytest.mark.parametrize(
    ("env", "hint"),
    [
        ({"HARNESS_REDIS_SERVER": "/nonexistent/redis-server"}, "apt-get install -y redis-server"),
        ({"HARNESS_PG_BIN_DIR": "/nonexistent/pg/bin"}, "apt-get install -y postgresql"),
    ],
)
def test_missing_server_binaries_say_how_to_install_them(harness, env, hint):
    run = harness("gate", "--suites", "smoke", **env)
    assert run.code == 64
    assert hint in one_line_error(run)


def test_a_busy_app_port_is_named(harness):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = harness("gate", "--suites", "smoke", "--app-port", str(port))
    assert run.code == 64
    line = one_line_error(run)
    assert f"app port {port}" in line and "already in use" in line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[phases.internal]\ngates = [{ id = "load.p95_ms", op = "=>" }]\n', "op = '=>' is not one of"),
        ('[phases.internal]\ngates = [{ id = "load.p95_ms", threshold = "fast" }]\n', "must be a number"),
        ("[phases]\ninternal = 5\n", "must be a table"),
    ],
)
def test_a_bad_team_policy_is_one_line_and_exit_64_before_anything_starts(harness, tmp_path, text, expected):
    policy = tmp_path / "team.toml"
    policy.write_text(text)
    run = harness("gate", "--phase", "internal", "--policy-file", str(policy))
    assert run.code == 64, run.out + run.err
    line = one_line_error(run)
    assert str(policy) in line and expected in line
    assert not (run.reports / "verdict.json").exists()


def test_bad_flag_value_is_usage(harness):
    run = harness("gate", "--workers", "lots")
    assert run.code == 64
    assert "lots" in one_line_error(run)


def test_report_of_a_malformed_verdict_is_one_line(harness, tmp_path):
    bad = tmp_path / "verdict.json"
    bad.write_text(json.dumps({"schema": "harness.verdict/v1", "verdict": "go"}))
    run = harness("report", str(bad))
    assert run.code == 2
    assert "is not a valid verdict (v1, v1.1 or v1.2)" in one_line_error(run)
    bad.write_text("{not json")
    assert harness("report", str(bad)).code == 2


def test_containers_without_a_docker_engine_is_one_clear_line(harness):
    run = harness("gate", "--stack", "containers", "--suites", "smoke", DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert run.code == 64
    line = one_line_error(run)
    assert "no Docker engine answers at unix:///nonexistent/docker.sock" in line


def test_auto_falls_back_to_local_and_says_why(harness):
    run = harness("gate", "--stack", "auto", *SMOKE_PHASE, DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert run.code == 0, run.out + run.err
    assert run.verdict["target"]["stack"] == "local"
    assert "auto: local (no Docker engine answers" in run.err
    assert any(n.startswith("auto: local") for n in run.verdict["notes"])
