"""Alembic migrations for the AI Orchestra schema."""
