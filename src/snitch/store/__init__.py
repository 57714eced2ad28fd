"""Message storage behind one protocol; ``open_store`` picks the backend from settings."""

from snitch.store.backend import StoreBackend, open_backend
from snitch.store.protocol import Store, StoreWriter
from snitch.store.sql import SqlStore, open_store

__all__ = ["SqlStore", "Store", "StoreBackend", "StoreWriter", "open_backend", "open_store"]
