"""Every check ends within a deadline (--harness-check-timeout, from check_timeout_s): a setup, call or
teardown that runs past it is stopped with a CheckError, so its record is `error` (the harness could not
judge; inconclusive), never a hang and never a product failure. A check bounded by its own hard cap (the
load run) opts out with @pytest.mark.check_timeout(0)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from harness.checks import CheckError


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("harness").addoption(
        "--harness-check-timeout",
        type=float,
        metavar="S",
        default=None,
        help="stop any check (setup, call or teardown) that runs longer than S seconds, as an error",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check_timeout(seconds): this check's own deadline (0: its own cap bounds it)")


def _seconds(item: pytest.Item) -> float:
    marker = item.get_closest_marker("check_timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getoption("harness_check_timeout") or 0)


@contextmanager
def _bounded(item: pytest.Item, when: str) -> Iterator[None]:
    seconds = _seconds(item)
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise CheckError(f"the check's {when} did not finish within {seconds:g} s (check_timeout_s); stopped")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _bounded(item, "setup"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _bounded(item, "call"):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    with _bounded(item, "teardown"):
        return (yield)
