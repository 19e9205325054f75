"""The composition root of a service: FastStream broker and app, processors, relay, HTTP.

A service declares its subscriptions (topics + handler tables) and read-side routes; this module
wires them to FastStream batch subscribers with manual acknowledgement, a rebalance listener that
seeks to the offsets kept in Redis, the outbox relay, and /healthz, /readyz, /metrics.
Nothing connects at import time: connections are made in the app's start-up hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy

from shebao_contracts.topics import Registry, Topic, dlq_name

from ..logging import setup_logging
from ..metrics import RuntimeMetrics
from ..settings import ServiceSettings
from ..tracing import setup_tracing
from .model import Subscription
from .processor import Processor
from .relay import Relay
from .store import Store

log = logging.getLogger("shebao.service")

JsonHandler = Callable[[dict[str, str], "ServiceRuntime"], Awaitable[tuple[int, Any]]]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, processor: Processor) -> None:
        self.processor = processor

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.processor.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.processor.on_assigned(assigned)


async def _raw_parser(records: tuple[Any, ...], original: Any) -> Any:
    """Hand the records over untouched: decoding is the runtime's, so a bad header or body is
    dead-lettered by name instead of failing inside FastStream's parser (which would skip it)."""
    from faststream.kafka.message import KafkaMessage as Msg

    return Msg(
        body=b"",
        headers={},
        batch_headers=[],
        raw_message=records,
        message_id=f"{records[0].topic}-{records[0].partition}-{records[0].offset}"
        if records
        else "",
        consumer=None,  # type: ignore[arg-type]
    )


async def _raw_decoder(msg: Any, original: Any) -> Any:
    return msg.raw_message  # the handler's one argument: the batch's records


