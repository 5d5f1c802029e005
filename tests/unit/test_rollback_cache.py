"""The rollback's cache invalidation against a real redis-server: the deployment guide's snippet DELetes
"feature_flags:*" and "sessions:*" as key names and leaves every real key; the harness's SCAN + UNLINK
leaves none, and keeps what is not the deployment's cache."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import redis

from app.faults import Faults, from_env
from app.feature_flags import FeatureFlags
from harness.rollback.cache import GUIDE_PATTERNS, guide_snippet, invalidate, remaining


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(redis_url) -> str:
    return redis_url


@pytest.fixture
def r(server) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server, decode_responses=True)
    client.flushdb()
    for i in range(1200):  # more than one SCAN batch and one UNLINK batch
        client.set(f"v2:session:s{i}:last", "x")
    for name in ("v2_api", "swarm_intelligence"):
        client.set(f"feature_flags:{name}", "cached")
    for i in range(3):
        client.set(f"sessions:s{i}", "u")
    client.set("orchestra:harness:abc:faults", "1 ")  # not the deployment's cache: stays
    yield client
    client.close()


def test_the_guides_snippet_leaves_the_flag_and_session_keys(r):
    guide_snippet(r)
    left = set(remaining(r, GUIDE_PATTERNS, limit=100))
    assert left == {
        "feature_flags:v2_api",
        "feature_flags:swarm_intelligence",
        "sessions:s0",
        "sessions:s1",
        "sessions:s2",
    }
    assert not r.keys("v2:*")  # its SCAN loop does work for v2:*


def test_scan_and_unlink_leaves_none_and_spares_other_keys(r):
    removed = invalidate(r, batch=500)
    assert removed == 1200 + 2 + 3
    assert remaining(r, GUIDE_PATTERNS) == []
    assert r.get("orchestra:harness:abc:faults") == "1 "


def test_a_key_named_with_a_star_is_matched_by_the_pattern_too(r):
    r.set("feature_flags:*", "literal")
    invalidate(r)
    assert r.exists("feature_flags:*") == 0 and remaining(r, GUIDE_PATTERNS) == []


def test_flags_switched_off_at_run_time_beat_allowlists_and_percentages():
    flags = FeatureFlags()
    assert flags.evaluate("beta-users")["swarm_intelligence"] is True
    off = flags.evaluate("beta-users", frozenset({"swarm_intelligence", "v2_api"}))
    assert off["swarm_intelligence"] is False and off["v2_api"] is False and off["websocket_streaming"] is not None


def test_migrations_read_the_builds_faults_from_the_environment():
    faults = from_env({"ORCHESTRA_FAULTS": "irreversible_migration,downgrade_delay_s=2"})
    assert isinstance(faults, Faults) and faults.active("irreversible_migration")
    assert faults.value("downgrade_delay_s") == 2.0
    assert not from_env({}).active("downgrade_raises")
