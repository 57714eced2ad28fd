"""The fake chat-completions server, driven by the real openai, groq and LangChain clients.

These tests are what lets other tests trust the fake: if an SDK changes the path it calls or
the response shape it parses, they fail here rather than somewhere in the newsroom.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import groq
import openai
import pytest
from langchain_groq import ChatGroq
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from tests.fake_llm import (
    Failure,
    FakeLLMServer,
    Recorded,
    Reply,
    estimate_tokens,
    prompt_tokens_of,
)

KEY = "test-key"


def openai_client(server: FakeLLMServer, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=retries)


def groq_client(server: FakeLLMServer) -> groq.Groq:
    return groq.Groq(base_url=server.groq_base_url, api_key=KEY, max_retries=0)


def test_estimate_is_a_quarter_of_the_characters_rounded_up() -> None:
    assert [estimate_tokens(t) for t in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]
    body = {
        "messages": [
            {"role": "system", "content": "12345678"},
            {"role": "user", "content": [{"type": "text", "text": "abcde"}]},
        ]
    }
    assert prompt_tokens_of(body) == 2 + 2


def test_openai_sdk_round_trip_with_estimated_usage() -> None:
    with FakeLLMServer([Reply("Scandal in #general!")]) as server:
        completion = openai_client(server).chat.completions.create(
            model="llama-test",
            messages=[
                {"role": "system", "content": "You are a tabloid reporter."},
                {"role": "user", "content": "What happened?"},
            ],
            temperature=0.2,
        )

    choice = completion.choices[0]
    assert choice.message.content == "Scandal in #general!"
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.model == "llama-test"
    assert completion.object == "chat.completion"
    prompt = estimate_tokens("You are a tabloid reporter.") + estimate_tokens("What happened?")
    completion_tokens = estimate_tokens("Scandal in #general!")
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == prompt
    assert completion.usage.completion_tokens == completion_tokens
    assert completion.usage.total_tokens == prompt + completion_tokens
    assert server.calls == 1
    assert server.total_prompt_tokens == prompt
    assert server.total_completion_tokens == completion_tokens

    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "llama-test"
    assert request.body["temperature"] == 0.2
    assert request.body["messages"] == [
        {"role": "system", "content": "You are a tabloid reporter."},
        {"role": "user", "content": "What happened?"},
    ]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.prompt_tokens == prompt


def test_scripted_token_counts_override_the_estimate() -> None:
    script = [Reply("ok", prompt_tokens=120, completion_tokens=7, finish_reason="length")]
    with FakeLLMServer(script) as server:
        completion = openai_client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )

    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (120, 7)
    assert (server.total_prompt_tokens, server.total_completion_tokens) == (120, 7)
    assert server.requests[0].prompt_tokens == estimate_tokens("hi")


def test_groq_sdk_uses_the_openai_v1_path() -> None:
    with FakeLLMServer([Reply("from groq", prompt_tokens=11, completion_tokens=3)]) as server:
        completion = groq_client(server).chat.completions.create(
            model="llama-3.1-8b-instant", messages=[{"role": "user", "content": "hi"}]
        )

    assert completion.choices[0].message.content == "from groq"
    assert completion.model == "llama-3.1-8b-instant"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 3)
    assert completion.usage.total_tokens == 14
    [request] = server.requests
    assert request.path == "/openai/v1/chat/completions"
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]


def test_langchain_chat_openai_invoke() -> None:
    with FakeLLMServer([Reply("Breaking news", prompt_tokens=9, completion_tokens=2)]) as server:
        model = ChatOpenAI(
            base_url=server.openai_base_url,
            api_key=SecretStr(KEY),
            model="gpt-fake",
            max_retries=0,
        )
        message = model.invoke("hi")

    assert message.content == "Breaking news"
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == 9
    assert message.usage_metadata["output_tokens"] == 2
    assert message.usage_metadata["total_tokens"] == 11
    [request] = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "gpt-fake"
    assert request.body["messages"] == [{"role": "user", "content": "hi"}]


def test_langchain_chat_groq_invoke() -> None:
    with FakeLLMServer([Reply("Exclusive")]) as server:
        model = ChatGroq(
            base_url=server.groq_base_url,
            api_key=SecretStr(KEY),
            model_name="llama-3.1-8b-instant",  # ChatGroq's field; "model" is its alias
            max_retries=0,
        )
        message = model.invoke("hi")

    assert message.content == "Exclusive"
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_tokens"] == estimate_tokens("hi")
    assert message.usage_metadata["output_tokens"] == estimate_tokens("Exclusive")
    assert server.total_prompt_tokens == estimate_tokens("hi")
    assert server.total_completion_tokens == estimate_tokens("Exclusive")
    [request] = server.requests
    assert request.path == "/openai/v1/chat/completions"
    assert request.body["model"] == "llama-3.1-8b-instant"


def test_rate_limit_surfaces_with_retry_after() -> None:
    script = [Failure(429, {"retry-after": "1"}, "Rate limit reached for model")]
    with FakeLLMServer(script) as server, pytest.raises(openai.RateLimitError) as caught:
        openai_client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )

    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    assert "Rate limit reached for model" in caught.value.message
    assert len(server.requests) == 1
    assert server.calls == 0


def test_groq_sdk_sees_the_same_rate_limit() -> None:
    with (
        FakeLLMServer([Failure(429, {"retry-after": "2"})]) as server,
        pytest.raises(groq.RateLimitError) as caught,
    ):
        groq_client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )

    assert caught.value.response.headers["retry-after"] == "2"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
    ],
)
def test_failures_map_to_sdk_errors(status: int, error: type[openai.APIStatusError]) -> None:
    with (
        FakeLLMServer([Failure(status, message="scripted boom")]) as server,
        pytest.raises(error) as caught,
    ):
        openai_client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )

    assert caught.value.status_code == status
    assert "scripted boom" in caught.value.message


def test_sdk_retries_a_503_and_then_succeeds() -> None:
    """The SDK's own retry loop honours ``retry-after-ms``; every attempt is recorded."""
    script: list[Reply | Failure] = [Failure(503, {"retry-after-ms": "1"}), Reply("lucky")]
    with FakeLLMServer(script) as server:
        completion = openai_client(server, retries=1).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )

    assert completion.choices[0].message.content == "lucky"
    assert len(server.requests) == 2
    assert server.requests[0].body == server.requests[1].body
    assert server.calls == 1
    assert server.pending == 0


