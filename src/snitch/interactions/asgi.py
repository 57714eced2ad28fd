"""``snitch serve``: the interactions endpoint as a bare ASGI app (no web framework)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from snitch.interactions.handler import HttpReply, InteractionHandler
from snitch.interactions.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER

PATH: Final = "/interactions"
MAX_BODY: Final = 1 << 20  # Discord's interactions are far smaller; refuse anything bigger

_SIGNATURE_HEADERS: Final = frozenset(
    name.encode("latin-1") for name in (SIGNATURE_HEADER, TIMESTAMP_HEADER)
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class InteractionsApp:
    """POST /interactions goes to the handler; everything else is 404 or 405."""

    def __init__(self, handler: InteractionHandler, *, path: str = PATH) -> None:
        self._handler = handler
        self._path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] != self._path:
            await _send(send, HttpReply.of(404, {"error": "not found"}))
            return
        if scope["method"] != "POST":
            await _send(send, HttpReply.of(405, {"error": "use POST"}))
            return
        body = await _body(receive)
        if body is None:
            await _send(send, HttpReply.of(413, {"error": "the body is too large"}))
            return
        await _send(send, await self._handler.handle(body, _signature_headers(scope)))


def _signature_headers(scope: Scope) -> dict[str, str]:
    """The two headers verification reads: the handler needs no others, and decoding every
    header of every request would cost more than the lookup."""
    wanted = {}
    for name, value in scope["headers"]:
        if name.lower() in _SIGNATURE_HEADERS:
            wanted[name.decode("latin-1").lower()] = value.decode("latin-1")
    return wanted


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, reply: HttpReply) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [
                (b"content-type", reply.content_type.encode()),
                (b"content-length", str(len(reply.body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": reply.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
