"""Telemetry: the instruments, read back through the SDK's in-memory exporter and reader;
W3C trace context across a queue; and what ``configure_telemetry`` installs for each setting.

Nothing here reaches past loopback: the OTLP and Azure Monitor exporters send to a
collector these tests run on 127.0.0.1, and the Azure Monitor distro, which changes
process-wide state (global providers, library instrumentation, a root log handler), is
configured in a child process that refuses any connection or name lookup off loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once

from snitch.bot.services import Services, open_services
from snitch.config import Settings
from snitch.editions import NothingToReport
from snitch.guilds import GuildSettings
from snitch.models import Channel, Guild, Message
from snitch.telemetry import (
    configure_telemetry,
    extract,
    inject,
    record_command,
    shutdown_telemetry,
    span,
)
from snitch.tips import generate_key
from tests.fake_llm import Failure, FakeLLMServer, Recorded, Reply
from tests.helpers import author

GUILD = Guild(id="100000000000000002", name="Telemetry Towers")
CHANNEL = Channel(id="100000000000000010", guild_id=GUILD.id, name="general")
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
ALICE, BOB = author("alice", "100000000000000101"), author("bob", "100000000000000102")
FEUD = (
    (ALICE, "who ate my pizza?? the whole pizza is gone"),
    (BOB, "not me, I hate pizza. ask around"),
    (ALICE, "liar! the pizza box is in your room"),
    (BOB, "fine. the pizza was amazing and I regret nothing"),
    (ALICE, "unbelievable, that was my birthday pizza"),
)
FAKE_IKEY = "00000000-0000-0000-0000-000000000000"


# ------------------------------------------------------------------------ providers


def reset_global_providers() -> None:
    """OpenTelemetry lets a process set its providers once; tests need to set them again."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE = Once()
    metrics_internal._METER_PROVIDER = None


@dataclass
class Captured:
    """Everything the process traced and measured since the fixture started."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def finished(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.spans.get_finished_spans() if s.name == name]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) of one instrument, cumulative since the start."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            (dict(point.attributes or {}), point)
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def sums(self, name: str) -> dict[tuple[tuple[str, Any], ...], float]:
        """A counter's value per attribute set."""
        return {tuple(sorted(attrs.items())): point.value for attrs, point in self.points(name)}


