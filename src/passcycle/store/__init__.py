"""The history store: every run and what was recorded about it, in SQLite or PostgreSQL."""

from passcycle.store.history import History
from passcycle.store.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "History"]
