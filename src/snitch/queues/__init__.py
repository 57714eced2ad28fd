"""Queues between processes, on Azure Service Bus.

- ``schema``: the versioned envelope of every queue message, and its message id (no SDK).
- ``servicebus``: the SDK edge: the client, envelope sender and receiver, dead-lettering.
- ``ingest``: ``ServiceBusQueue``, the ingestion ``MessageQueue`` across processes.
- ``interactions``: ``InteractionJobQueue`` and ``send_interaction_job``, deferred commands.

The in-process queue stays in ``snitch.ingest``. Importing this package loads none of them.
"""
