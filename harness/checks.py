"""What a validation check can say besides pass/fail: the vocabulary the suites and the evidence plugin share.

    measure(p95_ms=812.0)          a number a metric gate compares with its threshold
    coverage(files=12, pages=3)    what the check looked at; a zero count makes its gate `missing`, never `pass`
    not_applicable("why")          the check cannot apply to this target: the gate shows N/A, never PASS
    check_error("why")             the check could not judge (a tool broke, not the product): `error`, never `failed`
    record_property(CURL, "curl ...")  a command that reproduces what the check saw

`measure` and `coverage` are fixtures (harness.plugins.target); `not_applicable` and `check_error` are
functions. Any other exception in a check is a failure of the product, as in pytest.
"""

from __future__ import annotations

import pytest

MEASURE = "harness.measure"
COVERAGE = "harness.coverage"
CURL = "harness.curl"


class NotApplicable(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """Raised by not_applicable(): a skip that the evidence plugin records as `not_applicable`."""


def not_applicable(reason: str) -> None:
    """End this check as not applicable to the target, saying why (shown as N/A, never as a pass)."""
    __tracebackhide__ = True
    raise NotApplicable(msg=f"not applicable: {reason}", pytrace=False)


class CheckError(Exception):
    """Raised by check_error(): the check could not judge the target; its record is `error`, not `failed`."""


def check_error(reason: str) -> None:
    """End this check as an error of the tooling (inconclusive), not a failure of the product (no-go)."""
    __tracebackhide__ = True
    raise CheckError(reason)
