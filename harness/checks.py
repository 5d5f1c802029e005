"""What a validation check can say besides pass/fail: the vocabulary the suites and the evidence plugin share.

    measure(p95_ms=812.0)          a number a metric gate compares with its threshold
    coverage(files=12, pages=3)    what the check looked at; a zero count makes its gate `missing`, never `pass`
    not_applicable("why")          the check cannot apply to this target: the gate shows N/A, never PASS
    not_run("why; how to run it")  the check could apply but this run did not make it (the safety scope, no
                                   baseline, a user's exclusion): the gate is `not_run`, the verdict never `go`
    check_error("why")             the check could not judge (a tool broke, not the product): `error`, never `failed`
    record_property(CURL, "curl ...")  a command that reproduces what the check saw
    record_property(CAVEAT, "why")     the numbers could only have been made worse by something not the build (a
                                   busy machine): a metric gate that holds passes, one that does not is `missing`

`measure` and `coverage` are fixtures (harness.plugins.target); `not_applicable`, `not_run` and `check_error`
are functions. A check may measure first and end `not_run` after: what it measured is kept for the report,
and a gate may fail on it (a partial run can prove a failure), never pass on it. Any other exception in a
check is a failure of the product, as in pytest.
"""

from __future__ import annotations

import pytest

MEASURE = "harness.measure"
COVERAGE = "harness.coverage"
CURL = "harness.curl"
CAVEAT = "harness.caveat"


class NotApplicable(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """Raised by not_applicable(): a skip that the evidence plugin records as `not_applicable`."""


def not_applicable(reason: str) -> None:
    """End this check as not applicable to the target, saying why (shown as N/A, never as a pass)."""
    __tracebackhide__ = True
    raise NotApplicable(msg=f"not applicable: {reason}", pytrace=False)


class NotRun(pytest.skip.Exception):  # type: ignore[name-defined,misc]
    """Raised by not_run(): a skip that the evidence plugin records as `not_run`."""


def not_run(reason: str) -> None:
    """End this check as not run: it could apply to the target, but this run did not (or only partly) make it.
    The reason says why and how to get the evidence (e.g. `--allow-unsafe`)."""
    __tracebackhide__ = True
    raise NotRun(msg=f"not run: {reason}", pytrace=False)


def not_run_if_left_out(what: str, left_out: list[str]) -> None:
    """After measuring: not run when the run left out part of what the check covers ('METHOD /path: why', the
    first named, the rest counted); nothing when it left out nothing."""
    __tracebackhide__ = True
    if left_out:
        more = f" (+{len(left_out) - 1} more)" if len(left_out) > 1 else ""
        not_run(f"{what} left out {left_out[0]}{more}")


class CheckError(Exception):
    """Raised by check_error(): the check could not judge the target; its record is `error`, not `failed`."""


def check_error(reason: str) -> None:
    """End this check as an error of the tooling (inconclusive), not a failure of the product (no-go)."""
    __tracebackhide__ = True
    raise CheckError(reason)
