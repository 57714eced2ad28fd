"""One ``async with`` for everything the project opens and must close: stores, queues,
archives. Leaving the block closes the resource, whatever happened in it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class AsyncClosing(ABC):
    """A resource used as ``async with resource: ...``, closed on the way out."""

    @abstractmethod
    async def close(self) -> None:
        """Release what the resource holds (connections, sessions, SDK clients)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
