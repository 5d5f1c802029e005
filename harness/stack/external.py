"""The external stack: an existing deployment given by URL. Starts nothing, stops nothing."""

from __future__ import annotations

import os
import ssl

from harness.config import Settings
from harness.errors import StackError, TargetUnreachable
from harness.service import profile_for
from harness.stack.local import _version, unverified_tls
from harness.stack.wait import HttpAnswers, wait_until
from harness.target import Target

ADMIN_TOKEN_ENV = "HARNESS_ADMIN_TOKEN"


class ExternalStack:
    """A Target for a deployment that is already running (staging, production)."""

    name = "external"

    def __init__(self, settings: Settings) -> None:
        assert settings.target is not None
        self.settings = settings
        self.base_url = settings.target.rstrip("/")
        self.health = profile_for(settings).paths.health  # the service's own; none: is the root answering?

    def check(self) -> None:
        """Nothing to check before reaching out."""

    def start(self) -> Target:
        try:
            # readiness asks "does it answer?"; whether its certificate is good is security.tls's finding, which
            # a verifying probe here would turn into an unreachable target (inconclusive) instead of a no-go
            probe = HttpAnswers(
                f"{self.base_url}{self.health or '/'}",
                what=f"target {self.base_url}",
                timeout_s=min(5.0, self.settings.external_timeout_s),  # one attempt: the whole answer, bounded
                context=self._context(),
            )
            wait_until(probe, self.settings.external_timeout_s)
        except StackError as exc:
            raise TargetUnreachable(
                f"{exc}; check the URL and that the deployment is up (waited "
                f"{self.settings.external_timeout_s:g} s, HARNESS_EXTERNAL_TIMEOUT_S)"
            ) from None
        return Target(
            base_url=self.base_url,
            stack=self.name,
            token=self.settings.token,
            version=_version(self.base_url, context=self._context(), health=self.health),
            ephemeral=False,
            admin_token=os.environ.get(ADMIN_TOKEN_ENV) or None,  # e.g. the one `harness up` printed
            baseline_url=self.settings.baseline_target.rstrip("/") if self.settings.baseline_target else None,
        )

    def _context(self) -> ssl.SSLContext | None:
        return unverified_tls() if self.base_url.startswith("https://") else None

    def stop(self) -> None:
        """An external deployment is not ours to stop."""
