"""Run one server as another user and stop it when the harness dies, however it dies.

PR_SET_PDEATHSIG is cleared by the uid change PostgreSQL needs (it refuses to run as root), so this small
root-owned parent holds the harness's death signal (armed by harness.process.spawn) and passes the
server's stop signal on. The server also gets the stop signal when this parent dies (armed after the uid
change, before exec), and a stop signal that arrives before the server started means it never starts.
Usage: python -m harness.stack.babysit SIGNAL UID GID -- ARGV...
"""

from __future__ import annotations

import signal
import subprocess
import sys

from harness.process import die_with_parent


def main(args: list[str]) -> int:
    sig, uid, gid = (int(a) for a in args[:3])
    argv = args[4:] if args[3:4] == ["--"] else args[3:]
    child: subprocess.Popen[bytes] | None = None
    stopping: list[int] = []

    def forward(signum: int, frame: object) -> None:
        stopping.append(signum)
        if child is not None and child.poll() is None:
            child.send_signal(sig)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    if stopping:  # stopped before the server started
        return 128 + stopping[0]
    child = subprocess.Popen(  # noqa: S603 - argv from the harness
        argv,
        user=uid,
        group=None if gid < 0 else gid,
        extra_groups=[],
        preexec_fn=die_with_parent(sig),  # noqa: PLW1509 - only prctl and getppid
    )
    if stopping and child.poll() is None:  # the stop signal landed while the server was being started
        child.send_signal(sig)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
