"""The live suite's traffic on a stack the harness started (or with --drive-load): the load suite's Locust
users (profile `live`) against the candidate, and against the baseline too when there is one (the users
split evenly), while Prometheus watches. Against a target the harness did not start, the remote-load guard
of the load suite applies (HARNESS_ALLOW_REMOTE_LOAD)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.config import Settings
from harness.load.profiles import LoadOptions, load_options
from harness.load.runner import LoadError, LoadRefused, LocustRunner, check_allowed
from harness.redact import run_secrets
from harness.target import Target

PROFILE = "live"


@dataclass(slots=True)
class Traffic:
    """What the driver did: when, how long, how many requests per app; errors say why it could not."""

    started: float = 0.0
    ended: float = 0.0
    requests: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    profile: str = PROFILE

    @property
    def seconds(self) -> float:
        return max(self.ended - self.started, 0.0)

    def note(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.requests.items())
        return (
            f"live: the harness drove the traffic (Locust profile {self.profile}, {self.seconds:.0f} s; "
            f"requests: {counts or 'none'})"
        )


def live_load_options(settings: Settings) -> LoadOptions:
    """The load suite's options with the `live` profile (HARNESS_LOAD_* overrides such as the duration apply)."""
    return load_options(
        settings.options("load"),
        phase=settings.phase,
        root=settings.project_root,
        flags={**settings.suite_flags.get("load", {}), "profile": PROFILE},
        suites_dir=settings.suites_dir,
    )


def drive(target: Target, options: LoadOptions, out_dir: Path, stop: threading.Event | None = None) -> Traffic:
    """Run the live profile against the candidate (and the baseline, users split evenly); blocks until done,
    or until `stop` is set (the sequential canary judge decided: both runs end at once)."""
    apps = {"candidate": target.base_url}
    if target.baseline_url:
        apps["baseline"] = target.baseline_url
    profile = options.profile
    if len(apps) > 1:
        profile = replace(profile, users=max(profile.users // len(apps), len(profile.user_classes)))
    traffic = Traffic(profile=profile.name)
    try:
        for url in apps.values():
            check_allowed(url, ephemeral=target.ephemeral, allow_remote=options.allow_remote)
    except LoadRefused as exc:
        traffic.errors.append(str(exc))
        return traffic
    results: dict[str, Any] = {}

    def one(name: str, url: str) -> None:
        runner = LocustRunner(
            profile,
            url,
            locustfile=options.locustfile,
            out_dir=out_dir / name,
            token=target.token,
            secrets=run_secrets(target),
            stop_early=stop,
        )
        try:
            results[name] = runner.run()
        except LoadError as exc:
            results[name] = exc

    (out_dir).mkdir(parents=True, exist_ok=True)
    traffic.started = time.time()
    items = list(apps.items())  # the candidate's run in this (main) thread: Ctrl-C and SIGTERM reach it
    threads = [threading.Thread(target=one, args=item, daemon=True) for item in items[1:]]
    for t in threads:
        t.start()
    one(*items[0])
    for t in threads:
        t.join()
    traffic.ended = time.time()
    for name in apps:
        run = results.get(name)
        if isinstance(run, Exception) or run is None:
            traffic.errors.append(f"{name}: {run}")
        else:
            traffic.requests[name] = int(run.summary.coverage.get("requests", 0))
    return traffic
