"""What goes on the queue between the HTTP endpoint and the interaction worker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class InteractionJob(BaseModel):
    """A deferred command: the raw interaction, which the worker runs to the end.

    The interaction id doubles as the queue message id, so a duplicate delivery of the
    same interaction is detected by the queue (Service Bus duplicate detection).
    """

    model_config = ConfigDict(frozen=True)

    interaction_id: str = Field(pattern=r"^[0-9]{1,20}$")
    application_id: str = Field(pattern=r"^[0-9]{1,20}$")
    payload: dict[str, Any]
    ephemeral: bool = False
    # Whether the endpoint ran the command's checks before deferring (then the worker's
    # run must not count them again), or deferred without running anything.
    checked: bool = True
    received_at: datetime

    @classmethod
    def of(
        cls, payload: dict[str, Any], *, ephemeral: bool, checked: bool = True
    ) -> InteractionJob:
        """The job for a raw interaction payload, received now."""
        return cls(
            interaction_id=str(payload["id"]),
            application_id=str(payload["application_id"]),
            payload=payload,
            ephemeral=ephemeral,
            checked=checked,
            received_at=datetime.now(UTC),
        )

    @property
    def message_id(self) -> str:
        """The queue message id (for duplicate detection)."""
        return self.interaction_id
