"""v2: optimization_mode, pool_id, unique (user_id, session_id).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

from app.faults import from_env

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the v2 columns and replace the user_id index with a unique (user_id, session_id) index."""
    op.add_column(
        "chat_sessions",
        sa.Column("optimization_mode", sa.Text(), nullable=False, server_default="balanced"),
    )
    op.add_column("websocket_connections", sa.Column("pool_id", sa.Text(), nullable=True))
    op.drop_index("idx_sessions_user_id", table_name="chat_sessions")
    # rows written while a v1 schema was live may repeat (user_id, session_id): keep the oldest
    op.execute(
        "DELETE FROM chat_sessions a USING chat_sessions b"
        " WHERE a.user_id = b.user_id AND a.session_id = b.session_id AND a.id > b.id"
    )
    op.create_index("uq_sessions_user_session", "chat_sessions", ["user_id", "session_id"], unique=True)


def downgrade() -> None:
    """The deployment guide's "Database Rollback", plus dropping the unique index it leaves implicit."""
    faults = from_env()  # the reference app's deliberately bad builds (app/faults.py)
    if faults.active("downgrade_raises"):
        raise RuntimeError("fault downgrade_raises: this migration cannot be undone")
    if faults.active("downgrade_delay_s"):
        time.sleep(faults.value("downgrade_delay_s") or 0)
    op.drop_column("chat_sessions", "optimization_mode")
    op.drop_column("websocket_connections", "pool_id")
    op.drop_index("uq_sessions_user_session", table_name="chat_sessions")
    op.create_index("idx_sessions_user_id", "chat_sessions", ["user_id"])
    if faults.active("irreversible_migration"):  # the deliberately bad build: a v1 column's data is lost
        op.drop_column("chat_messages", "content")
        op.add_column("chat_messages", sa.Column("content", sa.Text(), nullable=False, server_default=""))