@contextmanager
def in_memory_telemetry() -> Iterator[Captured]:
    """In-memory providers installed as the global ones (what a test reads back)."""
    shutdown_telemetry()
    reset_global_providers()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    yield Captured(spans, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    reset_global_providers()


@pytest.fixture
def captured() -> Iterator[Captured]:
    """See ``in_memory_telemetry``."""
    with in_memory_telemetry() as telemetry:
        yield telemetry


@pytest.fixture
def fresh_providers() -> Iterator[None]:
    """No provider set yet, as in a new process; whatever a test configured is shut down."""
    shutdown_telemetry()
    reset_global_providers()
    yield
    shutdown_telemetry()
    reset_global_providers()


# ------------------------------------------------------------------------ a guild's chat


def feud_messages(start: datetime, first_id: int = 200_000_000_000_000_000) -> list[Message]:
    """A reply chain in #general, one message a minute from ``start``."""
    messages: list[Message] = []
    for minute, (who, text) in enumerate(FEUD):
        messages.append(
            Message(
                id=str(first_id + minute),
                guild_id=GUILD.id,
                channel_id=CHANNEL.id,
                author=who,
                content=text,
                timestamp=start + timedelta(minutes=minute),
                reply_to_id=messages[-1].id if messages else None,
                kind="Reply" if messages else "Default",
            )
        )
    return messages


@asynccontextmanager
async def services_with_chat(tmp_path: Path, **changes: Any) -> AsyncIterator[Services]:
    """The bot's services (no semantic memory) with a feud stored through live ingestion,
    in two batches."""
    settings = Settings(
        _env_file=None, data_dir=tmp_path / "data", tips={"key": generate_key()}, **changes
    )
    async with open_services(settings, memory=False, clock=lambda: NOW) as services:
        services.ingest.know(GUILD, [CHANNEL])
        feud = feud_messages(NOW - timedelta(hours=1))
        assert await services.ingest.submit(feud[:2]) == 2
        assert await services.ingest.submit(feud[2:]) == 3
        await services.ingest.drained()
        yield services


async def write(services: Services, *, hours: float = 2.0) -> None:
    await services.editions.write(
        GuildSettings.defaults(GUILD.id), since=NOW - timedelta(hours=hours), until=NOW
    )


def llm_settings(server: FakeLLMServer) -> dict[str, Any]:
    return {
        "provider": "openai",
        "base_url": server.openai_base_url,
        "api_key": "test-key",
        "model": "fake-model",
        "max_retries": 0,
    }


class LLM:
    """Answers each desk with a plausible reply (with token counts), or fails with a 500."""

    def __init__(self) -> None:
        self.failing = False

    def __call__(self, request: Recorded) -> Reply | Failure:
        if self.failing:
            return Failure(500, message="the model is down")
        system = json.dumps(request.body["messages"][0]["content"])
        reply: dict[str, Any]
        if "News Desk" in system:
            reply = {"stories": [{"candidate": "S1", "title": "Pizza!"}]}
        elif "Editor" in system:
            reply = {"headline": "S1", "supporting": [], "reason": "pizza"}
        else:
            article = {"story": "S1", "title": "PIZZA GATE", "summary": "Crumbs.", "quotes": []}
            reply = {"articles": [article]}
        return Reply(json.dumps(reply), prompt_tokens=100, completion_tokens=7)


# ------------------------------------------------------------------------ editions


async def test_an_offline_edition_records_its_duration_and_outcome_and_no_tokens(
    captured: Captured, tmp_path: Path
) -> None:
    async with services_with_chat(tmp_path) as services:
        await write(services)
        with pytest.raises(NothingToReport):  # nothing said in the last ten minutes
            await write(services, hours=1 / 6)

    points = captured.points("snitch.edition.duration")
    by_outcome = {attrs["outcome"]: (attrs, point) for attrs, point in points}
    assert set(by_outcome) == {"ok", "quiet"}
    attrs, point = by_outcome["ok"]
    assert attrs == {"engine": "offline", "persona": "gossip", "outcome": "ok"}
    assert point.count == 1
    assert point.sum > 0
    assert captured.points("snitch.llm.tokens") == []
    ok, quiet = captured.finished("edition.write")
    assert ok.attributes is not None
    assert ok.attributes["guild"] == GUILD.id
    assert ok.attributes["outcome"] == "ok"
    assert quiet.attributes is not None
    assert quiet.attributes["outcome"] == "quiet"
    assert quiet.status.status_code is not StatusCode.ERROR  # a quiet day is not an error


async def test_an_llm_edition_counts_its_tokens_and_a_failing_llm_is_a_fallback(
    captured: Captured, tmp_path: Path
) -> None:
    answers = LLM()
    with FakeLLMServer(responder=answers) as server:
        async with services_with_chat(tmp_path, llm=llm_settings(server)) as services:
            await write(services)
            answers.failing = True
            await write(services)

        assert server.calls == 3  # one edition, three desks; the second got only errors
        prompt, completion = server.total_prompt_tokens, server.total_completion_tokens

    model = "openai:fake-model"
    assert captured.sums("snitch.llm.tokens") == {
        (("kind", "prompt"), ("model", model)): prompt,
        (("kind", "completion"), ("model", model)): completion,
    }
    assert (prompt, completion) == (300, 21)
    outcomes = {attrs["outcome"]: attrs for attrs, _ in captured.points("snitch.edition.duration")}
    assert outcomes == {
        "ok": {"engine": model, "persona": "gossip", "outcome": "ok"},
        "fallback": {"engine": model, "persona": "gossip", "outcome": "fallback"},
    }


async def test_a_failed_edition_is_measured_and_traced_as_failed(
    captured: Captured, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with services_with_chat(tmp_path) as services:

        async def broken(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("the store went away")

        monkeypatch.setattr(services.store, "messages", broken)
        with pytest.raises(RuntimeError):
            await write(services)

    ((attrs, point),) = captured.points("snitch.edition.duration")
    assert attrs["outcome"] == "failed"
    assert point.count == 1
    (failed,) = captured.finished("edition.write")
    assert failed.status.status_code is StatusCode.ERROR


# ------------------------------------------------------------------------ queues


async def test_the_ingestion_queue_records_each_batchs_lag(
    captured: Captured, tmp_path: Path
) -> None:
    async with services_with_chat(tmp_path):
        pass

    ((attrs, point),) = captured.points("snitch.queue.lag")
    assert attrs == {"queue": "ingest"}
    assert point.count == 2  # two batches, each measured once
    assert 0 <= point.sum < 60


def test_a_trace_continues_across_a_queue(captured: Captured) -> None:
    assert inject({}) == {}  # outside any span there is nothing to carry

    with span("enqueue", kind=SpanKind.PRODUCER, queue="message-processing") as producer:
        properties = inject({"message_id": "42"})
    assert properties["traceparent"].startswith("00-")
    assert properties["message_id"] == "42"

    # The consumer, elsewhere: no current span, only the message's properties.
    with span("process", parent=extract(properties), kind=SpanKind.CONSUMER) as consumer:
        pass
    with span("unrelated", parent=extract({"traceparent": "garbage"})) as unrelated:
        pass

    sent, received = producer.get_span_context(), consumer.get_span_context()
    assert received.trace_id == sent.trace_id
    (processed,) = captured.finished("process")
    assert processed.parent is not None
    assert processed.parent.span_id == sent.span_id
    assert processed.parent.is_remote
    assert processed.kind is SpanKind.CONSUMER
    (enqueued,) = captured.finished("enqueue")
    assert enqueued.attributes == {"queue": "message-processing"}
    assert unrelated.get_span_context().trace_id != sent.trace_id


def test_queue_lag_is_never_negative(captured: Captured) -> None:
    from snitch.telemetry import record_queue_lag

    assert record_queue_lag("interactions", NOW, NOW + timedelta(seconds=1.5)) == 1.5
    assert record_queue_lag("interactions", NOW, NOW - timedelta(seconds=3)) == 0.0  # skew
    ((attrs, point),) = captured.points("snitch.queue.lag")
    assert attrs == {"queue": "interactions"}
    assert (point.count, point.sum) == (2, 1.5)


# ------------------------------------------------------------------------ configure_telemetry


@dataclass
class Collector:
    """An HTTP server on loopback that accepts every POST and remembers its path."""

    reply: bytes = b""
    content_type: str = "application/x-protobuf"
    paths: list[str] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Collector:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                collector.paths.append(self.path)
                collector.received.set()
                self.send_response(200)
                self.send_header("Content-Type", collector.content_type)
                self.send_header("Content-Length", str(len(collector.reply)))
                self.end_headers()
                self.wfile.write(collector.reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def quiet_settings(tmp_path: Path, **telemetry: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", telemetry=telemetry)


@pytest.fixture
def no_azure_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("APPLICATIONINSIGHTS_", "SNITCH_TELEMETRY__", "OTEL_")):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("fresh_providers", "no_azure_variables")
def test_without_settings_nothing_is_exported(tmp_path: Path) -> None:
    installed = configure_telemetry(quiet_settings(tmp_path))

    assert installed.exporter == "none"
    assert installed.tracer_provider is trace.get_tracer_provider()
    assert installed.meter_provider is metrics.get_meter_provider()
    assert installed.tracer_provider is not None
    assert installed.meter_provider is not None
    assert installed.tracer_provider._active_span_processor._span_processors == ()
    assert list(installed.meter_provider._metric_readers) == []
    # Spans are real (their ids can travel on a queue), they just go nowhere.
    with span("probe") as probe:
        assert probe.get_span_context().is_valid
        assert inject({})["traceparent"]
    record_command("leak", "ok")
    assert configure_telemetry(quiet_settings(tmp_path, otlp_endpoint="http://x")) is installed


@pytest.mark.usefixtures("fresh_providers", "no_azure_variables")
def test_an_otlp_endpoint_gets_traces_and_metrics_over_http(tmp_path: Path) -> None:
    with Collector() as collector:
        installed = configure_telemetry(quiet_settings(tmp_path, otlp_endpoint=collector.url + "/"))
        with span("probe"):
            record_command("leak", "refused")
        shutdown_telemetry()  # flushes both

    assert installed.exporter == "otlp"
    assert sorted(set(collector.paths)) == ["/v1/metrics", "/v1/traces"]


AZURE_PROBE = textwrap.dedent(
    """
    import json, socket, sys

    LOCAL = {"127.0.0.1", "::1", "localhost"}
    refused = []
    real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if isinstance(address, tuple) and address[0] not in LOCAL:
            refused.append(f"connect {address[0]}")
            raise OSError("tests never leave loopback")
        return real_connect(sock, address)

    def lookup(host, *args, **kwargs):
        if host not in LOCAL and host is not None:
            refused.append(f"lookup {host}")
            raise socket.gaierror("tests never leave loopback")
        return real_lookup(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.getaddrinfo = lookup

    from snitch.config import load_settings
    from snitch.telemetry import configure_telemetry, record_command, span

    settings = load_settings()
    installed = configure_telemetry(settings)
    with span("probe"):
        record_command("leak", "ok")
    tracer, meter = installed.tracer_provider, installed.meter_provider
    report = {
        "exporter": installed.exporter,
        "from_env": settings.telemetry.connection_string is not None,
        "span_exporters": sorted(
            type(p._batch_processor._exporter).__name__
            for p in tracer._active_span_processor._span_processors
            if hasattr(p, "_batch_processor")
        ),
        "metric_exporters": sorted(
            type(r._exporter).__name__
            for r in meter._metric_readers
            if hasattr(r, "_exporter")
        ),
        "service": tracer.resource.attributes.get("service.name"),
    }
    installed.shutdown()
    report["refused"] = refused
    print(json.dumps(report))
    """
)


@pytest.mark.usefixtures("no_azure_variables")
def test_a_connection_string_configures_azure_monitor(tmp_path: Path) -> None:
    track = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []}).encode()
    with Collector(reply=track, content_type="application/json") as collector:
        endpoint = collector.url + "/"
        env = {
            **os.environ,
            # Azure's own variable, as App Service and Functions set it.
            "APPLICATIONINSIGHTS_CONNECTION_STRING": (
                f"InstrumentationKey={FAKE_IKEY};IngestionEndpoint={endpoint};"
                f"LiveEndpoint={endpoint}"
            ),
            "SNITCH_DATA_DIR": str(tmp_path / "data"),
            "SNITCH_TELEMETRY__SERVICE_NAME": "snitch-test",
            "SNITCH_TELEMETRY__LIVE_METRICS": "false",
            # The SDK's own reports to Microsoft (statsbeat, SDK stats, remote settings).
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            "APPLICATIONINSIGHTS_SDKSTATS_DISABLED": "true",
            "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
            # Not on an Azure VM: skip the distro's probe of the instance metadata service.
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service",
        }
        result = subprocess.run(
            [sys.executable, "-c", AZURE_PROBE],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert collector.received.wait(timeout=5)

    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {
        "exporter": "azure-monitor",
        "from_env": True,
        "span_exporters": ["AzureMonitorTraceExporter"],
        "metric_exporters": ["AzureMonitorMetricExporter"],
        "service": "snitch-test",
        "refused": [],
    }
    assert any(path.endswith("/track") for path in collector.paths), collector.paths


def test_the_connection_string_is_a_secret_read_from_azures_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = f"InstrumentationKey={FAKE_IKEY};IngestionEndpoint=http://127.0.0.1:9/"
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", secret)
    monkeypatch.delenv("SNITCH_TELEMETRY__CONNECTION_STRING", raising=False)
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert settings.telemetry.connection_string is not None
    assert settings.telemetry.connection_string.get_secret_value() == secret
    assert FAKE_IKEY not in repr(settings)
    # SNITCH_TELEMETRY__CONNECTION_STRING wins over Azure's variable.
    monkeypatch.setenv("SNITCH_TELEMETRY__CONNECTION_STRING", "InstrumentationKey=other")
    chosen = Settings(_env_file=None, data_dir=tmp_path).telemetry.connection_string
    assert chosen is not None
    assert chosen.get_secret_value() == "InstrumentationKey=other"
