"""Slash commands over HTTP, run by the very CommandTree the gateway bot runs.

An interaction that arrives as an HTTP request must be answered in that request's
response, within 3 seconds. discord.py answers through its webhook adapter, which it reads
from a context variable (``discord.webhook.async_.async_context``); the runner sets its own
adapter there for the one task that runs the command, so the command's code is unchanged:

- answering at once (``response.send_message``: the tip acknowledgement, an error) is
  captured and becomes the HTTP response body;
- deferring (``response.defer``) is captured as the type-5 response and stops the command
  there: the raw interaction goes on the queue, and a worker runs the command again
  (``finish``), where the deferral is already done and the first answer edits the
  original response (``PATCH /webhooks/{app}/{token}/messages/@original``), later ones
  follow up. The same commands therefore work in a process that holds no gateway;
- a command that neither answers nor defers in time is deferred for it and finishes where
  it runs, its first answer editing the original response (running it again could repeat
  what it had already done).

Work that runs again in the worker is marked (``interaction.extras[REPLAYED]``) so that
checks with side effects, such as cooldowns, count an invocation once.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

import aiohttp
import discord
from discord import app_commands
from discord.http import MultipartParameters
from discord.webhook.async_ import AsyncWebhookAdapter, async_context

from snitch.bot.cooldowns import REPLAYED
from snitch.bot.errors import HandedOver
from snitch.bot.replies import DEFERS_PRIVATELY
from snitch.interactions.jobs import InteractionJob
from snitch.log import get_logger

APPLICATION_COMMAND: Final = 2
SUBCOMMAND: Final = 1
SUBCOMMAND_GROUP: Final = 2
DEFERRED: Final = 5
EPHEMERAL: Final = 64
DEFAULT_DEADLINE: Final = 2.5  # seconds; Discord gives up on the request at 3

log = get_logger(__name__)

Enqueue = Callable[[InteractionJob], Awaitable[None]]


def _callback_result(interaction_id: int, kind: int, flags: int) -> dict[str, Any]:
    """What Discord answers a callback ``with_response``; discord.py reads it back."""
    return {
        "interaction": {
            "id": str(interaction_id),
            "type": 2,
            "response_message_loading": kind == DEFERRED,
            "response_message_ephemeral": bool(flags & EPHEMERAL),
        },
        "resource": {"type": kind},
    }


class _Adapter(AsyncWebhookAdapter):
    """discord.py's webhook adapter for one command run over HTTP.

    Capturing (the endpoint's run): the first response is kept for the HTTP answer, not
    sent; a deferral stops the run (``HandedOver``) for the worker to finish. Deferred (the
    worker's run, or a run the endpoint deferred for at the deadline): the deferral already
    happened, so a deferral is a no-op and the first answer edits the original response.
    """

    def __init__(self, application_id: int, *, deferred: bool, ephemeral: bool = False) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.initial: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._application_id = application_id
        self._deferred = deferred
        self._ephemeral = ephemeral
        self._original_sent = False

    def defer_here(self, *, ephemeral: bool) -> None:
        """The endpoint answered type 5 for a run that is still going: it finishes here."""
        self._deferred = True
        self._ephemeral = ephemeral

    def create_interaction_response(  # type: ignore[override]
        self,
        interaction_id: int,
        token: str,
        *,
        session: aiohttp.ClientSession,
        proxy: str | None = None,
        proxy_auth: aiohttp.BasicAuth | None = None,
        params: MultipartParameters,
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        async def respond() -> dict[str, Any]:
            if params.files:
                raise HandedOver("files cannot be sent in an HTTP interaction response")
            body = dict(params.payload or {})
            kind = int(body.get("type", 4))
            if self._deferred:
                if kind != DEFERRED:  # an answer where a deferral was given: edit it
                    await self._edit_original(token, body.get("data") or {}, session, proxy)
                flags = EPHEMERAL if self._ephemeral else 0
                return _callback_result(interaction_id, DEFERRED, flags)
            if not self.initial.done():
                self.initial.set_result(body)
            if kind == DEFERRED:
                raise HandedOver("deferred: the worker finishes this command")
            self._original_sent = True
            flags = int((body.get("data") or {}).get("flags", 0))
            return _callback_result(interaction_id, kind, flags)

        return respond()

    def execute_webhook(
        self,
        webhook_id: int,
        token: str,
        *,
        session: aiohttp.ClientSession,
        proxy: str | None = None,
        proxy_auth: aiohttp.BasicAuth | None = None,
        payload: dict[str, Any] | None = None,
        multipart: list[dict[str, Any]] | None = None,
        files: Any = None,
        thread_id: int | None = None,
        wait: bool = False,
        with_components: bool = False,
    ) -> Any:
        if self._deferred and not self._original_sent and not files:
            return self._edit_original(token, payload or {}, session, proxy)
        return super().execute_webhook(
            webhook_id,
            token,
            session=session,
            proxy=proxy,
            proxy_auth=proxy_auth,
            payload=payload,
            multipart=multipart,
            files=files,
            thread_id=thread_id,
            wait=wait,
            with_components=with_components,
        )

    def _edit_original(
        self,
        token: str,
        data: dict[str, Any],
        session: aiohttp.ClientSession,
        proxy: str | None,
    ) -> Any:
        """PATCH /webhooks/{app}/{token}/messages/@original (ephemerality was set earlier)."""
        self._original_sent = True
        body = {key: value for key, value in data.items() if key != "flags"}
        return self.edit_webhook_message(
            self._application_id,
            token,
            "@original",  # type: ignore[arg-type]
            session=session,
            proxy=proxy,
            payload=body,
        )


def defers_first(tree: app_commands.CommandTree[Any], payload: dict[str, Any]) -> bool:
    """Whether the command is marked ``DEFERS_PRIVATELY``: its first answer is always a
    private deferral, so the endpoint can give it without running anything."""
    data = payload.get("data") or {}
    command = tree.get_command(str(data.get("name", "")))
    options = data.get("options") or []
    while (
        isinstance(command, app_commands.Group)
        and options
        and options[0].get("type")
        in (
            SUBCOMMAND,
            SUBCOMMAND_GROUP,
        )
    ):
        command = command.get_command(str(options[0].get("name", "")))
        options = options[0].get("options") or []
    return isinstance(command, app_commands.Command) and bool(command.extras.get(DEFERS_PRIVATELY))


class TreeRunner:
    """Runs interactions through a logged-in bot's CommandTree (see the module docstring)."""

    def __init__(
        self,
        bot: discord.Client,
        tree: app_commands.CommandTree[Any],
        enqueue: Enqueue,
        *,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self._bot = bot
        self._tree = tree
        self._enqueue = enqueue
        self._deadline = deadline
        self._background: set[asyncio.Task[None]] = set()

    async def initial(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The HTTP response for a command or autocomplete interaction."""
        if payload.get("type") == APPLICATION_COMMAND and defers_first(self._tree, payload):
            # Nothing to run here: answer the deferral it would make, and let the worker
            # run it whole, checks included (their refusals edit the private deferral).
            initial = {"type": DEFERRED, "data": {"flags": EPHEMERAL}}
            await self._queue(payload, initial, checked=False)
            return initial
        adapter = _Adapter(int(payload["application_id"]), deferred=False)
        task = self._start(payload, adapter, replayed=False)
        pending: set[asyncio.Future[Any]] = {task, adapter.initial}
        await asyncio.wait(pending, timeout=self._deadline, return_when=asyncio.FIRST_COMPLETED)
        if adapter.initial.done():
            initial = adapter.initial.result()
            if initial.get("type") == DEFERRED:
                await self._queue(payload, initial)
            return initial
        if task.done():  # finished without answering: say so rather than leave Discord hanging
            return {"type": 4, "data": {"content": "Done.", "flags": EPHEMERAL}}
        # Still working at the deadline: defer for it and let it finish where it is, since
        # running it again from the start could repeat what it already did.
        adapter.defer_here(ephemeral=True)
        log.info("command deferred at the deadline", interaction=payload.get("id"))
        return {"type": DEFERRED, "data": {"flags": EPHEMERAL}}

    async def finish(self, job: InteractionJob) -> None:
        """The worker's half: run the deferred command to the end, answering by webhook."""
        adapter = _Adapter(int(job.application_id), deferred=True, ephemeral=job.ephemeral)
        # A command the endpoint ran up to its deferral has passed its checks already.
        await self._start(job.payload, adapter, replayed=job.checked)

    def _start(
        self, payload: dict[str, Any], adapter: AsyncWebhookAdapter, *, replayed: bool
    ) -> asyncio.Task[None]:
        context = contextvars.copy_context()
        context.run(async_context.set, adapter)
        interaction: discord.Interaction[Any] = discord.Interaction(
            data=payload,  # type: ignore[arg-type]
            state=self._bot._connection,
        )
        if replayed:
            interaction.extras[REPLAYED] = True
        task = asyncio.create_task(self._call(interaction), context=context)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _call(self, interaction: discord.Interaction[Any]) -> None:
        """What CommandTree does with a gateway interaction, awaited."""
        try:
            await self._tree._call(interaction)
        except app_commands.AppCommandError as error:
            await self._tree.on_error(interaction, error)

    async def _queue(
        self, payload: dict[str, Any], initial: dict[str, Any], *, checked: bool = True
    ) -> None:
        flags = int((initial.get("data") or {}).get("flags", 0))
        job = InteractionJob.of(payload, ephemeral=bool(flags & EPHEMERAL), checked=checked)
        await self._enqueue(job)

    async def drain(self) -> None:
        """Wait for commands still finishing after their HTTP answer (shutdown, tests)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
