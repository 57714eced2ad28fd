"""A scripted OpenAI-compatible chat-completions server on loopback.

Groq and OpenAI cannot be reached from here, so tests and benchmarks drive the real ``openai``
and ``groq`` SDKs (and LangChain's ``ChatOpenAI`` / ``ChatGroq`` on top of them) against this
server instead of patching the SDKs away. Each request pops the next scripted ``Reply`` or
``Failure``; when the script is empty a ``responder`` callback answers; with neither, the
server answers 500 so that an under-scripted test fails loudly.

It also serves ``/v1/embeddings``: every input string gets a deterministic vector from an
``embeddings`` callback (``fake_embedding`` by default: a unit vector derived from a hash of
the text), in ``float`` or ``base64`` encoding as the SDK asks. A scripted ``Failure`` at the
head of the script answers the next request of either kind; a scripted ``Reply`` is only ever
consumed by a chat completion.

Token counts the script does not give are a local estimate (``estimate_tokens``): roughly
four characters per token. It is not what a real tokenizer would say, but it is deterministic
and the same for every pipeline a benchmark compares, which is all a ratio needs.

Stdlib only, so benchmark scripts can import it without test dependencies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

__all__ = [
    "CHAT_PATHS",
    "EMBEDDING_PATHS",
    "FAKE_EMBEDDING_DIMENSIONS",
    "EmbeddingResponder",
    "Failure",
    "FakeLLMServer",
    "Recorded",
    "Reply",
    "Responder",
    "estimate_tokens",
    "fake_embedding",
    "prompt_tokens_of",
]

CHAT_PATHS = ("/v1/chat/completions", "/openai/v1/chat/completions")
"""The OpenAI SDK appends ``/chat/completions`` to ``.../v1``; Groq's uses ``/openai/v1/...``."""
MODEL_PATHS = ("/v1/models", "/openai/v1/models")
EMBEDDING_PATHS = ("/v1/embeddings", "/openai/v1/embeddings")
FAKE_EMBEDDING_DIMENSIONS = 8
MAX_EMBEDDING_INPUTS = 2048
"""OpenAI's limit on inputs per embeddings request; the fake refuses more, as the API does."""


@dataclass(frozen=True)
class Reply:
    """A 200 chat completion; token counts left as None are estimated by the server."""

    content: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Failure:
    """An error response with an OpenAI-style error body, e.g. a 429 with ``retry-after``."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str = "scripted failure"


@dataclass(frozen=True)
class Recorded:
    """One chat-completion or embeddings request as the server saw it.

    ``prompt_tokens`` is the server's estimate for the request (before any scripted override),
    so a responder can answer by the size of the prompt.
    """

    path: str
    body: dict[str, Any]
    headers: dict[str, str]
    prompt_tokens: int


Responder = Callable[[Recorded], Reply | Failure]
EmbeddingResponder = Callable[[str], Sequence[float]]
"""Maps one input text to its vector; the server answers 500 if it raises."""


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def _content_text(content: object) -> str:
    """The text of a message's content: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "".join(p for p in parts if isinstance(p, str))
    return ""


