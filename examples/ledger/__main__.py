"""`python -m examples.ledger --host H --port N`: serve the ledger with uvicorn (one worker) until SIGINT/SIGTERM.

Exit codes: 0 after a clean stop (SIGINT or SIGTERM: in-flight requests finish, up to 5 s); 2 for a
configuration the service refuses (one line on stderr saying what to set: LEDGER_USERS, LEDGER_TOKEN_TTL_S,
LEDGER_FAULTS, LEDGER_ACCESS_LOG) or bad arguments; 3 if uvicorn cannot start (e.g. the port is taken).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.ledger", description="Serve the ledger example service.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)

    from examples.ledger.app import Config, ConfigError, create_app

    try:
        app = create_app(Config.from_env(os.environ))
    except ConfigError as err:
        print(f"ledger: {err}", file=sys.stderr)
        return 2

    import uvicorn

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,  # LEDGER_ACCESS_LOG is the access log
        server_header=False,  # no `Server: uvicorn` (nor a version) in any response
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)

    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again under the handlers it found:
    # with these (which do nothing more), a signalled stop ends with exit 0 instead of death by the signal.
    def note(signum: int, _frame: object) -> None:
        server.should_exit = True  # a signal before uvicorn took over still stops it

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, note)
    server.run()
    return 0 if server.started else 3  # uvicorn's own start-up failure code


if __name__ == "__main__":
    sys.exit(main())
