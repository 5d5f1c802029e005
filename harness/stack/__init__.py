"""How a Target comes to exist: one backend per module behind the Stack protocol."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from harness.config import Settings
from harness.process import Terminated, cleanup, handling_signals, raise_swallowed
from harness.target import Target

__all__ = ["Stack", "Terminated", "choose", "make_stack", "running"]


class Stack(Protocol):
    """configure (constructor) -> check -> start (waits until ready) -> stop (always)."""

    name: str

    def check(self) -> None:
        """Raise a HarnessError for anything the user must fix before a start can work."""

    def start(self) -> Target:
        """Bring the system under test up and return where it answers."""

    def stop(self) -> None:
        """Stop whatever start() started; safe to call twice and after a failed start."""


def choose(settings: Settings) -> tuple[str, str]:
    """(backend, why) for the settings; `auto` picks containers only when they can run here."""
    if settings.stack != "auto":
        return settings.stack, f"--stack {settings.stack}"
    from harness.stack.containers import why_not_containers

    reason = why_not_containers(settings)
    if reason is None:
        return "containers", "auto: containers (a Docker engine answers and the images are present)"
    return "local", f"auto: local ({reason})"


def make_stack(settings: Settings, backend: str | None = None) -> Stack:
    """The backend the settings ask for (or `backend`, as chosen by choose())."""
    backend = backend or choose(settings)[0]
    if backend == "external":
        from harness.stack.external import ExternalStack

        return ExternalStack(settings)
    if backend == "containers":
        from harness.stack.containers import ContainersStack

        return ContainersStack(settings)
    from harness.stack.local import LocalStack

    return LocalStack(settings)


@contextmanager
def running(stack: Stack) -> Iterator[Target]:
    """Start the stack and stop it whatever happens: success, failure, Ctrl-C, SIGTERM or SIGHUP. The stop
    is shielded: a signal during it (a second one, or the first just as the run ended) never cuts it short."""
    with handling_signals():
        stack.check()
        try:
            target = stack.start()
            raise_swallowed()  # a signal during the start whose exception something swallowed still stops it
            yield target
        finally:
            cleanup(stack.stop)
