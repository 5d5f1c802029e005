"""The flags suite's library: the deployment guide's FeatureFlags.is_enabled, a bounded concurrent sample
of GET /features over many synthetic users, and the probe flags the suite sets in the reference app's
flag service (a stack the harness started) so that it knows every configuration it judges.

    md5(flag + user_id) % 100 < rollout_percentage      (the guide's bucketing; allowlist first; off beats all)
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

OFF_KEY = "orchestra:flags:off"  # the reference app's flag service (app/feature_flags.py)
CONFIG_KEY = "orchestra:flags:config"
PROBE = "harness_probe"  # the probe flags the suite sets (and removes) on a stack the harness started
PROBE_OFF = "harness_probe_off"
PROBE_PCT = 30  # the main sample's probe percentage
PROBE_STEPS = (10, 25, 50, 75)  # monotonic: a user on at p % stays on at every higher step


def bucket(flag: str, user_id: str) -> int:
    """The guide's bucket of a user for a flag: md5(flag + user_id) % 100."""
    return int(hashlib.md5(f"{flag}{user_id}".encode(), usedforsecurity=False).hexdigest(), 16) % 100


def is_enabled(config: dict[str, Any], flag: str, user_id: str) -> bool:
    """The guide's FeatureFlags.is_enabled for one flag's config and a user."""
    if not config["enabled"]:
        return False
    if user_id in config["allowlist"]:
        return True
    return bucket(flag, user_id) < config["rollout_percentage"]


def probe_configs(percentage: int, allowlisted: list[str]) -> dict[str, dict[str, Any]]:
    """The probe flags for one step: an enabled flag at `percentage` whose allowlist matters (its users'
    buckets are above every step) and a disabled flag with the same allowlist at 100 %."""
    return {
        PROBE: {"enabled": True, "rollout_percentage": percentage, "allowlist": allowlisted},
        PROBE_OFF: {"enabled": False, "rollout_percentage": 100, "allowlist": allowlisted},
    }


def allowlist_users(n: int, prefix: str) -> list[str]:
    """n users whose buckets for both probe flags lie above every step: only the allowlist turns them on."""
    found, i = [], 0
    while len(found) < n:
        user = f"{prefix}-allow-{i}"
        if bucket(PROBE, user) >= 90 and bucket(PROBE_OFF, user) >= 90:
            found.append(user)
        i += 1
    return found


@dataclass(slots=True)
class Sample:
    """What GET /features said per user (users not reached are absent), and how the sampling went."""

    wanted: int
    reported: dict[str, dict[str, bool]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    timed_out: bool = False


def sample(
    get: Callable[[Any, str], tuple[int, Any]],
    new_session: Callable[[], Any],
    users: Iterable[str],
    *,
    batch: int = 500,
    workers: int = 8,
    deadline_s: float = 120.0,
) -> Sample:
    """Ask `get(session, user) -> (status, body)` for every user, `workers` threads each with its own
    session, in batches; batches not started by the deadline are left out (Sample.timed_out)."""
    todo = list(users)
    out = Sample(wanted=len(todo))
    lock, local = threading.Lock(), threading.local()
    stop_at = time.monotonic() + deadline_s
    started = time.perf_counter()

    def run(chunk: list[str]) -> None:
        if time.monotonic() > stop_at:
            out.timed_out = True
            return
        if not hasattr(local, "session"):
            local.session = new_session()
        got: dict[str, dict[str, bool]] = {}
        errors: list[str] = []
        for user in chunk:
            try:
                status, body = get(local.session, user)
            except Exception as exc:  # noqa: BLE001 - one line per failed request, judged by the check
                errors.append(f"{user}: {type(exc).__name__}")
                continue
            if status != 200 or not isinstance(body, dict) or not isinstance(body.get("flags"), dict):
                errors.append(f"{user}: answered {status}")
                continue
            got[user] = {str(k): bool(v) for k, v in body["flags"].items()}
        with lock:
            out.reported.update(got)
            out.errors.extend(errors)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run, [todo[i : i + batch] for i in range(0, len(todo), batch)]))
    out.seconds = round(time.perf_counter() - started, 3)
    return out


def set_probes(client: Any, configs: dict[str, dict[str, Any]]) -> None:
    """Write the probe flags' configuration into the reference app's flag service."""
    client.hset(CONFIG_KEY, mapping={name: json.dumps(config) for name, config in configs.items()})


def clear_probes(client: Any) -> None:
    """Remove the probe flags (the service's own flags are left as they were)."""
    client.hdel(CONFIG_KEY, PROBE, PROBE_OFF)


def share(reported: dict[str, dict[str, bool]], flag: str, exclude: Iterable[str] = ()) -> float | None:
    """Percentage of the sampled users (minus `exclude`) with `flag` on; None when no user reported it."""
    skip = set(exclude)
    values = [flags[flag] for user, flags in reported.items() if user not in skip and flag in flags]
    return 100.0 * sum(values) / len(values) if values else None


def complete(s: Sample, what: str) -> None:
    """check_error when the sample came back short: a check cannot judge users it did not see."""
    from harness.checks import check_error

    if s.timed_out or len(s.reported) < s.wanted:
        first = f"; first: {s.errors[0]}" if s.errors else ""
        why = "the deadline passed" if s.timed_out else f"{len(s.errors)} request(s) failed{first}"
        check_error(f"{what}: {len(s.reported)} of {s.wanted} users answered ({why})")
