"""`python -m examples.shop --host H --port N`: serve the shop with uvicorn until SIGINT/SIGTERM.

Exit codes: 0 after a clean stop; 2 for a configuration the service refuses (one line on stderr: SHOP_USERS,
SHOP_FAULTS, SHOP_ACCESS_LOG) or bad arguments; 3 if uvicorn cannot start (e.g. the port is taken).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.shop", description="Serve the shop example service.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)

    from examples.shop.app import ConfigError, config_from_env, create_app

    try:
        app = create_app(config_from_env(os.environ))
    except ConfigError as err:
        print(f"shop: {err}", file=sys.stderr)
        return 2

    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False, server_header=False)
    )

    def note(signum: int, _frame: object) -> None:
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, note)
    server.run()
    return 0 if server.started else 3


if __name__ == "__main__":
    sys.exit(main())
