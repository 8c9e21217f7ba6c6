"""SQLite identity store (sqlite-utils)."""

from db.store import Store

__all__ = ["Store"]
