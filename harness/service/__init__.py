"""The service under test, described as data: the profile (paths, files, auth, operations, smoke checks,
load traffic) and the credentials it implies. See profile.py for the schema, auth.py for token sources."""

from __future__ import annotations

import json
import os

from harness.config import Settings
from harness.errors import ConfigError
from harness.redact import MIN_SECRET_LENGTH, declare_secret_env
from harness.service.operations import Scope
from harness.service.profile import ServiceProfile, load_profile

__all__ = ["Scope", "ServiceProfile", "profile_for", "scope_for"]

_CACHE: dict[str, ServiceProfile] = {}


def profile_for(settings: Settings) -> ServiceProfile:
    """The run's service profile (loaded once per process); its secret variables become secrets of the run,
    and one too short to redact is refused, like HARNESS_TOKEN."""
    table = settings.suite_options.get("service") or {}
    key = json.dumps(
        [str(settings.service_file), table, str(settings.project_root), str(settings.home)], default=str, sort_keys=True
    )
    if key not in _CACHE:
        profile = load_profile(settings.service_file, table, settings.project_root, settings.home)
        names = profile.secret_env_names()
        for name in names:
            value = os.environ.get(name)
            if value and len(value) < MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"{name} (named by the {profile.describe()}) is shorter than {MIN_SECRET_LENGTH} characters; "
                    "a secret that short cannot be redacted from the reports safely: use a longer one"
                )
        declare_secret_env(names)
        _CACHE[key] = profile
    return _CACHE[key]


def scope_for(settings: Settings, ephemeral: bool) -> Scope:
    """What this run may call on a target (ephemeral: the harness started it)."""
    return Scope(
        profile_for(settings).operations,
        ephemeral=ephemeral,
        allow_unsafe=settings.allow_unsafe,
        dropped=settings.dropped_operations,
    )
