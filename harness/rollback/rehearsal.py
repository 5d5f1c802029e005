"""One rollback rehearsal, step by step, on a stack the harness started.

    1. write      chat turns through the API on the candidate (v2 schema), plus the v2 caches to invalidate
    2. flags off  the v2 flags switched off in the flag service (the reference app's: a Redis set)
    3. downgrade  `python -m app migrate downgrade 0001` (the guide's "Database Rollback")
    4. data       every turn read back with the v1 release's queries; the service still answers on v1
    5. cache      SCAN + UNLINK of v2:*, feature_flags:*, sessions:*; then no key of a written session anywhere
    6. flags      GET /features reports every v2 flag off for every sampled user
    -- the rollback is done: its time is steps 2 to 6 --
    7. re-upgrade `python -m app migrate upgrade head`; the turns read back again

Whatever happens, the stack is left as it was found: migrated to head, flags switched on again.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from harness.rollback import HEAD_REVISION, PREVIOUS_REVISION, cache, database
from harness.target import Target

HTTP_TIMEOUT_S = 10.0
FLAGS_OFF_KEY = "orchestra:flags:off"  # the reference app's flag service switches (app/feature_flags.py)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one rehearsal does."""

    turns: int = 5
    flags: tuple[str, ...] = ("v2_api", "swarm_intelligence", "websocket_streaming", "advanced_memory")
    sampled_users: int = 50
    allowlisted: tuple[str, ...] = ("beta-users", "internal-testing")  # allowlists never beat a flag that is off


@dataclass(slots=True)
class Turn:
    user_id: str
    session_id: str
    message: str
    reply: str


@dataclass(slots=True)
class Outcome:
    """Each area's findings (empty: it held), the steps' times, the time to roll back."""

    findings: dict[str, list[str]] = field(default_factory=lambda: {"data": [], "cache": [], "flags": []})
    steps_s: dict[str, float] = field(default_factory=dict)
    duration_s: float | None = None
    turns: int = 0
    keys_removed: int = 0
    users_sampled: int = 0
    log: str = ""


def _check_turns(target: Target, turns: list[Turn], when: str, out: list[str]) -> None:
    assert target.database_url is not None
    for turn in turns:
        owner, rows = database.read_v1(target.database_url, turn.session_id)
        expected = [("user", turn.message), ("assistant", turn.reply)]
        if owner != turn.user_id:
            out.append(f"{when}: session {turn.session_id} owner is {owner!r}, not {turn.user_id!r}")
        elif rows != expected:
            out.append(f"{when}: session {turn.session_id} reads back {rows!r}, not {expected!r}")


def _write(http: Any, target: Target, plan: Plan, run_id: str) -> list[Turn]:
    turns = []
    for i in range(plan.turns):
        turn = Turn(f"rb-{run_id}-u{i}", f"rb-{run_id}-s{i}", f"rollback rehearsal {run_id} #{i}", "")
        resp = http.post(
            target.url("/chat/v2/chat"),
            json={"message": turn.message, "session_id": turn.session_id, "user_id": turn.user_id},
            timeout=HTTP_TIMEOUT_S,
        )
        if resp.status_code != 200:
            raise RuntimeError(f"POST /chat/v2/chat answered {resp.status_code} before the rollback: {resp.text[:200]}")
        turn.reply = str(resp.json()["response"])
        turns.append(turn)
    return turns


def _serves_on_v1(http: Any, target: Target, turns: list[Turn], out: list[str]) -> None:
    """The previous revision's smoke checks: healthy, and every written session's messages served."""
    health = http.get(target.url("/health"), timeout=HTTP_TIMEOUT_S)
    if health.status_code != 200:
        out.append(f"on revision {PREVIOUS_REVISION}: GET /health answered {health.status_code}")
    for turn in turns:
        resp = http.get(target.url(f"/chat/v2/sessions/{turn.session_id}/messages"), timeout=HTTP_TIMEOUT_S)
        if resp.status_code != 200:
            answered = f"GET messages of {turn.session_id} answered {resp.status_code}"
            out.append(f"on revision {PREVIOUS_REVISION}: {answered}")
            continue
        contents = [m.get("content") for m in resp.json().get("messages", [])]
        if contents != [turn.message, turn.reply]:
            out.append(f"on revision {PREVIOUS_REVISION}: {turn.session_id} served {contents!r}")


