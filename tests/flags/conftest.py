"""Flags suite wiring: one sample of GET /features over the synthetic users per session (10,000 by default,
in batches, bounded in time), taken with the probe flags set in the reference app's flag service on a
stack the harness started; a probe pass per step for monotonicity. The probes are removed afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.flags import (
    PROBE_PCT,
    PROBE_STEPS,
    Sample,
    allowlist_users,
    clear_probes,
    probe_configs,
    sample,
    set_probes,
)
from harness.flags.options import FlagsOptions, flags_options
from harness.plugins.target import harness_settings
from harness.service.auth import RequestsAuth
from harness.target import Target

PREFIX = "flags-user"
ALLOWLISTED = 20


@dataclass(slots=True)
class FlagRun:
    """The main sample (configured flags, and the probes when set) and the per-step probe samples."""

    options: FlagsOptions
    users: list[str]
    allowlisted: list[str]
    main: Sample
    probes: bool  # the probe flags were set (a stack the harness started)
    steps: dict[int, Sample] = field(default_factory=dict)


@pytest.fixture(scope="session")
def flags_opts(pytestconfig: pytest.Config) -> FlagsOptions:
    return flags_options(harness_settings(pytestconfig))


def _client(target: Target, creds: Any) -> tuple[Callable[[Any, str], tuple[int, Any]], Callable[[], Any]]:
    import requests

    url = target.url("/features")

    def new_session() -> Any:
        session = requests.Session()
        session.auth = RequestsAuth(creds) if creds.present() else None
        if target.ca_file:
            session.verify = target.ca_file
        return session

    def get(session: Any, user: str) -> tuple[int, Any]:
        resp = session.get(url, params={"user_id": user}, timeout=5)
        return resp.status_code, (resp.json() if resp.status_code == 200 else None)

    return get, new_session


@pytest.fixture(scope="session")
def flag_run(target: Target, creds: Any, flags_opts: FlagsOptions) -> Iterator[FlagRun]:
    """Sample once; on a stack the harness started set the probes first and remove them afterwards."""
    get, new_session = _client(target, creds)
    opts = flags_opts
    users = [f"{PREFIX}-{i}" for i in range(opts.users)]
    allowlisted = allowlist_users(ALLOWLISTED, PREFIX)
    own = bool(target.ephemeral and target.redis_url)
    client = None
    if own:
        import redis

        assert target.redis_url is not None
        client = redis.Redis.from_url(target.redis_url, decode_responses=True, socket_timeout=5)
    kwargs = {"batch": opts.batch, "workers": opts.workers, "deadline_s": opts.deadline_s}
    try:
        if client is not None:
            set_probes(client, probe_configs(PROBE_PCT, allowlisted))
        main = sample(get, new_session, users + allowlisted, **kwargs)
        run = FlagRun(opts, users, allowlisted, main, probes=client is not None)
        if client is not None:
            subset = users[: opts.monotonic_users]
            for pct in PROBE_STEPS:
                set_probes(client, probe_configs(pct, allowlisted))
                run.steps[pct] = sample(get, new_session, subset, **kwargs)
        yield run
    finally:
        if client is not None:
            clear_probes(client)
            client.close()
