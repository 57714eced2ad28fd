"""Message storage behind one protocol; ``open_store`` picks the backend from settings."""

from snitch.store.protocol import Store, StoreWriter
from snitch.store.sql import SqlStore, open_store

__all__ = ["SqlStore", "Store", "StoreWriter", "open_store"]
