"""Run one server as another user and stop it when the harness dies, however it dies.

PR_SET_PDEATHSIG does not survive the uid change PostgreSQL needs (it refuses to run as root), so this
small root-owned parent holds the death signal and passes the server's stop signal on.
Usage: python -m harness.stack.babysit SIGNAL UID GID -- ARGV...
"""

from __future__ import annotations

import signal
import subprocess
import sys


def main(args: list[str]) -> int:
    sig, uid, gid = (int(a) for a in args[:3])
    argv = args[4:] if args[3:4] == ["--"] else args[3:]
    child = subprocess.Popen(argv, user=uid, group=gid, extra_groups=[])  # noqa: S603 - argv from the harness

    def forward(signum: int, frame: object) -> None:
        if child.poll() is None:
            child.send_signal(sig)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, forward)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
