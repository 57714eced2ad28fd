"""The interactions endpoint, framework-neutral: raw body and headers in, status and body out.

Both edges (the Functions HTTP trigger and ``snitch serve``'s ASGI app) only translate
their request and response objects; verification, routing and the 3-second rule live here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson
from nacl.signing import VerifyKey

from snitch.interactions.priority import Answering
from snitch.interactions.signature import verified
from snitch.log import get_logger

PING: Final = 1
APPLICATION_COMMAND: Final = 2
AUTOCOMPLETE: Final = 4
PONG: Final = {"type": 1}
log = get_logger(__name__)


@dataclass(frozen=True)
class HttpReply:
    """An HTTP response, in the plainest terms."""

    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def of(cls, status: int, document: object) -> HttpReply:
        """A JSON reply."""
        return cls(status, orjson.dumps(document))


UNAUTHORIZED: Final = HttpReply.of(401, {"error": "invalid request signature"})
PONG_REPLY: Final = HttpReply.of(200, PONG)


class Runner(Protocol):
    """Turns a verified command interaction into its initial response."""

    async def initial(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The initial response body (type 4, 5 or 8)."""


class InteractionHandler:
    """Verifies, answers PING, and hands commands to the runner."""

    def __init__(
        self, key: VerifyKey, runner: Runner, *, clock: Callable[[], float] | None = None
    ) -> None:
        self._key = key
        self._runner = runner
        self._clock = clock
        self.answering = Answering()

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        """Answer one request to the endpoint."""
        self.answering.started()
        try:
            return await self._answer(body, headers)
        finally:
            self.answering.finished()

    async def _answer(self, body: bytes, headers: Mapping[str, str]) -> HttpReply:
        lowered = {name.lower(): value for name, value in headers.items()}
        now = self._clock() if self._clock else None
        if not verified(self._key, lowered, body, now=now):
            return UNAUTHORIZED
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return HttpReply.of(400, {"error": "the body is not JSON"})
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind == PING:
            return PONG_REPLY
        if kind not in (APPLICATION_COMMAND, AUTOCOMPLETE):
            return HttpReply.of(400, {"error": f"unsupported interaction type {kind!r}"})
        for field in ("id", "token", "application_id", "data"):
            if field not in payload:
                return HttpReply.of(400, {"error": f"the interaction has no {field!r}"})
        try:
            initial = await self._runner.initial(payload)
        except Exception:
            log.exception("interaction failed", interaction=payload.get("id"))
            return HttpReply.of(
                200,
                {
                    "type": 4,
                    "data": {
                        "content": "Something went wrong on our side, sorry. Try again soon.",
                        "flags": 64,
                        "allowed_mentions": {"parse": []},
                    },
                },
            )
        return HttpReply.of(200, initial)
