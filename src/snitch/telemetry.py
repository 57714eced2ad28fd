"""Traces and metrics: Azure Monitor when a connection string is set, OpenTelemetry otherwise.

``configure_telemetry`` runs once at each entry point (the CLI, the bot, the Functions):

- with an Application Insights connection string (``APPLICATIONINSIGHTS_CONNECTION_STRING``
  or ``SNITCH_TELEMETRY__CONNECTION_STRING``), the Azure Monitor distro: traces, metrics and
  the standard library's log records go to Application Insights, with retry files kept
  under the data directory;
- with ``SNITCH_TELEMETRY__OTLP_ENDPOINT``, the OpenTelemetry SDK exporting over OTLP/HTTP;
- with neither, the SDK's providers and no exporter: spans still get real ids (so a trace
  begun here continues in a process that does export) and nothing leaves the process.

The instruments (one meter and one tracer, both named ``snitch``) are looked up through the
global providers when first used after a provider changes, so whichever provider is
installed, by ``configure_telemetry`` or by a test's in-memory reader, receives them:

- ``snitch.edition.duration`` (histogram, seconds): writing an edition, by ``engine``,
  ``persona`` and ``outcome`` (ok, fallback, failed, quiet);
- ``snitch.llm.tokens`` (counter): tokens the LLM billed, by ``kind`` (prompt,
  completion) and ``model``;
- ``snitch.commands`` (counter): slash commands, by ``command`` and ``outcome`` (ok,
  refused, failed);
- ``snitch.queue.lag`` (histogram, seconds): from enqueue to processing, by ``queue``.

A trace continues across a queue in W3C trace context: the producer ``inject``s
``traceparent`` into the message's properties, the consumer ``extract``s it and starts its
span with that as the ``parent``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

from snitch.log import get_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

    from snitch.config import Settings, TelemetrySettings
    from snitch.models import Usage

__all__ = [
    "NAME",
    "SpanKind",
    "Telemetry",
    "configure_telemetry",
    "extract",
    "inject",
    "record_command",
    "record_edition",
    "record_queue_lag",
    "record_tokens",
    "shutdown_telemetry",
    "span",
]

NAME: Final = "snitch"  # the meter's and the tracer's
EditionOutcome = Literal["ok", "fallback", "failed", "quiet"]
CommandOutcome = Literal["ok", "refused", "failed"]
Exporter = Literal["azure-monitor", "otlp", "none"]

# Seconds. An edition takes a fraction of a second offline and up to minutes with a slow
# LLM; a queue's lag is milliseconds when it keeps up and minutes when it does not.
EDITION_BUCKETS: Final = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
QUEUE_LAG_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
)

_PROPAGATOR: Final = TraceContextTextMapPropagator()
log = get_logger(__name__)


# ---------------------------------------------------------------------------- set-up


@dataclass(frozen=True)
class Telemetry:
    """What ``configure_telemetry`` installed: where it exports, and the providers."""

    exporter: Exporter
    tracer_provider: SdkTracerProvider | None
    meter_provider: SdkMeterProvider | None

    def shutdown(self) -> None:
        """Export what is pending and stop (the SDK also does this at interpreter exit)."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


_installed: Telemetry | None = None


def configure_telemetry(settings: Settings) -> Telemetry:
    """Install the providers the settings ask for, once per process (later calls return
    what the first one installed)."""
    global _installed
    if _installed is None:
        _installed = _configure(settings.telemetry, settings.data_dir)
        log.debug("telemetry configured", exporter=_installed.exporter)
    return _installed


def shutdown_telemetry() -> None:
    """Flush and stop what ``configure_telemetry`` installed, and forget it."""
    global _installed
    if _installed is not None:
        _installed.shutdown()
        _installed = None


def _configure(section: TelemetrySettings, data_dir: Path) -> Telemetry:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    resource = Resource.create({SERVICE_NAME: section.service_name})
    secret = section.connection_string
    if secret is not None and secret.get_secret_value().strip():
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(
            connection_string=secret.get_secret_value().strip(),
            resource=resource,
            # Telemetry that could not be sent is retried from here, not from /tmp.
            storage_directory=str(data_dir / "telemetry"),
            enable_live_metrics=section.live_metrics,
        )
        return Telemetry("azure-monitor", *_global_sdk_providers())

    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer_provider = SdkTracerProvider(resource=resource)
    readers: list[MetricReader] = []
    if section.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = section.otlp_endpoint
        tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"))
        )
        readers.append(
            PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics"))
        )
    meter_provider = SdkMeterProvider(metric_readers=readers, resource=resource)
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return Telemetry("otlp" if section.otlp_endpoint else "none", *_global_sdk_providers())