def test_exhausted_script_fails_loudly() -> None:
    with FakeLLMServer([Reply("only one")]) as server:
        client = openai_client(server)
        messages: list[openai.types.chat.ChatCompletionMessageParam] = [
            {"role": "user", "content": "hi"}
        ]
        client.chat.completions.create(model="m", messages=messages)
        with pytest.raises(openai.InternalServerError, match="script ran out"):
            client.chat.completions.create(model="m", messages=messages)

    assert server.calls == 1
    assert len(server.requests) == 2


def test_responder_answers_after_the_script_and_push_extends_it() -> None:
    seen: list[Recorded] = []

    def responder(request: Recorded) -> Reply | Failure:
        seen.append(request)
        return Reply(f"{request.prompt_tokens} tokens heard")

    with FakeLLMServer([Reply("scripted")], responder=responder) as server:
        client = openai_client(server)
        contents = []
        for text in ("a", "12345678", "x"):
            if text == "x":
                server.push(Reply("pushed"))
            completion = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": text}]
            )
            contents.append(completion.choices[0].message.content)

    assert contents == ["scripted", "2 tokens heard", "pushed"]
    assert [r.body["messages"][0]["content"] for r in seen] == ["12345678"]


def test_broken_responder_becomes_a_500() -> None:
    def responder(request: Recorded) -> Reply | Failure:
        raise ValueError("no idea")

    with (
        FakeLLMServer(responder=responder) as server,
        pytest.raises(openai.InternalServerError, match="no idea"),
    ):
        openai_client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )


def test_streaming_is_refused_without_consuming_the_script() -> None:
    with (
        FakeLLMServer([Reply("unused")]) as server,
        pytest.raises(openai.BadRequestError, match="streaming is not supported"),
    ):
        openai_client(server).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], stream=True
        )

    assert server.pending == 1
    assert server.requests[0].body["stream"] is True


def test_models_list_and_unknown_paths() -> None:
    with FakeLLMServer(model="llama-fake") as server:
        assert [m.id for m in openai_client(server).models.list()] == ["llama-fake"]
        assert [m.id for m in groq_client(server).models.list().data] == ["llama-fake"]
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{server.groq_base_url}/v2/elsewhere", data=b"{}")
        assert caught.value.code == 404
        assert "no route" in json.loads(caught.value.read())["error"]["message"]
        caught.value.close()

    assert server.requests == []


def test_concurrent_requests_are_each_answered_once() -> None:
    def echo(request: Recorded) -> Reply:
        return Reply(f"echo {request.body['messages'][0]['content']}")

    texts = [f"message number {i}" for i in range(24)]
    with FakeLLMServer(responder=echo) as server:
        client = openai_client(server)

        def ask(text: str) -> str | None:
            completion = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": text}]
            )
            return completion.choices[0].message.content

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(ask, texts))

    assert answers == [f"echo {t}" for t in texts]
    assert server.calls == len(texts) == len(server.requests)
    assert server.total_prompt_tokens == sum(estimate_tokens(t) for t in texts)
    assert server.total_completion_tokens == sum(estimate_tokens(f"echo {t}") for t in texts)


async def test_async_clients() -> None:
    with FakeLLMServer([Reply("async sdk"), Reply("async chain", completion_tokens=5)]) as server:
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0)
        completion = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        await client.close()
        model = ChatOpenAI(
            base_url=server.openai_base_url, api_key=SecretStr(KEY), model="m", max_retries=0
        )
        message = await model.ainvoke("hello")

    assert completion.choices[0].message.content == "async sdk"
    assert message.content == "async chain"
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == 5
    assert server.calls == 2


def test_start_twice_and_stop_twice() -> None:
    server = FakeLLMServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.openai_base_url
    server.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            server.start()
    finally:
        server.stop()
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.groq_base_url


def test_stop_joins_threads_even_with_an_idle_keep_alive_connection() -> None:
    """An SDK client keeps its connection open; stopping must not leave a handler behind."""
    before = set(threading.enumerate())
    with FakeLLMServer([Reply("kept alive"), Reply("reused")]) as server:
        client = openai_client(server)
        for _ in range(2):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert server.requests[1].headers.get("connection", "keep-alive") == "keep-alive"

    assert set(threading.enumerate()) - before == set()
    client.close()
