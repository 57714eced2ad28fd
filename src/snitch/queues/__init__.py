"""Queues between processes, on Azure Service Bus.

- ``schema``: the versioned envelope of every queue message, and its message id (no SDK).
- ``servicebus``: the SDK edge: the client, envelope sender and receiver, dead-lettering.
- ``ingest``: ``ServiceBusQueue``, the ingestion ``MessageQueue`` across processes.
- ``interactions``: ``InteractionJobQueue``, deferred commands (and the Functions' backfill chunks).

The in-process queue stays in ``snitch.ingest``. Importing this package loads none of them.
"""