def _global_sdk_providers() -> tuple[SdkTracerProvider | None, SdkMeterProvider | None]:
    """The global providers, if they are the SDK's (another library may have set its own
    first: OpenTelemetry keeps the first provider set)."""
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    return (
        tracer_provider if isinstance(tracer_provider, SdkTracerProvider) else None,
        meter_provider if isinstance(meter_provider, SdkMeterProvider) else None,
    )


# ---------------------------------------------------------------------------- instruments


@dataclass(frozen=True)
class _Instruments:
    tracer: trace.Tracer
    edition_duration: metrics.Histogram
    llm_tokens: metrics.Counter
    commands: metrics.Counter
    queue_lag: metrics.Histogram


_cache: tuple[trace.TracerProvider, metrics.MeterProvider, _Instruments] | None = None


def _instruments() -> _Instruments:
    """The tracer and instruments of the current global providers."""
    global _cache
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    if _cache is not None and _cache[0] is tracer_provider and _cache[1] is meter_provider:
        return _cache[2]
    meter = meter_provider.get_meter(NAME)
    made = _Instruments(
        tracer=tracer_provider.get_tracer(NAME),
        edition_duration=meter.create_histogram(
            "snitch.edition.duration",
            unit="s",
            description="Time to write an edition, by engine, persona and outcome.",
            explicit_bucket_boundaries_advisory=EDITION_BUCKETS,
        ),
        llm_tokens=meter.create_counter(
            "snitch.llm.tokens",
            unit="{token}",
            description="Tokens the LLM billed, by kind (prompt or completion) and model.",
        ),
        commands=meter.create_counter(
            "snitch.commands",
            unit="{command}",
            description="Slash commands run, by command and outcome.",
        ),
        queue_lag=meter.create_histogram(
            "snitch.queue.lag",
            unit="s",
            description="Time from enqueue to processing, by queue.",
            explicit_bucket_boundaries_advisory=QUEUE_LAG_BUCKETS,
        ),
    )
    _cache = (tracer_provider, meter_provider, made)
    return made


def record_edition(seconds: float, *, engine: str, persona: str, outcome: EditionOutcome) -> None:
    """How long an edition took, and how it came out."""
    _instruments().edition_duration.record(
        max(seconds, 0.0), {"engine": engine, "persona": persona, "outcome": outcome}
    )


def record_tokens(usage: Usage, model: str) -> None:
    """The tokens an edition's LLM calls cost (nothing for the offline engine)."""
    counter = _instruments().llm_tokens
    if usage.prompt_tokens:
        counter.add(usage.prompt_tokens, {"kind": "prompt", "model": model})
    if usage.completion_tokens:
        counter.add(usage.completion_tokens, {"kind": "completion", "model": model})


def record_command(name: str, outcome: CommandOutcome) -> None:
    """One slash command run to its end (``ok``), refused (the user's mistake, a cooldown,
    a check) or failed (our fault)."""
    _instruments().commands.add(1, {"command": name, "outcome": outcome})


def record_queue_lag(queue: str, enqueued_at: datetime, now: datetime | None = None) -> float:
    """Record and return the seconds an item waited in ``queue`` before processing."""
    lag = max(((now or datetime.now(UTC)) - enqueued_at).total_seconds(), 0.0)
    _instruments().queue_lag.record(lag, {"queue": queue})
    return lag


# ---------------------------------------------------------------------------- traces


@contextmanager
def span(
    name: str,
    *,
    parent: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    **attributes: AttributeValue | None,
) -> Iterator[Span]:
    """A span around the block, current inside it; a child of ``parent`` (from ``extract``)
    when given, else of the current span. An exception escaping the block is recorded on
    the span and marks it as an error. Attributes that are None are left out."""
    kept = {key: value for key, value in attributes.items() if value is not None}
    tracer = _instruments().tracer
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=kept) as current:
        yield current


def inject(carrier: dict[str, str], context: Context | None = None) -> dict[str, str]:
    """Write the current (or ``context``'s) span into ``carrier`` as W3C ``traceparent``
    (and ``tracestate``); nothing is written outside a recording span. Returns ``carrier``."""
    _PROPAGATOR.inject(carrier, context=context)
    return carrier


def extract(carrier: Mapping[str, str]) -> Context:
    """The trace context a producer ``inject``ed, to pass as a span's ``parent``; an empty
    context (a new trace) when there is none or it is malformed."""
    return _PROPAGATOR.extract(carrier)