def fake_embedding(text: str, dimensions: int = FAKE_EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic unit vector for ``text``: the same text always gets the same vector."""
    digest = b""
    counter = 0
    while len(digest) < 2 * dimensions:
        digest += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    halves = (int.from_bytes(digest[2 * i : 2 * i + 2], "big") for i in range(dimensions))
    raw = [half / 32767.5 - 1.0 for half in halves]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


def _embedding_inputs(body: Mapping[str, Any]) -> list[str] | None:
    """The input strings of an embeddings request, or None if ``input`` is not text."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return None


def prompt_tokens_of(body: Mapping[str, Any]) -> int:
    """The estimated prompt tokens of a request: the estimate summed over message contents,
    or over the input strings of an embeddings request."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        inputs = _embedding_inputs(body) or []
        return sum(estimate_tokens(text) for text in inputs)
    return sum(
        estimate_tokens(_content_text(m.get("content"))) for m in messages if isinstance(m, dict)
    )


_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("tokens", "rate_limit_exceeded"),
}


def _error_body(status: int, message: str) -> dict[str, Any]:
    """The ``{"error": {...}}`` body both SDKs read the message from."""
    kind, code = _ERROR_KINDS.get(status, ("server_error", "internal_error"))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class _Server(ThreadingHTTPServer):
    """Tracks open connections and handler threads, so ``stop`` can close idle keep-alive
    sockets and join every thread.

    Handler threads are daemons, so a forgotten server never blocks interpreter exit; the
    standard library does not join daemon handler threads on close, so this class does.
    """

    daemon_threads = True

    def __init__(self, owner: FakeLLMServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._open_lock:
            self._open.add(request)
            self._handlers = [alive for alive in self._handlers if alive.is_alive()]
            self._handlers.append(thread)
        thread.start()

    def join_handlers(self, timeout: float = 5.0) -> None:
        """Wait for every handler thread to finish (they end once their socket closes)."""
        with self._open_lock:
            handlers = list(self._handlers)
        for thread in handlers:
            thread.join(timeout)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads blocked reading an idle keep-alive connection."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about dropped connections; print anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Routes requests to the owning ``FakeLLMServer``; HTTP/1.1 so SDK connection pools reuse."""

    protocol_version = "HTTP/1.1"

    @property
    def owner(self) -> FakeLLMServer:
        return cast(_Server, self.server).owner

    def log_message(self, format: str, *args: Any) -> None:
        """No request logging: test output stays readable."""

    def do_GET(self) -> None:
        self._drain_body()
        if self.path.split("?")[0] in MODEL_PATHS:
            model = {"id": self.owner.model, "object": "model", "created": 0, "owned_by": "fake"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, _error_body(404, f"no route for GET {self.path}"))

    def do_POST(self) -> None:
        raw = self._drain_body()
        path = self.path.split("?")[0]
        if path not in CHAT_PATHS and path not in EMBEDDING_PATHS:
            self._send_json(404, _error_body(404, f"no route for POST {self.path}"))
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_json(400, _error_body(400, "request body is not a JSON object"))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        record = Recorded(path, body, headers, prompt_tokens_of(body))
        if path in EMBEDDING_PATHS:
            status, payload, extra = self.owner._answer_embeddings(record)
        else:
            status, payload, extra = self.owner._answer(record)
        self._send_json(status, payload, extra)

    def _drain_body(self) -> bytes:
        """Read the whole body, so a keep-alive connection stays in step."""
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(
        self, status: int, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Scripted"
        self.send_response(status, phrase)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            if name.lower() not in ("content-type", "content-length"):
                self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class FakeLLMServer:
    """A chat-completions server on 127.0.0.1 that answers from a script, for the real SDKs.

    Use it as a context manager so the server always stops::

        with FakeLLMServer([Reply("hello")]) as server:
            client = openai.OpenAI(base_url=server.openai_base_url, api_key="t", max_retries=0)
    """

    def __init__(
        self,
        script: Iterable[Reply | Failure] = (),
        responder: Responder | None = None,
        model: str = "fake-model",
        embeddings: EmbeddingResponder = fake_embedding,
    ) -> None:
        self.model = model
        self.responder = responder
        self.embeddings = embeddings
        self.requests: list[Recorded] = []
        self._script: deque[Reply | Failure] = deque(script)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._calls = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._embedding_calls = 0
        self._embedding_tokens = 0
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bind an ephemeral loopback port and serve from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("FakeLLMServer is already running")
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-llm",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close open connections, and join every server thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None or thread is None:
            return
        httpd.shutdown()
        thread.join()
        httpd.close_connections()
        httpd.join_handlers()
        httpd.server_close()
        self._httpd = self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not running; use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def openai_base_url(self) -> str:
        """For ``openai.OpenAI(base_url=...)`` and ``ChatOpenAI(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def groq_base_url(self) -> str:
        """For ``groq.Groq(base_url=...)`` and ``ChatGroq(base_url=...)``: they add /openai/v1."""
        return f"http://127.0.0.1:{self.port}"

    def push(self, *items: Reply | Failure) -> None:
        """Append items to the script."""
        with self._lock:
            self._script.extend(items)

    @property
    def pending(self) -> int:
        """Scripted items not yet consumed (a test can assert its script was used up)."""
        with self._lock:
            return len(self._script)

    @property
    def calls(self) -> int:
        """Successful (200) chat completions served."""
        with self._lock:
            return self._calls

    @property
    def total_prompt_tokens(self) -> int:
        """Prompt tokens reported in ``usage`` over all successful replies."""
        with self._lock:
            return self._prompt_tokens

    @property
    def total_completion_tokens(self) -> int:
        """Completion tokens reported in ``usage`` over all successful replies."""
        with self._lock:
            return self._completion_tokens

    @property
    def embedding_calls(self) -> int:
        """Successful (200) embeddings requests served."""
        with self._lock:
            return self._embedding_calls

    @property
    def total_embedding_tokens(self) -> int:
        """Prompt tokens reported in ``usage`` over all successful embeddings requests."""
        with self._lock:
            return self._embedding_tokens

    def _answer_embeddings(self, record: Recorded) -> tuple[int, dict[str, Any], Mapping[str, str]]:
        """Record an embeddings request and answer it, refusing what the real API refuses."""
        with self._lock:
            self.requests.append(record)
            head = self._script[0] if self._script else None
            if isinstance(head, Failure):
                self._script.popleft()
                return head.status, _error_body(head.status, head.message), head.headers
            embed = self.embeddings
        inputs = _embedding_inputs(record.body)
        encoding = record.body.get("encoding_format", "float")
        if inputs is None:
            message = "input must be a string or a list of strings (FakeLLMServer embeds text)"
            return 400, _error_body(400, message), {}
        problem = None
        if not inputs or len(inputs) > MAX_EMBEDDING_INPUTS:
            problem = f"input must hold 1 to {MAX_EMBEDDING_INPUTS} items, got {len(inputs)}"
        elif "" in inputs:
            problem = f"input[{inputs.index('')}] is an empty string"
        elif encoding not in ("float", "base64"):
            problem = f"unknown encoding_format {encoding!r}"
        if problem is not None:
            return 400, _error_body(400, problem), {}
        try:
            vectors = [[float(x) for x in embed(text)] for text in inputs]
        except Exception as exc:  # a broken callback must fail the test, not hang it
            return 500, _error_body(500, f"embeddings callback raised {exc!r}"), {}
        with self._lock:
            self._embedding_calls += 1
            self._embedding_tokens += record.prompt_tokens
        model = record.body.get("model")
        data = [
            {
                "object": "embedding",
                "index": index,
                "embedding": (
                    base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                    if encoding == "base64"
                    else vector
                ),
            }
            for index, vector in enumerate(vectors)
        ]
        usage = {"prompt_tokens": record.prompt_tokens, "total_tokens": record.prompt_tokens}
        payload = {
            "object": "list",
            "data": data,
            "model": model if isinstance(model, str) else self.model,
            "usage": usage,
        }
        return 200, payload, {}

    def _answer(self, record: Recorded) -> tuple[int, dict[str, Any], Mapping[str, str]]:
        """Record the request and build (status, JSON body, extra headers) for it."""
        with self._lock:
            self.requests.append(record)
            if record.body.get("stream"):
                return 400, _error_body(400, "streaming is not supported by FakeLLMServer"), {}
            item = self._script.popleft() if self._script else None
            responder = self.responder
        if item is None:
            if responder is None:
                message = "FakeLLMServer script ran out and no responder is set"
                return 500, _error_body(500, message), {}
            try:
                item = responder(record)
            except Exception as exc:  # a broken responder must fail the test, not hang it
                return 500, _error_body(500, f"responder raised {exc!r}"), {}
        if isinstance(item, Failure):
            return item.status, _error_body(item.status, item.message), item.headers
        return 200, self._completion(record, item), {}

    def _completion(self, record: Recorded, reply: Reply) -> dict[str, Any]:
        """A ``chat.completion`` object in the shape ``openai`` and ``groq`` parse."""
        prompt = record.prompt_tokens if reply.prompt_tokens is None else reply.prompt_tokens
        completion = (
            estimate_tokens(reply.content)
            if reply.completion_tokens is None
            else reply.completion_tokens
        )
        with self._lock:
            self._calls += 1
            self._prompt_tokens += prompt
            self._completion_tokens += completion
            number = next(self._ids)
        model = record.body.get("model")
        return {
            "id": f"chatcmpl-fake-{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model if isinstance(model, str) else self.model,
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }
