"""The schema the migrations build (head revision), as SQLAlchemy Core tables.

The service queries with plain SQL (app/db.py); these tables exist so that Alembic's autogenerate can
compare the migrated database with what the code expects (pytest-alembic's model/DDL check in the
harness's rollback suite). A migration that changes the schema changes this file too.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
_NOW = sa.text("now()")

chat_sessions = sa.Table(
    "chat_sessions",
    metadata,
    sa.Column("id", sa.BigInteger(), primary_key=True),
    sa.Column("user_id", sa.Text(), nullable=False),
    sa.Column("session_id", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW),
    sa.Column("optimization_mode", sa.Text(), nullable=False, server_default="balanced"),
    sa.Index("uq_sessions_user_session", "user_id", "session_id", unique=True),
)

chat_messages = sa.Table(
    "chat_messages",
    metadata,
    sa.Column("id", sa.BigInteger(), primary_key=True),
    sa.Column("session_id", sa.Text(), nullable=False),
    sa.Column("user_id", sa.Text(), nullable=False),
    sa.Column("role", sa.Text(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW),
    sa.CheckConstraint("role IN ('user', 'assistant')", name="ck_chat_messages_role"),
    sa.Index("idx_messages_session_id", "session_id"),
)

websocket_connections = sa.Table(
    "websocket_connections",
    metadata,
    sa.Column("id", sa.BigInteger(), primary_key=True),
    sa.Column("user_id", sa.Text(), nullable=True),
    sa.Column("session_id", sa.Text(), nullable=True),
    sa.Column("connected_at", sa.DateTime(timezone=True), server_default=_NOW),
    sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("pool_id", sa.Text(), nullable=True),
)