def _flags_off(http: Any, target: Target, plan: Plan, run_id: str, out: list[str]) -> int:
    users = [f"rb-{run_id}-user{i}" for i in range(plan.sampled_users)] + list(plan.allowlisted)
    for user in users:
        resp = http.get(target.url("/features"), params={"user_id": user}, timeout=HTTP_TIMEOUT_S)
        if resp.status_code != 200:
            out.append(f"GET /features?user_id={user} answered {resp.status_code}")
            continue
        on = sorted(name for name in plan.flags if resp.json().get("flags", {}).get(name))
        if on:
            out.append(f"GET /features?user_id={user}: {', '.join(on)} still on after the rollback")
        if len(out) >= 10:
            break
    return len(users)


def rehearse(http: Any, target: Target, plan: Plan, *, faults: str, workdir: Path, project_root: Path) -> Outcome:
    """Run the rehearsal (see the module doc); raises only when the stack cannot be prepared or restored."""
    assert target.database_url and target.redis_url
    out = Outcome()
    run_id = uuid.uuid4().hex[:8]
    log = workdir / "rollback-migrate.log"
    out.log = str(log)
    r = redis.Redis.from_url(target.redis_url, decode_responses=True, socket_timeout=5)
    url = target.database_url
    try:
        turns = _write(http, target, plan, run_id)
        out.turns = len(turns)
        for turn in turns:  # the guide's other v2 caches, as a v2 deployment leaves them
            r.set(f"sessions:{turn.session_id}", turn.user_id, ex=3600)
        for name in plan.flags:
            r.set(f"feature_flags:{name}", "cached", ex=3600)
        started = mark = time.perf_counter()

        def step(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            out.steps_s[name] = round(now - mark, 3)
            mark = now

        r.sadd(FLAGS_OFF_KEY, *plan.flags)
        step("flags_off")
        down = database.migrate(url, "downgrade", PREVIOUS_REVISION, faults=faults, log=log, cwd=project_root)
        step("downgrade")
        if not down.ok:
            out.findings["data"].append(f"downgrade to {PREVIOUS_REVISION} failed: {down.detail}")
        elif (now_at := database.revision(url)) != PREVIOUS_REVISION:
            out.findings["data"].append(f"after the downgrade the database is at {now_at}, not {PREVIOUS_REVISION}")
        else:
            _check_turns(target, turns, f"after the downgrade to {PREVIOUS_REVISION}", out.findings["data"])
            _serves_on_v1(http, target, turns, out.findings["data"])
        step("data")
        out.keys_removed = cache.invalidate(r)
        left = cache.remaining(r, cache.GUIDE_PATTERNS)
        left += [k for t in turns for k in cache.remaining(r, [f"*{t.session_id}*"])]
        if left:
            out.findings["cache"].append(f"{len(left)} key(s) left after the invalidation: {', '.join(left[:5])}")
        step("cache")
        out.users_sampled = _flags_off(http, target, plan, run_id, out.findings["flags"])
        step("flags")
        out.duration_s = round(time.perf_counter() - started, 3)
        if down.ok:
            up = database.migrate(url, "upgrade", "head", faults=faults, log=log, cwd=project_root)
            if not up.ok:
                out.findings["data"].append(f"re-upgrade to head failed: {up.detail}")
            else:
                _check_turns(target, turns, f"after re-upgrading to {HEAD_REVISION}", out.findings["data"])
            step("reupgrade")
    finally:
        try:
            r.delete(FLAGS_OFF_KEY)
            if database.revision(url) != HEAD_REVISION:
                database.migrate(url, "upgrade", "head", faults="", log=log, cwd=project_root)
        finally:
            r.close()
    return out
