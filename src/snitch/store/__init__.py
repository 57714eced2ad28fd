"""Message storage behind one protocol; ``open_store`` picks the backend from settings."""

from snitch.store.protocol import Store, StoreWriter

__all__ = ["Store", "StoreWriter"]
