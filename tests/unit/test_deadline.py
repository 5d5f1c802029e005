"""No check waits forever: past --harness-check-timeout a check is stopped and recorded as `error`."""

from __future__ import annotations

import time

import pytest

from harness.evidence import read_evidence
from harness.target import TARGET_ENV, Target

pytest_plugins = ["pytester"]

SUITE = """
import socket, time
import pytest

@pytest.mark.check("smoke.hangs")
def test_hangs_on_a_socket():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    client.recv(1)  # nobody ever writes: blocks forever without a deadline

@pytest.fixture
def slow_setup():
    time.sleep(30)

@pytest.mark.check("smoke.slow_setup")
def test_slow_setup(slow_setup):
    pass

@pytest.mark.check("smoke.quick")
def test_quick():
    pass

@pytest.mark.check_timeout(0)
@pytest.mark.check("load.own_cap")
def test_own_cap():
    time.sleep(1.5)
"""


def test_a_check_past_its_deadline_is_an_error_not_a_hang(pytester, monkeypatch):
    pytester.makeconftest(
        'pytest_plugins = ["harness.plugins.target", "harness.plugins.evidence", "harness.plugins.deadline"]'
    )
    pytester.mkdir("smoke")
    (pytester.path / "smoke" / "test_h.py").write_text(SUITE)
    monkeypatch.setenv(TARGET_ENV, Target("http://x").to_json())
    out = pytester.path / "evidence.json"
    t0 = time.monotonic()
    pytester.runpytest_subprocess(
        "smoke", "--harness-evidence", str(out), "--harness-check-timeout", "1", "-p", "no:cacheprovider"
    )
    assert time.monotonic() - t0 < 20
    by_id = {r.id: r for r in read_evidence(out).records}
    hang = by_id["smoke.hangs"]
    assert hang.outcome == "error"
    assert "call did not finish within 1 s (check_timeout_s)" in hang.message
    assert by_id["smoke.slow_setup"].outcome == "error"
    assert "setup did not finish within 1 s" in by_id["smoke.slow_setup"].message
    assert by_id["smoke.quick"].outcome == "passed"
    assert by_id["load.own_cap"].outcome == "passed"  # opted out: bounded by its own cap


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-3"])
def test_check_timeout_must_be_finite_and_positive(value):
    from harness.config import load_settings
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="check_timeout_s .* must be a finite number > 0"):
        load_settings({}, env={"HARNESS_CHECK_TIMEOUT_S": value})
