"""Errors a user can cause, each with the exit code it maps to.

    HarnessError                 exit 64 unless a subclass says otherwise
    +-- ConfigError              bad config file, key, value or flag           (64)
    +-- StackError               a stack could not be brought up               (2, inconclusive)
    |   +-- MissingBinaryError   PostgreSQL / Redis binaries not installed     (64)
    |   +-- PortInUseError       a port the user asked for is taken            (64)
    |   +-- TargetUnreachable    --target does not answer                      (2)
    +-- ReportError              a report or evidence file cannot be read      (2)

Every message is one line: what went wrong, where, and what to do next.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes of `harness gate` (and the other commands)."""

    GO = 0
    NO_GO = 1
    INCONCLUSIVE = 2
    USAGE = 64


class HarnessError(Exception):
    """Root of every error the harness reports as one line instead of a traceback."""

    exit_code: ExitCode = ExitCode.USAGE


class ConfigError(HarnessError):
    """Configuration (file, environment, flags) is invalid."""


class StackError(HarnessError):
    """The system under test could not be brought up or reached."""

    exit_code = ExitCode.INCONCLUSIVE


class MissingBinaryError(StackError):
    """A server binary the local stack needs is not installed: the machine must be fixed first."""

    exit_code = ExitCode.USAGE


class PortInUseError(StackError):
    """A port that was asked for explicitly is already taken."""

    exit_code = ExitCode.USAGE


class TargetUnreachable(StackError):
    """An external target did not answer."""


class ReportError(HarnessError):
    """An evidence or report file is missing or malformed."""

    exit_code = ExitCode.INCONCLUSIVE


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ' (did you mean X?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""
