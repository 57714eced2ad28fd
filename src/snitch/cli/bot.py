"""The Discord entry points: ``run`` (the bot), ``serve`` (HTTP), ``gateway``, ``commands``."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Annotated

import typer

from snitch.cli.shared import app, settings_of, user_errors
from snitch.config import Settings
from snitch.errors import ConfigError, SnitchError
from snitch.models import is_snowflake

TOKEN_HELP = (
    "no Discord bot token: set SNITCH_DISCORD__TOKEN (or put it in .env). "
    "The README's 'Running the bot' section shows where the developer portal keeps it."
)


REFUSED_TOKEN = (
    "Discord refused the token (SNITCH_DISCORD__TOKEN): copy it again from the developer "
    "portal's Bot page"
)


class DiscordRefused(SnitchError):
    """Discord turned the bot away; the message says what to change."""


@app.command("run")
def run(ctx: typer.Context) -> None:
    """Run the bot: live ingestion, slash commands, scheduled editions."""
    settings = settings_of(ctx)
    with user_errors():
        if settings.discord.token is None or not settings.discord.token.get_secret_value():
            raise ConfigError(TOKEN_HELP)
        try:
            asyncio.run(_run(settings, settings.discord.token.get_secret_value()))
        except KeyboardInterrupt:
            typer.echo("stopped", err=True)


async def _run(settings: Settings, token: str) -> None:
    """Open the services, then the gateway; close both on the way out."""
    import discord

    from snitch.bot.client import SnitchBot, use_api_base
    from snitch.bot.services import open_services
    from snitch.telemetry import configure_telemetry

    use_api_base(settings.discord.api_base)
    configure_telemetry(settings)
    async with open_services(settings) as services:
        bot = SnitchBot(
            services,
            sync_commands=settings.discord.sync_commands,
            command_guild_id=settings.discord.command_guild_id,
        )
        try:
            async with bot:
                await bot.start(token)
        except discord.LoginFailure:
            raise DiscordRefused(REFUSED_TOKEN) from None
        except discord.PrivilegedIntentsRequired:
            raise DiscordRefused(
                "the Message Content intent is off: turn on 'Message Content Intent' on the "
                "developer portal's Bot page, then start again"
            ) from None


@app.command("commands")
def commands(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the schema as JSON (the only format).")
    ] = True,
) -> None:
    """Print the slash commands the bot registers, for registering them over HTTP."""
    from snitch.bot.client import command_schema

    schema = asyncio.run(command_schema())
    typer.echo(json.dumps(schema, indent=2, sort_keys=True))


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Serve slash commands over HTTP at POST /interactions (no gateway connection)."""
    settings = settings_of(ctx)
    with user_errors():
        try:
            asyncio.run(_serve(settings, host, port))
        except KeyboardInterrupt:
            typer.echo("stopped", err=True)


async def _serve(settings: Settings, host: str, port: int) -> None:
    """The services, the bot over HTTP, and uvicorn, in one event loop."""
    import uvicorn

    from snitch.bot.client import use_api_base
    from snitch.bot.services import open_services
    from snitch.interactions.endpoint import interaction_endpoint
    from snitch.telemetry import configure_telemetry

    use_api_base(settings.discord.api_base)
    configure_telemetry(settings)
    async with open_services(settings) as services, interaction_endpoint(services) as endpoint:
        # Everything opened so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise walk the whole heap (torch, chromadb...)
        # while requests wait.
        gc.freeze()
        config = uvicorn.Config(
            endpoint.app, host=host, port=port, lifespan="off", log_config=None, access_log=False
        )
        await uvicorn.Server(config).serve()


@app.command("register-commands")
def register_commands(
    ctx: typer.Context,
    guild: Annotated[
        str | None,
        typer.Option(help="Register on this server only (instant); default: everywhere."),
    ] = None,
) -> None:
    """Register the slash commands with Discord over HTTP (for snitch serve and Azure)."""
    settings = settings_of(ctx)
    with user_errors():
        token = settings.discord.token
        if token is None or not token.get_secret_value():
            raise ConfigError(TOKEN_HELP)
        if guild is not None and not is_snowflake(guild):
            raise typer.BadParameter(f"{guild!r} is not a server id", param_hint="--guild")
        from snitch.bot.client import use_api_base

        use_api_base(settings.discord.api_base)
        count = asyncio.run(register(token.get_secret_value(), guild))
    where = f"on server {guild}" if guild else "globally (they can take a while to appear)"
    typer.echo(f"registered {count} commands {where}", err=True)


async def register(token: str, guild_id: str | None) -> int:
    """Register the tree ``snitch commands --json`` prints; returns how many commands."""
    import discord

    from snitch.bot.client import SnitchBot

    bot = SnitchBot(None, runs_jobs=False)  # the commands, without services or a gateway
    try:
        await bot.login(token)
        target = discord.Object(int(guild_id)) if guild_id else None
        if target is not None:
            bot.tree.copy_global_to(guild=target)
        registered = await bot.tree.sync(guild=target)
    except discord.LoginFailure:
        raise DiscordRefused(REFUSED_TOKEN) from None
    finally:
        await bot.close()
    return len(registered)


@app.command("gateway")
def gateway(ctx: typer.Context) -> None:
    """Forward server messages to Service Bus for the Azure Functions (no commands here)."""
    settings = settings_of(ctx)
    with user_errors():
        token = settings.discord.token
        if token is None or not token.get_secret_value():
            raise ConfigError(TOKEN_HELP)
        try:
            asyncio.run(_gateway(settings, token.get_secret_value()))
        except KeyboardInterrupt:
            typer.echo("stopped", err=True)


async def _gateway(settings: Settings, token: str) -> None:
    """The Service Bus sender, then the gateway, in one event loop."""
    import discord

    from snitch.bot.client import use_api_base
    from snitch.bot.gateway import Forwarder
    from snitch.queues.servicebus import EnvelopeSender, open_servicebus
    from snitch.telemetry import configure_telemetry

    use_api_base(settings.discord.api_base)
    configure_telemetry(settings)
    async with open_servicebus(settings.servicebus) as client:
        sender = EnvelopeSender(client, settings.servicebus.messages_queue)
        try:
            async with Forwarder(sender.send) as forwarder:
                await forwarder.start(token)
        except discord.LoginFailure:
            raise DiscordRefused(REFUSED_TOKEN) from None
        finally:
            await sender.close()
