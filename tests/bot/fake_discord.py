"""A local server that speaks the slice of Discord's REST API the bot uses, on loopback.

discord.py runs unpatched against it: its HTTP client, rate limiter, webhook adapter and
models all do their real work; only ``Route.BASE`` points here instead of discord.com.
Everything the bot sends is recorded for the tests to read: interaction responses,
follow-ups, channel messages and registered commands. Channel history is served from
``history`` for backfill, newest first and paged as Discord pages it, and ``rate_limit``
answers the next requests to a path with 429 and ``Retry-After`` to prove the bot waits.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.bot import payloads

JsonDict = dict[str, Any]


def _json(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON answer with Discord's exact content type (discord.py compares it verbatim)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@dataclass
class Sent:
    """One message the bot posted: where, and the JSON body it sent."""

    channel_id: str
    body: JsonDict
    message_id: str
    ephemeral: bool = False
    via: str = "channel"  # "channel", "interaction", "followup" or "original" (an edit of it)


@dataclass
class FakeDiscord:
    """The recorded state of the fake API."""

    callbacks: list[tuple[str, JsonDict]] = field(default_factory=list)  # (interaction id, body)
    sent: list[Sent] = field(default_factory=list)
    commands: dict[str | None, list[JsonDict]] = field(default_factory=dict)  # guild id or None
    history: dict[str, list[JsonDict]] = field(default_factory=lambda: defaultdict(list))
    history_requests: list[dict[str, str]] = field(default_factory=list)
    rate_limited: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    accepted_token: str | None = None  # when set, any other token gets 401
    history_gate: asyncio.Event | None = None  # when set, history waits for it to open
    answered: asyncio.Event = field(default_factory=asyncio.Event)  # set on every reply
    _limits: dict[str, int] = field(default_factory=dict)
    _forbidden: dict[str, tuple[int, int]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _interaction_channels: dict[str, str] = field(default_factory=dict)

    def rate_limit(self, path_part: str, times: int = 1) -> None:
        """Answer the next ``times`` requests whose path contains ``path_part`` with 429."""
        self._limits[path_part] = times

    def forbid(self, path_part: str, *, after: int = 0, times: int = 1) -> None:
        """Answer 403 Missing Access to requests whose path holds ``path_part``, after ``after``."""
        self._forbidden[path_part] = (after, times)

    def expect_interaction(self, token: str, channel_id: str) -> None:
        """Where an interaction's follow-ups appear (its channel)."""
        self._interaction_channels[token] = channel_id

    def messages_in(self, channel_id: str) -> list[Sent]:
        """What the bot posted in one channel, in order."""
        return [sent for sent in self.sent if sent.channel_id == channel_id]

    def replies(self) -> list[Sent]:
        """Every answer to an interaction (responses and follow-ups), in order."""
        return [sent for sent in self.sent if sent.via != "channel"]

    def _new_id(self) -> str:
        return str(payloads.BASE_ID + 900_000_000 + next(self._ids))

    def app(self) -> web.Application:
        """The aiohttp application serving the API under /api/v10."""
        app = web.Application(middlewares=[self._middleware])
        api = "/api/v10"
        app.router.add_get(f"{api}/users/@me", self._me)
        app.router.add_get(f"{api}/oauth2/applications/@me", self._application)
        app.router.add_put(f"{api}/applications/{{app}}/commands", self._sync)
        app.router.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._sync)
        app.router.add_post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback)
        app.router.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        app.router.add_patch(
            f"{api}/webhooks/{{app}}/{{token}}/messages/@original", self._edit_original
        )
        app.router.add_get(f"{api}/channels/{{channel}}", self._channel)
        app.router.add_get(f"{api}/guilds/{{guild}}", self._guild)
        app.router.add_get(f"{api}/guilds/{{guild}}/channels", self._guild_channels)
        app.router.add_post(f"{api}/channels/{{channel}}/messages", self._create_message)
        app.router.add_get(f"{api}/channels/{{channel}}/messages", self._history)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        for part, left in list(self._limits.items()):
            if part in request.path and left > 0:
                self._limits[part] = left - 1
                self.rate_limited.append(request.path)
                body = {"message": "You are being rate limited.", "retry_after": 0.05}
                # Discord's own 429s come through its proxy (a Via header); discord.py takes a
                # 429 without one for a Cloudflare ban and gives up instead of waiting.
                headers = {
                    "Retry-After": "0.05",
                    "X-RateLimit-Scope": "user",
                    "Via": "1.1 google",
                }
                return _json(body, status=429, headers=headers)
        if self.accepted_token is not None and request.headers.get("Authorization") not in (
            f"Bot {self.accepted_token}",
            None,  # webhook routes (interaction answers) carry no bot token
        ):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        for part, (after, left) in list(self._forbidden.items()):
            if part in request.path and left > 0:
                if after > 0:
                    self._forbidden[part] = (after - 1, left)
                    continue
                self._forbidden[part] = (0, left - 1)
                return _json({"message": "Missing Access", "code": 50001}, status=403)
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPNotFound:
            self.unknown.append(f"{request.method} {request.path}")
            raise
        return response

    async def _me(self, _request: web.Request) -> web.Response:
        return _json(payloads.bot_user())

    async def _application(self, _request: web.Request) -> web.Response:
        return _json(payloads.application())

    async def _sync(self, request: web.Request) -> web.Response:
        body: list[JsonDict] = await request.json()
        guild = request.match_info.get("guild")
        registered = [
            {**command, "id": self._new_id(), "application_id": payloads.APP_ID, "version": "1"}
            for command in body
        ]
        self.commands[guild] = body
        return _json(registered)

    async def _callback(self, request: web.Request) -> web.Response:
        body: JsonDict = await request.json()
        interaction_id = request.match_info["id"]
        token = request.match_info["token"]
        self.callbacks.append((interaction_id, body))
        data = body.get("data") or {}
        ephemeral = bool(int(data.get("flags", 0)) & 64)
        message_id = self._new_id()
        if body["type"] == 4:  # a message in answer
            channel = self._interaction_channels.get(token, "0")
            self.sent.append(Sent(channel, data, message_id, ephemeral, via="interaction"))
            self.answered.set()
        return _json(
            {
                "interaction": {
                    "id": interaction_id,
                    "type": 2,
                    "response_message_id": message_id,
                    "response_message_loading": body["type"] == 5,
                    "response_message_ephemeral": ephemeral,
                },
                "resource": {"type": body["type"]},
            }
        )

    async def _followup(self, request: web.Request) -> web.Response:
        body: JsonDict = await request.json()
        channel = self._interaction_channels.get(request.match_info["token"], "0")
        ephemeral = bool(int(body.get("flags", 0)) & 64)
        message_id = self._new_id()
        self.sent.append(Sent(channel, body, message_id, ephemeral, via="followup"))
        self.answered.set()
        return _json(payloads.sent_message(message_id, channel, body))

    async def _edit_original(self, request: web.Request) -> web.Response:
        body: JsonDict = await request.json()
        channel = self._interaction_channels.get(request.match_info["token"], "0")
        message_id = self._new_id()
        self.sent.append(Sent(channel, body, message_id, via="original"))
        self.answered.set()
        return _json(payloads.sent_message(message_id, channel, body))

    async def _guild(self, request: web.Request) -> web.Response:
        """The test server, as GET /guilds/{id} describes it (no channels, no members)."""
        guild = payloads.guild_create()
        if request.match_info["guild"] != guild["id"]:
            return _json({"message": "Unknown Guild", "code": 10004}, status=404)
        for key in ("channels", "threads", "members", "joined_at", "large", "member_count"):
            guild.pop(key, None)
        return _json(guild)

    async def _guild_channels(self, request: web.Request) -> web.Response:
        """The test server's channels (threads are not listed here, as on Discord)."""
        return _json(payloads.guild_create()["channels"])

    async def _channel(self, request: web.Request) -> web.Response:
        """A channel of the test server, for a bot that has no gateway cache."""
        guild = payloads.guild_create()
        wanted = request.match_info["channel"]
        for channel in [*guild["channels"], *guild["threads"]]:
            if channel["id"] == wanted:
                return _json(channel)
        return _json({"message": "Unknown Channel", "code": 10003}, status=404)

    async def _create_message(self, request: web.Request) -> web.Response:
        body: JsonDict = await request.json()
        channel = request.match_info["channel"]
        message_id = self._new_id()
        self.sent.append(Sent(channel, body, message_id))
        return _json(payloads.sent_message(message_id, channel, body))

    async def _history(self, request: web.Request) -> web.Response:
        """Newest first, like Discord: ``before`` pages back, ``after`` pages forward."""
        if self.history_gate is not None:
            await self.history_gate.wait()
        channel = request.match_info["channel"]
        query = dict(request.query)
        self.history_requests.append({"channel": channel, **query})
        limit = int(query.get("limit", "50"))
        ordered = sorted(self.history[channel], key=lambda m: int(m["id"]), reverse=True)
        if "before" in query:
            ordered = [m for m in ordered if int(m["id"]) < int(query["before"])]
            page = ordered[:limit]
        elif "after" in query:
            newer = [m for m in ordered if int(m["id"]) > int(query["after"])]
            page = newer[-limit:]  # the oldest ones after the cursor
        else:
            page = ordered[:limit]
        return _json(page)
