"""The LLM side of the newsroom: chat models from settings, retries, cost accounting, JSON.

Every call goes through ``LLMClient.complete_json``: it counts the tokens the API reports,
retries rate limits and server errors with exponential backoff and full jitter (honouring
``Retry-After``), validates the reply against a pydantic model, and asks the model once to
repair a reply that does not validate. Anything that still fails raises ``LLMUnavailable``,
which the desks turn into a fallback to the offline engine.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, SecretStr, ValidationError

from snitch.config import LLMSettings
from snitch.errors import SnitchError
from snitch.log import get_logger
from snitch.models import Usage

log = get_logger(__name__)
T = TypeVar("T", bound=BaseModel)
Sleep = Callable[[float], Awaitable[None]]

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
JSON_BLOCK = re.compile(r"\{.*\}", re.DOTALL)
CHARS_PER_TOKEN = 3.5  # conservative for English chat; real counts come from the API


class LLMUnavailable(SnitchError):
    """The LLM could not give a usable answer; the caller falls back to the offline engine."""


def estimate_tokens(text: str) -> int:
    """A local, offline upper-ish estimate used only to budget prompts before sending."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass
class UsageMeter:
    """Calls and tokens of one edition, as the API reported them."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def record(self, reply: AIMessage) -> None:
        """Add one successful call's reported usage."""
        self.calls += 1
        usage = reply.usage_metadata
        if usage is not None:
            self.prompt_tokens += usage["input_tokens"]
            self.completion_tokens += usage["output_tokens"]

    def reset(self) -> None:
        """Zero the counts for a new edition."""
        self.calls = self.prompt_tokens = self.completion_tokens = 0

    def snapshot(self) -> Usage:
        """The totals so far, as the edition reports them."""
        return Usage(
            calls=self.calls,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up on the LLM for this call."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: a random wait up to an exponentially growing cap."""
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2**attempt))


def build_chat_model(settings: LLMSettings) -> BaseChatModel | None:
    """The configured chat model, or None for the offline engine.

    SDK retries are switched off: ``LLMClient`` retries itself, so that ``Retry-After``,
    backoff and the give-up point are ours and visible in the logs.
    """
    if settings.provider == "offline":
        return None
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if not key and settings.provider == "openai" and settings.base_url:
        key = "not-needed"  # local OpenAI-compatible servers (Ollama, vLLM ...) take any key
    if not key:
        raise SnitchError(
            f"SNITCH_LLM__API_KEY is not set but SNITCH_LLM__PROVIDER is {settings.provider!r}"
            " (for Groq, GROQ_API_KEY works too)"
        )
    common: dict[str, Any] = {
        "model": settings.model,
        "api_key": SecretStr(key),
        "base_url": settings.base_url,
        "temperature": settings.temperature,
        "timeout": settings.timeout_seconds,
        "max_retries": 0,
    }
    if settings.provider == "groq":
        from langchain_groq import ChatGroq

        return ChatGroq(**common)
    import openai
    from langchain_openai import ChatOpenAI

    # langchain-openai shares one async HTTP client per (base URL, timeout) across the whole
    # process, bound to the first event loop that used it; a later asyncio.run would find it
    # closed. An unhashable Timeout object opts out of that cache: one client per model.
    common["timeout"] = openai.Timeout(settings.timeout_seconds)
    return ChatOpenAI(**common)


async def aclose_chat_model(model: BaseChatModel) -> None:
    """Close the HTTP clients a long-lived chat model holds (the bot keeps one per process).

    ChatOpenAI keeps ``root_client``/``root_async_client``; ChatGroq keeps its SDK clients
    behind ``client._client`` and ``async_client._client``.
    """
    sync_client = getattr(model, "root_client", None) or getattr(
        getattr(model, "client", None), "_client", None
    )
    async_client = getattr(model, "root_async_client", None) or getattr(
        getattr(model, "async_client", None), "_client", None
    )
    if async_client is not None and hasattr(async_client, "close"):
        await async_client.close()
    if sync_client is not None and hasattr(sync_client, "close"):
        sync_client.close()


