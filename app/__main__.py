"""Entry point: `python -m app` serves on HOST:PORT; `python -m app migrate ...` runs the migrations."""

from __future__ import annotations

import sys

USAGE = "usage: python -m app [migrate [upgrade <rev>|downgrade <rev>]]"
WS_MAX_FRAME_BYTES = 64 * 1024


def serve() -> int:
    """Build the app from the environment and run uvicorn until SIGINT/SIGTERM."""
    import uvicorn

    from app.main import create_app
    from app.settings import Settings

    try:
        settings = Settings.from_env()
    except ValueError as err:
        print(f"configuration error: {err}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level == "DEBUG",
        ws_max_size=WS_MAX_FRAME_BYTES,
        timeout_graceful_shutdown=5,
    )
    return 0


def main(argv: list[str]) -> int:
    """Dispatch on the first argument."""
    if not argv:
        return serve()
    if argv[0] == "migrate":
        from app.migrate import run

        return run(argv[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
