"""[tool.harness.flags] options (HARNESS_FLAGS_<KEY>): how many synthetic users, in what batches, how long."""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import Settings
from harness.options import Option, OptionSpec, at_least, positive, suite_options

SPEC = OptionSpec(
    "flags",
    (
        Option("users", int, 10_000, check=at_least(100), high=1_000_000),  # synthetic users asked for GET /features
        Option("batch", int, 500, check=at_least(1), high=100_000),  # users per task of one worker thread
        Option("workers", int, 8, check=at_least(1), high=256),  # concurrent HTTP sessions
        Option(
            "deadline_s", float, 120.0, check=positive("number of seconds"), high=3600
        ),  # batches after this are left out
        Option("tolerance_pp", float, 1.5, check=positive("number of percentage points"), high=100),
        Option("monotonic_users", int, 1_000, check=at_least(100), high=100_000),  # users asked at each probe step
    ),
)


@dataclass(frozen=True, slots=True)
class FlagsOptions:
    users: int
    batch: int
    workers: int
    deadline_s: float
    tolerance_pp: float
    monotonic_users: int


def flags_options(settings: Settings) -> FlagsOptions:
    """The run's flags options (one ConfigError line for a bad value)."""
    got = suite_options(SPEC, settings)
    return FlagsOptions(**{o.key: got[o.key] for o in SPEC.options})
