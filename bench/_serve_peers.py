"""The servers the serve benchmark runs beside ``snitch serve``, each as its own process.

``stub``: the slice of Discord's REST API the endpoint touches (log-in, and the webhook
the worker answers deferred commands through), so the worker does its real work; it counts
the answers it received (``GET /bench/answered``), so the benchmark can see every deferred
command finish.
``bare``: a bare ASGI app on the same server stack (uvicorn, same options) that answers
every POST with a PONG: the floor any HTTP endpoint stands on.
``bare --verify KEY``: the same, but it checks each request's Ed25519 signature first (401
if it fails), as Discord requires of any interactions endpoint: the floor a conforming one
stands on, and so the most any of them can reach on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from typing import Any

import uvicorn
from aiohttp import web
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

PONG = json.dumps({"type": 1}).encode()
UNAUTHORIZED = json.dumps({"error": "invalid request signature"}).encode()
APPLICATION_ID = "100000000000000001"
USER = {
    "id": APPLICATION_ID,
    "username": "the-snitch",
    "global_name": None,
    "discriminator": "0",
    "avatar": None,
    "bot": True,
}


def _json(data: Any) -> web.Response:
    # discord.py compares the content type verbatim, without a charset.
    return web.Response(body=json.dumps(data).encode(), content_type="application/json")


async def _message(request: web.Request) -> web.Response:
    body = await request.json()
    return _json(
        {
            "id": "100000000000009999",
            "channel_id": "100000000000000010",
            "author": USER,
            "content": body.get("content") or "",
            "timestamp": "2026-11-27T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds", []),
            "pinned": False,
            "type": 0,
        }
    )


def stub_app() -> web.Application:
    """Log-in and the interaction webhooks."""
    app = web.Application()
    api = "/api/v10"
    answered: dict[str, int] = {"edited": 0, "followed_up": 0}

    async def edit(request: web.Request) -> web.Response:
        answered["edited"] += 1
        return await _message(request)

    async def follow_up(request: web.Request) -> web.Response:
        answered["followed_up"] += 1
        return await _message(request)

    async def count(_request: web.Request) -> web.Response:
        return _json(answered)

    async def me(_request: web.Request) -> web.Response:
        return _json(USER)

    async def application(_request: web.Request) -> web.Response:
        return _json(
            {
                "id": APPLICATION_ID,
                "name": "The Snitch",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": USER,
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    app.router.add_get(f"{api}/users/@me", me)
    app.router.add_get(f"{api}/oauth2/applications/@me", application)
    app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", follow_up)
    app.router.add_patch(f"{api}/webhooks/{{app}}/{{token}}/messages/@original", edit)
    app.router.add_get("/bench/answered", count)
    return app


def bare_app(key: VerifyKey | None) -> Any:
    """POST anything: PONG. The least an interactions endpoint can do; with ``key``, only
    once the signature holds, the least a conforming one can."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        status, body = 200, PONG
        if key is not None and not _signed(key, scope["headers"], b"".join(chunks)):
            status, body = 401, UNAUTHORIZED
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def _signed(key: VerifyKey, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
    found = dict(headers)
    try:
        signature = bytes.fromhex(found[b"x-signature-ed25519"].decode())
        key.verify(found[b"x-signature-timestamp"] + body, signature)
    except (KeyError, ValueError, BadSignatureError):
        return False
    return True


def free_port() -> int:
    """A port nobody listens on right now, on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", choices=["stub", "bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--verify", metavar="KEY", help="bare: check signatures with this key")
    args = parser.parse_args()
    if args.which == "stub":
        web.run_app(stub_app(), host="127.0.0.1", port=args.port, print=None)
        return
    config = uvicorn.Config(
        bare_app(VerifyKey(bytes.fromhex(args.verify)) if args.verify else None),
        host="127.0.0.1",
        port=args.port,
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
