"""OpenTelemetry tracing: a consumer span per record, continuing the W3C trace of its input."""

from __future__ import annotations

import re

from opentelemetry import trace
from opentelemetry.context import Context as OtelContext
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_installed = False


def setup_tracing(service: str, exporter: str = "none") -> None:
    """Install the SDK tracer provider. exporter: none (no SDK, no cost), console, or otlp."""
    global _installed
    if exporter == "none" or _installed:
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": f"shebao-{service}"}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
                OTLPSpanExporter,
            )
        except ImportError as exc:  # pragma: no cover - depends on the deployment image
            raise RuntimeError("otlp tracing needs opentelemetry-exporter-otlp-proto-http") from exc
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _installed = True


def enabled() -> bool:
    """Whether spans are recorded (an SDK provider was installed by setup_tracing)."""
    return _installed


def trace_id_of(traceparent: str | None) -> str | None:
    if traceparent:
        m = _TRACEPARENT.match(traceparent)
        if m:
            return m.group(1)
    return None


def parent_context(traceparent: str | None) -> OtelContext | None:
    if not traceparent:
        return None
    return _PROPAGATOR.extract({"traceparent": traceparent})


def format_traceparent(span: trace.Span) -> str | None:
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


tracer = trace.get_tracer("shebao.runtime")
CONSUMER = SpanKind.CONSUMER
