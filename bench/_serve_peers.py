"""The servers the serve benchmark runs beside ``snitch serve``, each as its own process.

``stub``: the slice of Discord's REST API the endpoint touches (log-in, and the webhook
the worker answers deferred commands through), so the worker does its real work.
``bare``: a bare ASGI app on the same server stack (uvicorn, same options) that answers
every POST with a PONG: the floor any interactions endpoint stands on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from typing import Any

import uvicorn
from aiohttp import web

PONG = json.dumps({"type": 1}).encode()
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
    app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", _message)
    app.router.add_patch(f"{api}/webhooks/{{app}}/{{token}}/messages/@original", _message)
    return app


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST anything: PONG. The least an interactions endpoint can do."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(PONG)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": PONG})


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
    args = parser.parse_args()
    if args.which == "stub":
        web.run_app(stub_app(), host="127.0.0.1", port=args.port, print=None)
        return
    config = uvicorn.Config(
        bare_app,
        host="127.0.0.1",
        port=args.port,
        lifespan="off",
        log_config=None,
        access_log=False,
    )
    asyncio.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
