"""Ingestion: messages flow through a queue to a worker that stores, embeds and indexes them."""

from snitch.ingest.queue import Delivery, InProcessQueue, MessageQueue
from snitch.ingest.worker import IngestWorker

__all__ = ["Delivery", "InProcessQueue", "IngestWorker", "MessageQueue"]
