"""Feature flags with the deployment guide's semantics (global switch, allowlist, md5 bucketing)."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

DEFAULT_FLAGS: dict[str, dict[str, Any]] = {
    "v2_api": {"enabled": True, "rollout_percentage": 100, "allowlist": []},
    "swarm_intelligence": {"enabled": True, "rollout_percentage": 50, "allowlist": ["beta-users"]},
    "websocket_streaming": {"enabled": True, "rollout_percentage": 75, "allowlist": []},
    "advanced_memory": {"enabled": False, "rollout_percentage": 0, "allowlist": ["internal-testing"]},
}

_ENV = "ORCHESTRA_FEATURE_FLAGS"
# The flag service's global switches at run time (the guide's rollback turns flags off in its flag service):
# a Redis set of flag names switched off for everyone, read by every worker on each GET /features.
FLAGS_OFF_KEY = "orchestra:flags:off"
# ... and its run-time configuration: a Redis hash of flag name -> JSON config merged over the started one
# (a new name adds a flag), as a flag service's API changes a rollout percentage or an allowlist.
FLAGS_CONFIG_KEY = "orchestra:flags:config"


def _validate(name: str, config: dict[str, Any]) -> None:
    """Raise ValueError unless one flag config has the guide's three well-typed keys."""
    if not isinstance(config.get("enabled"), bool):
        raise ValueError(f"{_ENV}: flag {name!r} needs a boolean 'enabled'")
    pct = config.get("rollout_percentage")
    if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
        raise ValueError(f"{_ENV}: flag {name!r} needs an integer 'rollout_percentage' in 0..100")
    allow = config.get("allowlist")
    if not isinstance(allow, list) or not all(isinstance(item, str) for item in allow):
        raise ValueError(f"{_ENV}: flag {name!r} needs 'allowlist' as a list of strings")


def merge_flags(overrides_json: str | None) -> dict[str, dict[str, Any]]:
    """Deep-merge the JSON object from ORCHESTRA_FEATURE_FLAGS over the default flags, per flag."""
    flags = copy.deepcopy(DEFAULT_FLAGS)
    if not overrides_json or not overrides_json.strip():
        return flags
    try:
        overrides = json.loads(overrides_json)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{_ENV}: not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"{_ENV}: must be a JSON object of flag name -> config")
    for name, override in overrides.items():
        if not isinstance(override, dict):
            raise ValueError(f"{_ENV}: flag {name!r} must map to a JSON object")
        base = flags.get(name, {"enabled": False, "rollout_percentage": 0, "allowlist": []})
        flags[name] = {**base, **override}
    for name, config in flags.items():
        _validate(name, config)
    return flags


def run_time_config(raw: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The valid entries of FLAGS_CONFIG_KEY (flag -> JSON object); a malformed one is left out."""
    out: dict[str, dict[str, Any]] = {}
    for name, text in raw.items():
        try:
            config = json.loads(text)
            if isinstance(config, dict):
                out[name] = config
        except ValueError:
            continue
    return out


class FeatureFlags:
    """Evaluate flags exactly as the guide's FeatureFlags.is_enabled does (the two `bad_*` switches are the
    reference app's faults flag_bucket_skew and allowlist_ignored)."""

    def __init__(
        self, flags: dict[str, dict[str, Any]] | None = None, *, bad_hash: bool = False, bad_allowlist: bool = False
    ) -> None:
        self.flags = copy.deepcopy(DEFAULT_FLAGS if flags is None else flags)
        self.bad_hash = bad_hash
        self.bad_allowlist = bad_allowlist

    def merged(self, overrides: dict[str, dict[str, Any]], *, bad_hash: bool, bad_allowlist: bool) -> FeatureFlags:
        """These flags with run-time overrides merged per flag (an override that breaks the guide's types is
        left out), evaluated with or without the faults."""
        flags = copy.deepcopy(self.flags)
        for name, override in overrides.items():
            candidate = {**flags.get(name, {"enabled": False, "rollout_percentage": 0, "allowlist": []}), **override}
            try:
                _validate(name, candidate)
            except ValueError:
                continue
            flags[name] = candidate
        return FeatureFlags(flags, bad_hash=bad_hash, bad_allowlist=bad_allowlist)

    def is_enabled(self, flag: str, user_id: str | None = None) -> bool:
        """True when the flag is on for this user (no user: only a 100 % rollout counts)."""
        if flag not in self.flags:
            return False
        config = self.flags[flag]
        if not config["enabled"]:
            return False
        if user_id and user_id in config["allowlist"] and not self.bad_allowlist:
            return True
        if user_id:
            digest = hashlib.sha1 if self.bad_hash else hashlib.md5
            hash_val = int(digest(f"{flag}{user_id}".encode(), usedforsecurity=False).hexdigest(), 16)
            return (hash_val % 100) < config["rollout_percentage"]
        return bool(config["rollout_percentage"] == 100)

    def evaluate(self, user_id: str | None = None, off: frozenset[str] = frozenset()) -> dict[str, bool]:
        """Every flag's value for one user; a flag named in `off` is switched off globally (FLAGS_OFF_KEY)."""
        return {name: name not in off and self.is_enabled(name, user_id) for name in self.flags}
