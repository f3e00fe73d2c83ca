"""The store: engine, ORM base, transactions and migrations."""

from labkeeper.db.store import Base, Store, now_ms

__all__ = ["Base", "Store", "now_ms"]
