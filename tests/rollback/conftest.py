"""Rollback suite wiring: one rehearsal per session (harness/rollback/rehearsal.py) whose findings the
checks report area by area, and pytest-alembic's fixtures pointed at a scratch database on the target's
PostgreSQL (the migration checks go from base to head and back: never on the live database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.checks import not_applicable, not_run
from harness.plugins.target import harness_settings
from harness.rollback.rehearsal import Outcome, Plan, rehearse
from harness.service.auth import RequestsAuth
from harness.stack.admin import get_faults
from harness.target import Target

EXTERNAL = (
    "the rollback rehearsal downgrades the database and empties caches, so it runs only on a stack the harness "
    "started (a target given with --target has no database or Redis the harness may change); to check it: "
    "harness gate --phase internal --suites rollback on a stack the harness starts from the same build, or drop "
    "the rollback gates in a team policy for runs against a deployment"
)


def needs_own_stack(target: Target) -> None:
    """Not run on a target the harness did not start (the rehearsal could run on the same build's own stack,
    and this run did not); N/A on a stack that does not say where its database and Redis are."""
    if not target.ephemeral:
        not_run(EXTERNAL)
    if not target.database_url or not target.redis_url:
        not_applicable(f"the {target.stack} stack does not name its database and Redis URLs")


@pytest.fixture(scope="session")
def build_faults(target: Target) -> str:
    """The faults the build under test runs with (its admin endpoint says; '' for a clean build): its
    migrations are run with them, as the reference app's bad builds carry bad migrations too."""
    return get_faults(target) if target.admin_token else ""


@pytest.fixture(scope="session")
def rehearsal(pytestconfig: pytest.Config, target: Target, creds, build_faults: str, tmp_path_factory) -> Outcome:  # type: ignore[no-untyped-def]
    """The one rehearsal of this session (run by the first check that needs it)."""
    import requests

    needs_own_stack(target)
    settings = harness_settings(pytestconfig)
    faults = build_faults
    with requests.Session() as http:
        http.auth = RequestsAuth(creds) if creds.present() else None
        if target.ca_file:
            http.verify = target.ca_file
        workdir = Path(tmp_path_factory.mktemp("rollback"))
        return rehearse(http, target, Plan(), faults=faults, workdir=workdir, project_root=settings.project_root)


@pytest.fixture
def alembic_engine(target: Target) -> Iterator[object]:
    """pytest-alembic's database: a fresh scratch database on the target's server, dropped afterwards."""
    from sqlalchemy import create_engine, pool

    from harness.rollback.database import scratch_database

    needs_own_stack(target)
    assert target.database_url is not None
    with scratch_database(target.database_url) as url:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), poolclass=pool.NullPool)
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.fixture
def alembic_config(pytestconfig: pytest.Config, build_faults: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """The build's migrations (app/migrations), run in this process with the build's faults; the database
    is alembic_engine's."""
    from alembic.config import Config

    monkeypatch.setenv("ORCHESTRA_FAULTS", build_faults)

    config = Config()
    config.set_main_option("script_location", str(harness_settings(pytestconfig).project_root / "app" / "migrations"))
    return config
