"""The pytest side of the load suite: one bounded Locust run per session, shared by its checks.

Under pytest-xdist every worker asks for the run; the first one (under a file lock) runs it and
writes result.json, the others read it, so a session never runs two load generators at once.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.load.profiles import LoadOptions
from harness.load.runner import LoadError, LoadRefused, LocustRunner, check_allowed, unreachable
from harness.redact import redact_data, run_secrets
from harness.target import Target

RESULT = "result.json"
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def load_dir(reports_dir: Path) -> Path:
    """Where a run's Locust files go: reports/load/."""
    return reports_dir / "load"


def run_once(
    target: Target,
    options: LoadOptions,
    out_dir: Path,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The session's load result: {"skipped" | "error" | "summary", ...}; runs Locust at most once."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = out_dir / RESULT
        if path.is_file():
            try:
                previous = json.loads(path.read_text())
            except ValueError:
                previous = {}
            if previous.get("run_id") == _RUN_ID:
                return previous
        path.unlink(missing_ok=True)
        result = redact_data(_run(target, options, out_dir, on_progress), run_secrets(target))
        write_atomic(path, json.dumps(result, indent=2))
        return result


def _run(
    target: Target,
    options: LoadOptions,
    out_dir: Path,
    on_progress: Callable[[dict[str, Any]], None] | None,
) -> dict[str, Any]:
    profile = options.profile
    result: dict[str, Any] = {
        "run_id": _RUN_ID,
        "profile": profile.public(),
        "target": target.base_url,
        "version": target.version,
    }
    try:
        check_allowed(target.base_url, ephemeral=target.ephemeral, allow_remote=options.allow_remote)
    except LoadRefused as exc:
        return {**result, "skipped": str(exc)}
    gone = unreachable(target.base_url)
    if gone:
        return {**result, "skipped": f"no load run: {gone}"}
    runner = LocustRunner(
        profile,
        target.base_url,
        locustfile=options.locustfile,
        out_dir=out_dir,
        token=target.token,
        on_progress=on_progress,
        secrets=run_secrets(target),
    )
    try:
        run = runner.run()
    except LoadError as exc:
        return {**result, "error": str(exc)}
    return {**result, "seconds": round(run.seconds, 2), "summary": run.summary.to_dict(), "html": str(run.html)}
