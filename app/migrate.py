"""Run the Alembic migrations programmatically (python -m app migrate ...)."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import create_engine, exc, make_url, pool

from app.settings import database_url_from_env

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
USAGE = "usage: python -m app migrate [upgrade <rev>|downgrade <rev>]  (default: upgrade head)"


def alembic_config(database_url: str) -> Config:
    """An in-code Alembic Config pointing at app/migrations and the given URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def current_revision(database_url: str) -> str:
    """The database's revision after migrating ('base' when empty)."""
    engine = create_engine(database_url, poolclass=pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision() or "base"
    finally:
        engine.dispose()


def run(args: list[str]) -> int:
    """Parse `[upgrade|downgrade] [rev]`, migrate, print one line; return the exit code."""
    if not args or args == ["upgrade"]:
        action, target = "upgrade", "head"
    elif len(args) == 2 and args[0] in ("upgrade", "downgrade"):
        action, target = args
    else:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        url = database_url_from_env()
    except ValueError as err:
        print(f"migrate: {err}", file=sys.stderr)
        return 2
    where = make_url(url).render_as_string(hide_password=True)
    try:
        step = command.upgrade if action == "upgrade" else command.downgrade
        step(alembic_config(url), target)
        now = current_revision(url)
    except CommandError as err:
        print(f"migrate: {action} {target}: {err}", file=sys.stderr)
        return 2
    except exc.OperationalError as err:
        reason = str(getattr(err, "orig", err)).strip().splitlines()[0]
        print(f"migrate: cannot connect to the database at {where}: {reason}", file=sys.stderr)
        return 1
    except exc.SQLAlchemyError as err:
        reason = str(getattr(err, "orig", err)).strip().splitlines()[0]
        print(f"migrate: {action} {target} failed on {where}: {reason}", file=sys.stderr)
        return 1
    print(f"migrate: {action} {target} ok; database {where} is at revision {now}")
    return 0
