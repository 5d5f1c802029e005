"""Which operations of the service the harness may call, and how the profile marks them.

Patterns are 'METHOD /path' with the OpenAPI path template or a glob ('* /admin/*', 'DELETE /users/*').
On a target the harness did not start, only safe methods (GET, HEAD, OPTIONS) are called unless the run
says --allow-unsafe or the operation is listed in [operations] unsafe_allowed; exclusions apply always.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from harness.service.profile import SAFE_METHODS, Operations

DROPPED = "dropped from the phase by the team policy"  # left out, and not evidence the run lacks
PROFILE_FIX = "; to check it: remove the exclusion from the service profile, or drop the gate in a team policy"


def unsafe_reason(method: str, path: str) -> str:
    """Why an unsafe operation is not called on a target the harness did not start, and the three ways to
    get its evidence (one line)."""
    return (
        f"{method.upper()} is unsafe and the harness did not start this target (only GET, HEAD and OPTIONS are "
        f"called); to check it: --allow-unsafe on a test or staging instance, or unsafe_allowed = "
        f'["{method.upper()} {path}"] under [operations] in the service profile for a synthetic check against '
        "production, or drop the gate in a team policy"
    )


def matches(pattern: str, method: str, path: str) -> bool:
    """Whether 'METHOD /path' (or a glob of either part) names this operation."""
    want_method, _, want_path = pattern.partition(" ")
    if want_method != "*" and want_method.upper() != method.upper():
        return False
    return want_path == path or fnmatchcase(path, want_path)


def listed(patterns: Iterable[str], method: str, path: str) -> bool:
    return any(matches(p, method, path) for p in patterns)


@dataclass(frozen=True, slots=True)
class Scope:
    """What this run may call: the profile's markings plus whether the target is the harness's own."""

    ops: Operations
    ephemeral: bool  # the harness started the target (a throwaway stack): everything may be called
    allow_unsafe: bool  # --allow-unsafe / HARNESS_ALLOW_UNSAFE
    dropped: tuple[str, ...] = ()  # operations the team's policy dropped from the phase (never called, never not_run)

    def excluded(self, method: str, path: str, tags: Iterable[str] = ()) -> str | None:
        """Why the operation is not called in this run, and how to get it called (None: it is). Either way
        the checks it leaves out are `not_run`: the harness could call it and this run did not."""
        method = method.upper()
        if listed(self.dropped, method, path):
            return DROPPED
        if method in self.ops.exclude_methods:
            return f"method {method} excluded by the service profile (operations.exclude_methods){PROFILE_FIX}"
        for pattern in self.ops.exclude_paths:
            if fnmatchcase(path, pattern) or pattern == path:
                return f"path excluded by the service profile (operations.exclude_paths {pattern!r}){PROFILE_FIX}"
        hit = sorted(set(tags) & set(self.ops.exclude_tags))
        if hit:
            return f"tag {hit[0]!r} excluded by the service profile (operations.exclude_tags){PROFILE_FIX}"
        if not self.unsafe_ok(method, path):
            return unsafe_reason(method, path)
        return None

    def missed(self, method: str, path: str, tags: Iterable[str] = ()) -> str | None:
        """Why the operation is left out when that makes its checks not run (None: called, or dropped by the
        team's policy, which is the policy's to say)."""
        why = self.excluded(method, path, tags)
        return None if why == DROPPED else why

    def unsafe_ok(self, method: str, path: str) -> bool:
        """A safe method, or an unsafe one this run may call."""
        if method.upper() in SAFE_METHODS or self.ephemeral or self.allow_unsafe:
            return True
        return listed(self.ops.unsafe_allowed, method, path)

    def public(self, method: str, path: str) -> bool:
        return listed(self.ops.public, method, path)

    def optional_auth(self, method: str, path: str) -> bool:
        return listed(self.ops.optional_auth, method, path)

    def admin_only(self, method: str, path: str) -> bool:
        return listed(self.ops.admin_only, method, path)
