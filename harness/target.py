"""Target: where the system under test answers. The only thing suites know about a stack."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

from harness.redact import url_password

TARGET_ENV = "HARNESS_TARGET_JSON"


@dataclass(frozen=True, slots=True)
class Target:
    """A running AI Orchestra deployment and how to reach it."""

    base_url: str
    stack: str = "external"
    token: str | None = field(default=None, repr=False)
    version: str | None = None
    database_url: str | None = field(default=None, repr=False)
    redis_url: str | None = None
    ephemeral: bool = False
    ca_file: str | None = None  # a CA (PEM) that verifies the target's certificate (a local https stack's own)
    admin_token: str | None = field(default=None, repr=False)  # the app's admin endpoint (stack/admin.py)
    prometheus_url: str | None = None  # a Prometheus the stack started, scraping its apps (label track)
    baseline_url: str | None = None  # a baseline app the stack started beside the candidate (same DB and Redis)
    host_pid: int | None = None  # local stack: the harness process that started it here (load/machine.py)

    @property
    def ws_url(self) -> str:
        """Base URL for WebSocket connections (ws:// or wss://)."""
        parts = urlsplit(self.base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))

    @property
    def metrics_url(self) -> str:
        return f"{self.base_url.rstrip('/')}/metrics"

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def public(self) -> dict[str, object]:
        """What reports may show: no token, no database credentials."""
        out: dict[str, object] = {"base_url": self.base_url, "stack": self.stack, "version": self.version}
        if self.prometheus_url:
            out["prometheus_url"] = self.prometheus_url
        if self.baseline_url:
            out["baseline_url"] = self.baseline_url
        return out

    def secrets(self) -> list[str]:
        """Strings that must never appear in a report (harness/redact.py removes them)."""
        found = [self.token, self.admin_token, url_password(self.database_url), url_password(self.redis_url)]
        return [s for s in found if s]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Target:
        return cls(**json.loads(text))

    def with_version(self, version: str | None) -> Target:
        return replace(self, version=version)


def target_from_env(env: dict[str, str] | None = None) -> Target | None:
    """The Target a parent process (harness gate, an xdist controller) handed down, if any."""
    raw = (env if env is not None else os.environ).get(TARGET_ENV)
    return Target.from_json(raw) if raw else None
