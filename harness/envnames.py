"""Every HARNESS_* environment variable the harness reads, and a did-you-mean warning for any other one
(`HARNESS_PHAES=smoke` is a typo, not a setting: silently running the default phase would hide it)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import fields

# read outside Settings and the suites' option specs: secrets, the CLI's hand-over to its children, images
OTHER = (
    "HARNESS_TOKEN",
    "HARNESS_SERVE_TOKEN",
    "HARNESS_ADMIN_TOKEN",
    "HARNESS_PROMETHEUS_TOKEN",
    "HARNESS_LOAD_TOKEN",
    "HARNESS_CONTAINERS_IMAGES",
    "HARNESS_BUILD",
    "HARNESS_RUN_SECRETS_FILE",
    "HARNESS_PROGRESS_FILE",
    "HARNESS_TARGET_JSON",
    "HARNESS_LOAD_PLAN",
    "HARNESS_LOAD_PROGRESS",
    "HARNESS_LOAD_AUTH_LOG",
    "HARNESS_LOAD_GENERATORS",
    "HARNESS_LOAD_MASTER_TIMEOUT_S",
    "HARNESS_LOAD_WORKER_NAME",
    "HARNESS_CONTAINERS_PG_TIMEOUT_S",
)


def known_names() -> set[str]:
    """The HARNESS_* names of Settings, of every suite's options (with their aliases), and OTHER."""
    from harness.checklist.options import SPEC as CHECKLIST
    from harness.config import Settings
    from harness.contract.options import SPEC as CONTRACT
    from harness.flags.options import SPEC as FLAGS
    from harness.live.options import SPEC as LIVE
    from harness.load.profiles import SPEC as LOAD
    from harness.security.options import SPEC as SECURITY
    from harness.stack.containers import SPEC as CONTAINERS

    names = {f"HARNESS_{f.name.upper()}" for f in fields(Settings)} | set(OTHER)
    for spec in (CHECKLIST, CONTRACT, FLAGS, LIVE, LOAD, SECURITY, CONTAINERS):
        for opt in spec.options:
            names.update(spec.env_names(opt))
    return names


def unknown_warnings(env: Mapping[str, str]) -> list[str]:
    """One warning line per HARNESS_* variable the harness does not read, with the closest name it does."""
    known = known_names()
    out = []
    for name in sorted(n for n in env if n.startswith("HARNESS_") and n not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.7)
        hint = f" (did you mean {close[0]}?)" if close else ""
        out.append(f"harness: warning: environment {name} is not a setting the harness reads; it is ignored{hint}")
    return out