def _status_and_retry_after(exc: BaseException) -> tuple[int | None, float | None]:
    """HTTP status and Retry-After of an SDK error.

    Read by duck typing: the openai and groq SDKs raise look-alike errors carrying
    ``status_code`` and the HTTP ``response``, on different HTTP client libraries.
    """
    status = getattr(exc, "status_code", None)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    header = headers.get("retry-after") if headers is not None else None
    try:
        retry_after = float(header) if header is not None else None
    except (TypeError, ValueError):
        retry_after = None
    return (status if isinstance(status, int) else None), retry_after


def _is_transient(exc: BaseException) -> bool:
    status, _ = _status_and_retry_after(exc)
    if status is not None:
        return status in RETRYABLE_STATUS
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"APIConnectionError", "APITimeoutError", "TimeoutError"}) or isinstance(
        exc, OSError | asyncio.TimeoutError
    )


@dataclass
class LLMClient:
    """One chat model plus the edition's meter and retry policy."""

    model: BaseChatModel
    name: str
    usage: UsageMeter = field(default_factory=UsageMeter)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    sleep: Sleep = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    # Set once the API has failed past all retries: later desks of the same edition go
    # straight to their offline twins instead of waiting through the retries again.
    down: bool = False

    def reset(self) -> None:
        """A new edition: zero the meter and try the API again."""
        self.usage.reset()
        self.down = False

    async def complete(self, messages: Sequence[BaseMessage], *, purpose: str) -> AIMessage:
        """One call, retried on rate limits, timeouts and server errors."""
        if self.down:
            raise LLMUnavailable(f"{purpose}: skipped, the LLM already failed this edition")
        for attempt in range(self.policy.attempts):
            try:
                reply = await self.model.ainvoke(list(messages))
            except Exception as exc:
                status, retry_after = _status_and_retry_after(exc)
                last_try = attempt + 1 >= self.policy.attempts
                if not _is_transient(exc) or last_try:
                    self.down = True
                    log.warning(
                        "llm call failed", purpose=purpose, status=status, error=type(exc).__name__
                    )
                    raise LLMUnavailable(f"{purpose}: {type(exc).__name__}: {exc}") from exc
                wait = self.policy.backoff(attempt, self.rng)
                if retry_after is not None:
                    wait = max(wait, min(retry_after, self.policy.max_delay))
                log.info("llm call retried", purpose=purpose, status=status, wait=round(wait, 2))
                await self.sleep(wait)
                continue
            if not isinstance(reply, AIMessage):  # pragma: no cover - chat models return these
                raise LLMUnavailable(f"{purpose}: unexpected reply type {type(reply).__name__}")
            self.usage.record(reply)
            return reply
        raise LLMUnavailable(f"{purpose}: no attempts configured")  # pragma: no cover

    async def complete_json(self, system: str, user: str, schema: type[T], *, purpose: str) -> T:
        """Ask for JSON matching ``schema``; one repair round if the first reply is invalid."""
        messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(user)]
        reply = await self.complete(messages, purpose=purpose)
        try:
            return parse_reply(reply, schema)
        except ValueError as problem:
            log.info("llm reply repaired", purpose=purpose, problem=str(problem)[:200])
            repair = HumanMessage(
                "Your reply was not valid JSON for the requested schema: "
                f"{str(problem)[:500]}\nReply again with only the corrected JSON object."
            )
            second = await self.complete([*messages, reply, repair], purpose=f"{purpose} repair")
            try:
                return parse_reply(second, schema)
            except ValueError as again:
                raise LLMUnavailable(f"{purpose}: invalid JSON twice: {again}") from again


def parse_reply(reply: AIMessage, schema: type[T]) -> T:
    """The first JSON object in the reply (models like to wrap it in prose or fences)."""
    text = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
    match = JSON_BLOCK.search(text)
    if match is None:
        raise ValueError("no JSON object in the reply")
    try:
        return schema.model_validate_json(match.group(0))
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'reply'}: {error['msg']}"
            for error in exc.errors()[:5]
        )
        raise ValueError(details) from None


def model_label(settings: LLMSettings) -> str:
    """How the edition names the engine that wrote it."""
    return f"{settings.provider}:{settings.model}"
