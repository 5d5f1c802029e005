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
from harness.config import Settings
from harness.errors import HarnessError
from harness.load.profiles import LoadOptions, Profile
from harness.load.runner import LoadError, LoadRefused, LocustRunner, check_allowed, unreachable
from harness.load.traffic import TrafficError, fetch_openapi, public_plan, traffic_plan
from harness.redact import redact_data, run_secrets
from harness.service import profile_for, scope_for
from harness.service.auth import credentials_for
from harness.target import Target

RESULT = "result.json"
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex


def load_dir(reports_dir: Path) -> Path:
    """Where a run's Locust files go: reports/load/."""
    return reports_dir / "load"


def traffic_for(settings: Settings, target: Target, profile: Profile) -> tuple[dict[str, Any], str | None]:
    """(the traffic plan, the static token for HARNESS_LOAD_TOKEN) from the run's service profile.

    A login token is not made here: the Locust processes log in themselves and refresh before expiry."""
    service = profile_for(settings)
    scope = scope_for(settings, ephemeral=target.ephemeral)
    creds = credentials_for(service.auth, target.base_url, target_token=target.token)
    token = None
    if service.auth.scheme != "none" and creds is not None and creds.source is not None and creds.source.login is None:
        token = creds.source.static
    doc = None
    if service.load.traffic == "openapi":
        if not service.paths.openapi:
            raise TrafficError(f"traffic = 'openapi' but the {service.describe()} has no paths.openapi; set it")
        headers = creds.headers(token) if token and creds is not None else None
        doc = fetch_openapi(target.base_url, service.paths.openapi, headers=headers, verify=target.ca_file or True)
    return traffic_plan(service, scope, weights=profile.weights, openapi_doc=doc), token


def run_once(
    target: Target,
    options: LoadOptions,
    out_dir: Path,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    settings: Settings | None = None,
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
        result = redact_data(_run(target, options, out_dir, on_progress, settings), run_secrets(target))
        write_atomic(path, json.dumps(result, indent=2))
        return result


def _run(
    target: Target,
    options: LoadOptions,
    out_dir: Path,
    on_progress: Callable[[dict[str, Any]], None] | None,
    settings: Settings | None,
) -> dict[str, Any]:
    """Without settings (a caller outside a run): the reference app's traffic and the target's token."""
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
    health = profile_for(settings).paths.health if settings is not None else "/health"
    gone = unreachable(target.base_url, path=health or "/")
    if gone:
        return {**result, "skipped": f"no load run: {gone}"}
    traffic, token = None, target.token
    if settings is not None:
        try:
            traffic, token = traffic_for(settings, target, profile)
        except (TrafficError, HarnessError) as exc:
            return {**result, "error": str(exc)}
        result["traffic"] = public_plan(traffic)
    runner = LocustRunner(
        profile,
        target.base_url,
        locustfile=options.locustfile,
        out_dir=out_dir,
        token=token,
        on_progress=on_progress,
        secrets=run_secrets(target),
        traffic=traffic,
        master=options.master,
        machine_root=target.host_pid,  # only a local stack sets it: its neighbours' CPU share is sampled
    )
    try:
        run = runner.run()
    except LoadError as exc:
        return {**result, "error": str(exc)}
    result.setdefault("traffic", public_plan(runner.traffic))
    return {**result, "seconds": round(run.seconds, 2), "summary": run.summary.to_dict(), "html": str(run.html)}
