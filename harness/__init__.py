"""AI Orchestra rollout validation harness: stack -> suites -> evidence -> verdict."""

from __future__ import annotations

__version__ = "0.1.0"
