"""Errors of the security suite: each one line saying what broke, where, and what to do."""

from __future__ import annotations

from harness.errors import ExitCode, HarnessError


class SecurityError(HarnessError):
    """A security scan could not run or its input could not be read: its gate has no evidence."""

    exit_code = ExitCode.INCONCLUSIVE


class RulesFileError(SecurityError):
    """A zap-baseline rules file does not parse."""


class WaiverFileError(SecurityError):
    """The waiver file does not parse or a waiver lacks a required field."""


class ZapReportError(SecurityError):
    """A ZAP JSON report is missing or malformed."""


class ZapUnavailable(SecurityError):
    """The ZAP daemon named by ZAP_API_URL does not answer, fails, or does not finish in time."""


class TrivyError(SecurityError):
    """trivy is missing, failed, timed out, or wrote a report that cannot be read."""


class ReportFileError(SecurityError):
    """A findings file or the new-vs-known history cannot be read: never dropped or reset silently."""
