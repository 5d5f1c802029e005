"""rollback.migrations: pytest-alembic's four built-in checks on a scratch database (single head, base ->
head, every revision down and up again, the models in app/models.py match the migrated schema)."""

from __future__ import annotations

import pytest
from pytest_alembic.tests import default


@pytest.mark.check("rollback.migrations.single_head")
def test_single_head(alembic_runner):
    default.test_single_head_revision(alembic_runner)


@pytest.mark.check("rollback.migrations.upgrade")
def test_upgrade(alembic_runner):
    default.test_upgrade(alembic_runner)


@pytest.mark.check("rollback.migrations.up_down")
def test_up_down(alembic_runner):
    default.test_up_down_consistency(alembic_runner)


@pytest.mark.check("rollback.migrations.models_match")
def test_models_match(alembic_runner):
    default.test_model_definitions_match_ddl(alembic_runner)