class ServiceRuntime:
    def __init__(
        self,
        *,
        name: str,
        settings: ServiceSettings,
        registry: Registry,
        subscriptions: Sequence[Subscription],
        produces: Sequence[Topic] = (),
        policy: Any = None,
        routes: Sequence[tuple[str, JsonHandler]] = (),
    ) -> None:
        self.name = name
        self.settings = settings
        self.registry = registry
        self.subscriptions = list(subscriptions)
        self.produces = list(produces)
        self.policy = policy
        self.metrics = RuntimeMetrics(name)
        self.redis: aioredis.Redis | None = None
        self.store: Store | None = None
        self.relay: Relay | None = None
        self.processors: list[Processor] = []
        self._routes = list(routes)
        self.broker: KafkaBroker | None = None
        self._ready_detail: dict[str, Any] = {}

    # wiring ----------------------------------------------------------------------------------

    def build_app(self) -> AsgiFastStream:
        s = self.settings
        setup_logging(self.name, s.log_level, s.log_json)
        setup_tracing(self.name, s.tracing_exporter)
        self.redis = aioredis.Redis.from_url(
            s.redis_url, socket_timeout=10, socket_connect_timeout=3, health_check_interval=15
        )
        self.store = Store(self.redis, self.name)
        self.relay = Relay(
            self.store, self._producer, self.metrics, max_pending=s.outbox_max_pending
        )
        self.broker = KafkaBroker(
            s.kafka_bootstrap_servers,
            client_id=f"shebao-{self.name}",
            metadata_max_age_ms=s.metadata_max_age_ms,
            logger=logging.getLogger(f"shebao.{self.name}.faststream"),
            log_level=logging.DEBUG,  # per-batch "Received/Processed" lines only at debug
            # The handler takes the records as they are. With FastDepends, the `KafkaMessage`
            # annotation was resolved in anyio's thread pool on every batch (a thread hand-off
            # and a wake-up of the loop per batch, seen in py-spy samples of the live service).
            apply_types=False,
        )
        for sub in self.subscriptions:
            self._subscribe(sub)
        routes: list[tuple[str, Any]] = [
            ("/healthz", self._healthz()),
            ("/readyz", self._readyz()),
            ("/metrics", self._metrics()),
        ]
        routes += [(path, self._json_route(fn)) for path, fn in self._routes]
        return AsgiFastStream(
            self.broker,
            asgi_routes=routes,
            on_startup=[self._on_startup],
            after_startup=[self._after_startup],
            on_shutdown=[self._on_shutdown],
            after_shutdown=[self._after_shutdown],
            logger=logging.getLogger(f"shebao.{self.name}"),
        )

    def _producer(self) -> AIOKafkaProducer:
        s = self.settings
        return AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap_servers,
            client_id=f"shebao-{self.name}-relay",
            acks="all",
            enable_idempotence=True,
            linger_ms=s.producer_linger_ms,
            max_batch_size=s.producer_max_batch_bytes,
            request_timeout_ms=30_000,
            metadata_max_age_ms=s.metadata_max_age_ms,
        )

    def _subscribe(self, sub: Subscription) -> None:
        assert self.broker is not None and self.store is not None and self.relay is not None
        s = self.settings
        proc = Processor(
            service=self.name,
            subscription=sub,
            registry=self.registry,
            store=self.store,
            relay=self.relay,
            metrics=self.metrics,
            policy=self.policy,
            dedupe_ttl=s.dedupe_ttl_seconds,
            max_record_bytes=s.max_record_bytes,
            dlq_max_value_bytes=s.dlq_max_value_bytes,
            state_cache_entries=s.state_cache_entries,
        )
        self.processors.append(proc)
        common: dict[str, Any] = {
            "batch": True,
            "max_records": sub.max_records or s.batch_max_records,
            "batch_timeout_ms": s.batch_timeout_ms,
            "group_id": f"shebao.{self.name}.{sub.name}",
            "ack_policy": AckPolicy.MANUAL,
            "auto_offset_reset": "earliest",
            "listener": _Rebalance(proc),
            "parser": _raw_parser,
            "decoder": _raw_decoder,
            "session_timeout_ms": s.session_timeout_ms,
            "heartbeat_interval_ms": s.heartbeat_interval_ms,
            "max_poll_interval_ms": s.max_poll_interval_ms,
            "max_partition_fetch_bytes": 2 * 1024 * 1024,
        }
        template = next((t for t in sub.topics if t.is_template), None)
        if template is not None:
            # aiokafka matches the regex against topic names; it must not catch our own .dlq
            subscriber = self.broker.subscriber(pattern=template.pattern, **common)
        else:
            subscriber = self.broker.subscriber(*[t.name for t in sub.topics], **common)
        proc.consumer_getter = lambda: subscriber.consumer

        @subscriber  # type: ignore[untyped-decorator]
        async def handle(records: tuple[Any, ...]) -> None:
            await proc.process(records)

    # lifecycle -----------------------------------------------------------------------------------

    async def _on_startup(self) -> None:
        assert self.relay is not None
        self.metrics.watch_gc()
        if self.settings.create_topics:
            await self.ensure_topics()
        await self.relay.start()

    async def _after_startup(self) -> None:
        log.info("service started", extra={"subscriptions": [p.sub.name for p in self.processors]})

    async def _on_shutdown(self) -> None:
        """On SIGTERM: finish the batch, flush the outbox; FastStream then leaves the group."""
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        for p in self.processors:
            p.stopping = True
        for p in self.processors:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
                    async with p.lock:
                        pass
        if self.relay is not None:
            with contextlib.suppress(TimeoutError):
                await self.relay.flush(timeout=max(0.1, deadline - time.monotonic()))
        log.info("batches finished and outbox flushed; leaving the consumer groups")

    async def _after_shutdown(self) -> None:
        if self.relay is not None:
            await self.relay.stop(timeout=2.0)
        if self.redis is not None:
            await self.redis.aclose()
        self.metrics.unwatch_gc()
        log.info("service stopped")

    async def ensure_topics(self) -> None:
        """Create the literal topics this service reads and writes, and their DLQs (idempotent)."""
        s = self.settings
        names: set[str] = set()
        for sub in self.subscriptions:
            for t in sub.topics:
                if not t.is_template:
                    names.add(t.name)
                    names.add(dlq_name(t.name))
        for t in self.produces:
            if not t.is_template:
                names.add(t.name)
        if not names:
            return
        admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap_servers)
        delay = 0.2
        while True:
            try:
                await admin.start()
                break
            except Exception as exc:
                log.warning("Kafka not reachable for topic creation, retrying: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        try:
            existing = set(await admin.list_topics())
            new = [
                NewTopic(
                    n, num_partitions=s.topic_partitions, replication_factor=s.topic_replication
                )
                for n in sorted(names - existing)
            ]
            if new:
                with contextlib.suppress(Exception):
                    await admin.create_topics(new)
        finally:
            await admin.close()

    # HTTP ----------------------------------------------------------------------------------------

    def _healthz(self) -> Any:
        @get(include_in_schema=False)
        async def healthz(scope: Any) -> AsgiResponse:
            return _json(200, {"status": "alive", "service": self.name})

        return healthz

    def _readyz(self) -> Any:
        @get(include_in_schema=False)
        async def readyz(scope: Any) -> AsgiResponse:
            checks: dict[str, bool] = {}
            try:
                assert self.redis is not None
                checks["redis"] = bool(await asyncio.wait_for(self.redis.ping(), 2))
            except Exception:
                checks["redis"] = False
            try:
                assert self.broker is not None
                checks["kafka"] = bool(await self.broker.ping(timeout=2))
            except Exception:
                checks["kafka"] = False
            ok = all(checks.values())
            return _json(200 if ok else 503, {"ready": ok, "checks": checks})

        return readyz

    def _metrics(self) -> Any:
        @get(include_in_schema=False)
        async def metrics(scope: Any) -> AsgiResponse:
            return AsgiResponse(
                self.metrics.exposition(),
                200,
                headers={"content-type": "text/plain; version=0.0.4; charset=utf-8"},
            )

        return metrics

    def _json_route(self, fn: JsonHandler) -> Any:
        @get(include_in_schema=False)
        async def route(scope: Any) -> AsgiResponse:
            from urllib.parse import parse_qsl

            query = dict(parse_qsl(scope.get("query_string", b"").decode()))
            status, body = await fn(query, self)
            return _json(status, body)

        return route


def _json(status: int, body: Any) -> AsgiResponse:
    return AsgiResponse(
        orjson.dumps(body, default=str), status, headers={"content-type": "application/json"}
    )


def tune_gc(gen0_threshold: int) -> None:
    """Fewer, cheaper cyclic garbage collections on the hot path.

    A batch allocates hundreds of thousands of short-lived objects (models, tuples, dicts) that
    reference counting frees; with CPython's default gen0 threshold of 700 the collector still
    ran ~150 times per thousand claims and took a quarter of the CPU of a settlement hop
    (scripts/bench_cpu.py, measured with gc.callbacks). The modules, contracts and policy loaded
    at start-up are frozen into the permanent generation, so no collection scans them again.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


def serve(app: AsgiFastStream, settings: ServiceSettings) -> None:
    """Run the ASGI app under uvicorn; SIGTERM triggers the graceful shutdown above."""
    import uvicorn

    tune_gc(settings.gc_gen0_threshold)

    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 5,
    )
