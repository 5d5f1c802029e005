"""Alembic environment: online migrations against DATABASE_URL (or the URL set on the Config)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, Engine, create_engine, pool

from app.models import metadata
from app.settings import database_url_from_env

config = context.config
if config.config_file_name is not None and config.file_config.has_section("loggers"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """sqlalchemy.url from the Config when set there, else the normalised DATABASE_URL."""
    return config.get_main_option("sqlalchemy.url") or database_url_from_env()


def run_offline() -> None:
    """Emit SQL to stdout (alembic upgrade --sql)."""
    context.configure(
        url=database_url(), target_metadata=metadata, literal_binds=True, dialect_opts={"paramstyle": "named"}
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations in one transaction: on the connection (or engine) a caller handed in through
    config.attributes["connection"] (as pytest-alembic does), else on a short-lived engine of its own."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    engine = given if isinstance(given, Engine) else None
    own = engine is None
    if engine is None:
        engine = create_engine(database_url(), poolclass=pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        if own:
            engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
