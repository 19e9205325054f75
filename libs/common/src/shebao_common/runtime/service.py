"""The composition root of a service: FastStream broker and app, processors, relay, HTTP.

A service declares its subscriptions (topics + handler tables) and read-side routes; this module
wires them to FastStream batch subscribers with manual acknowledgement, a rebalance listener that
seeks to the offsets kept in Redis, the outbox relay, and /healthz, /readyz, /metrics.
Nothing connects at import time. Start-up (topics, relay, consumers) runs as a background task,
retried until Kafka and Redis answer: HTTP answers from the first second, /readyz says what
start-up still waits for, and SIGTERM cancels start-up wherever it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from redis.exceptions import RedisError

from shebao_contracts.topics import Registry, Topic, dlq_name

from ..auth import KeysUnavailable, TokenVerifier, Unauthenticated
from ..domain import StateModel
from ..kafka_security import broker_security, client_options
from ..logging import mask_ids, setup_logging
from ..metrics import RuntimeMetrics
from ..redis_client import redis_client
from ..settings import ServiceSettings
from ..tracing import setup_tracing
from . import compiled
from .access import AuditLog, Lookup, Refused, purpose_of, record_of, roles_of, running
from .fetching import adapt_fetches, poll_without_blind_sleep
from .model import Subscription
from .processor import Processor
from .relay import Relay, published_since
from .retention import RETENTION, align_dead_letters, dead_letter_retention, topic_configs
from .store import Layout, LayoutError, Store

log = logging.getLogger("shebao.service")
T = TypeVar("T")

_TOPIC_PASSES = 3
_TOPIC_ALREADY_EXISTS = 36  # Kafka's error code

JsonHandler = Callable[[dict[str, str], "ServiceRuntime"], Awaitable[tuple[int, Any]]]
ReadinessCheck = Callable[[], Awaitable[bool]]


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, processor: Processor, settings: ServiceSettings) -> None:
        self.processor = processor
        self.settings = settings

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.processor.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        s = self.settings
        consumer = self.processor.partitions.consumer_getter()
        adapt_fetches(consumer, s.fetch_busy_min_bytes, s.fetch_busy_max_wait_ms)  # (fetching.py)
        await self.processor.on_assigned(assigned)


async def in_own_context(work: Coroutine[Any, Any, T]) -> T:
    """Run a batch's processing in a context of its own, not in the handler's.

    FastStream's context holds the message, and with it the batch's records, while the handler
    runs. Every timer made meanwhile (redis-py's socket timeout around each reply, an
    `asyncio.timeout`) copies the current context, and a cancelled timer keeps that copy in the
    loop's heap until its time comes, 10 s for Redis's, or until the loop sweeps the heap. So
    each batch's records outlived it by seconds, several batches at a time, and every young
    garbage collection scanned them again: 1,500-6,000 ConsumerRecords and their header tuples
    at each one, ~200 ms of collections a run in adjudication, pauses up to 50 ms
    (BENCHMARKS.md, 2026-12-04). The processing reads nothing of FastStream's context; what it
    needs in its own (the trace id of its logs, the read side's lookup) it sets itself.
    """
    return await asyncio.create_task(work, context=contextvars.Context())


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


class _App(AsgiFastStream):
    """FastStream's ASGI app, except that the broker is started by ServiceRuntime._start_up.

    FastStream starts it once, right after the start-up hooks: with Kafka away that start fails at
    once, FastStream runs its shutdown hooks, and uvicorn goes on serving a process that never
    consumes.
    """

    async def _start_broker(self) -> None:
        return


class ServiceRuntime:
    def __init__(
        self,
        *,
        name: str,
        settings: ServiceSettings,
        registry: Registry,
        subscriptions: Sequence[Subscription],
        produces: Sequence[Topic] = (),
        env: Any = None,
        routes: Sequence[tuple[str, JsonHandler]] = (),
        every_subscription: Sequence[Subscription] | None = None,
        partitioned_state: bool = False,
    ) -> None:
        """`env` is what the handlers get as `ctx.env`; `every_subscription` all the service's
        when this process runs some of them (a rebuild restores them all).

        `partitioned_state`: each input partition owns the state its records touch (a handler
        reads and writes only keys of its record's own key, on co-partitioned topics), so the
        state spreads over `topic_partitions` slots of a Redis Cluster; otherwise the service's
        state is one slot (`store.Layout`)."""
        self.name = name
        self.layout = Layout(name, settings.topic_partitions if partitioned_state else None)
        self.settings = settings
        self.registry = registry
        self.subscriptions = list(subscriptions)
        self.every_subscription = list(every_subscription or subscriptions)
        self.produces = list(produces)
        self.env = env
        self.metrics = RuntimeMetrics(name)
        self.redis: aioredis.Redis | None = None
        self.store: Store | None = None
        self.relay: Relay | None = None
        self.processors: list[Processor] = []
        self._routes = list(routes)
        undeclared = [path for path, fn in self._routes if roles_of(fn) is None]
        if undeclared:
            raise ValueError(
                f"{name}: read routes {undeclared} declare no roles (runtime.access.readable_by)"
            )
        self.verifier = TokenVerifier.from_settings(settings)
        audit = next((t.name for t in self.produces if t.name.endswith(".audit.v1")), None)
        self.audit = AuditLog(name, audit, self._audit_producer, settings.audit_timeout_seconds)
        self.broker: KafkaBroker | None = None
        # /readyz: every check must hold; a service may append its own (name, async callable).
        self.readiness_checks: list[tuple[str, ReadinessCheck]] = [
            ("redis", self._redis_answers),
            ("kafka", self._kafka_answers),
            ("started", self._started),
        ]
        self._waiting_for: str | None = "start-up"  # what start-up waits for; None once done
        self._startup: asyncio.Task[None] | None = None

    # wiring ----------------------------------------------------------------------------------

    def build_app(self) -> AsgiFastStream:
        s = self.settings
        setup_logging(self.name, s.log_level, s.log_json)
        setup_tracing(self.name, s.tracing_exporter)
        self.redis = redis_client(
            s, socket_timeout=10, socket_connect_timeout=3, health_check_interval=15
        )
        self.store = Store(self.redis, self.name, self.layout)
        self.relay = Relay(
            self.store,
            self._producer,
            self.metrics,
            max_pending=s.outbox_max_pending,
            find_published=lambda topics, since, wanted: published_since(
                s.kafka_bootstrap_servers, topics, since, wanted
            ),
        )
        self.broker = KafkaBroker(
            s.kafka_bootstrap_servers,
            security=broker_security(s),
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
        routes += [(path, self._json_route(path, fn)) for path, fn in self._routes]
        return _App(
            self.broker,
            asgi_routes=routes,
            on_startup=[self._on_startup],
            on_shutdown=[self._on_shutdown],
            after_shutdown=[self._after_shutdown],
            logger=logging.getLogger(f"shebao.{self.name}"),
        )

    def _producer(self) -> AIOKafkaProducer:
        s = self.settings
        return AIOKafkaProducer(
            **client_options(s),
            client_id=f"shebao-{self.name}-relay",
            acks="all",
            enable_idempotence=True,
            linger_ms=s.producer_linger_ms,
            max_batch_size=s.producer_max_batch_bytes,
            max_request_size=s.max_publish_bytes,
            request_timeout_ms=s.producer_request_timeout_ms,
            metadata_max_age_ms=s.metadata_max_age_ms,
        )

    def _audit_producer(self) -> AIOKafkaProducer:
        """The one producer of the read side's audit records: idempotent, acks=all."""
        s = self.settings
        return AIOKafkaProducer(
            **client_options(s),
            client_id=f"shebao-{self.name}-audit",
            acks="all",
            enable_idempotence=True,
            request_timeout_ms=s.producer_request_timeout_ms,
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
            env=self.env,
            dedupe_ttl=s.dedupe_ttl_seconds,
            max_record_bytes=s.max_record_bytes,
            dlq_max_value_bytes=s.dlq_max_value_bytes,
            state_cache_entries=s.state_cache_entries,
            wait_replicas=s.wait_replicas(),
            wait_timeout_ms=s.redis_wait_timeout_ms,
            commit_max_output_bytes=s.commit_max_output_bytes,
        )
        self.processors.append(proc)
        common: dict[str, Any] = {
            "batch": True,
            "max_records": sub.max_records or s.batch_max_records,
            "batch_timeout_ms": s.batch_timeout_ms,
            "group_id": f"shebao.{self.name}.{sub.name}",
            "ack_policy": AckPolicy.MANUAL,
            "auto_offset_reset": "earliest",
            "listener": _Rebalance(proc, s),
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
        proc.partitions.consumer_getter = lambda: subscriber.consumer
        poll_without_blind_sleep(subscriber)  # (fetching.py)

        @subscriber  # type: ignore[untyped-decorator]
        async def handle(records: tuple[Any, ...]) -> None:
            await in_own_context(proc.process(records))

    # lifecycle -----------------------------------------------------------------------------------

    async def _on_startup(self) -> None:
        self.metrics.watch_gc()
        # Not awaited: the ASGI lifespan must complete for uvicorn to serve HTTP and heed SIGTERM.
        self._startup = asyncio.create_task(self._start_up(), name=f"{self.name}-start-up")

    async def _start_up(self) -> None:
        """Topics, then the relay's producer, then the consumers, each retried until it succeeds.

        The consumers start last, once Redis answers and the relay runs: as with the blocking
        start-up this replaces, no batch is processed before the relay can publish its outputs.
        A step that fails leaves nothing half-open for its retry.
        """
        assert self.relay is not None
        if self.settings.create_topics:
            await self._until_done("kafka (topic creation)", self.ensure_topics)
        await self._until_done("kafka (relay producer)", self.relay.start)
        await self._until_done("redis", self._ping_redis)
        await self._until_done("state layout", self._check_layout)
        await self._until_done("kafka (consumers)", self._start_consumers)
        self._waiting_for = None
        log.info("service started", extra={"subscriptions": [p.sub.name for p in self.processors]})

    async def _until_done(self, what: str, step: Callable[[], Awaitable[None]]) -> None:
        self._waiting_for = what
        delay = 0.2
        while True:
            try:
                await step()
                return
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                self._waiting_for = f"{what}: {reason}"
                # An outage is one line; anything else is likely a bug and gets its traceback.
                bug = not isinstance(exc, KafkaError | OSError | RedisError | LayoutError)
                log.warning("start-up waits for %s, retrying: %s", what, reason, exc_info=bug)
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)

    async def _ping_redis(self) -> None:
        assert self.redis is not None
        async with asyncio.timeout(5):
            await self.redis.ping()

    async def _check_layout(self) -> None:
        """Refuse to consume (not ready, the reason in /readyz and the log) when the topics'
        partition counts or the keyspace's recorded layout differ from this layout: a changed
        count moves the ownership of keys (docs/CAPACITY.md#changing-partition-counts)."""
        assert self.store is not None
        if self.layout.partitioned:
            topics = [t for sub in self.subscriptions for t in sub.topics]
            names = {t.name for t in topics if not t.is_template}
            templates = [t for t in topics if t.is_template]
            admin = AIOKafkaAdminClient(**client_options(self.settings))
            try:
                await admin.start()
                if templates:  # the partners' topics there are now (a later one: `Processor`)
                    names |= {
                        n
                        for n in await admin.list_topics()
                        if any(t.match(n) is not None for t in templates)
                    }
                found = await admin.describe_topics(sorted(names))
            finally:
                await admin.close()
            wrong = sorted(
                f"{t['topic']} has {len(t['partitions'])}"
                for t in found
                if t.get("partitions") and len(t["partitions"]) != self.layout.partitions
            )
            if wrong:
                raise LayoutError(
                    f"{self.name}: its state is laid out for {self.layout.partitions} partitions "
                    f"(SHEBAO_TOPIC_PARTITIONS) and {', '.join(wrong)}: stop, rebuild "
                    "(docs/CAPACITY.md#changing-partition-counts) or set the count back"
                )
        await self.store.check_layout([sub.name for sub in self.every_subscription])

    async def _start_consumers(self) -> None:
        assert self.broker is not None
        try:
            await self.broker.start()
        except Exception:
            with contextlib.suppress(Exception):
                await self.broker.stop()  # so that the retry starts every subscriber afresh
            raise

    async def _on_shutdown(self) -> None:
        """On SIGTERM: stop start-up, finish the batch, flush the outbox; FastStream then leaves
        the group."""
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        if self._startup is not None and not self._startup.done():
            self._startup.cancel()
            await asyncio.wait([self._startup], timeout=max(0.1, deadline - time.monotonic()))
            log.info("start-up interrupted: %s", self._waiting_for)
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
        await self.audit.stop()
        if self.relay is not None:
            await self.relay.stop(timeout=2.0)
        if self.redis is not None:
            await self.redis.aclose()
        self.metrics.unwatch_gc()
        log.info("service stopped")

    @property
    def topics(self) -> list[Topic]:
        """Every topic the service produces or any of its subscriptions reads."""
        return [*self.produces, *(t for sub in self.every_subscription for t in sub.topics)]

    def compile_codecs(self) -> int:
        """Compile, now, the codec (`compiled`) of every message its topics carry and of every
        state model loaded: each would otherwise be compiled by the first batch that reads or
        writes it (about a millisecond a model, some hundreds of milliseconds of the first
        batches after a start or a deploy). Called before the start-up objects are frozen
        (`tune_gc`), so the collector never scans them either. How many compiled."""
        models: dict[type[Any], None] = {}
        for topic in self.topics:
            models.update(dict.fromkeys(topic.messages))
        pending: list[type[Any]] = [StateModel]
        while pending:  # every state model the service's modules define, however deep
            cls = pending.pop()
            pending.extend(cls.__subclasses__())
            if cls is not StateModel and not cls.__pydantic_generic_metadata__["parameters"]:
                models[cls] = None
        return sum(compiled.compiled(m) is not None for m in models)

    def logs_of_record(self) -> set[str]:
        """The topics a rebuild reads from the start (`rebuild.py`), created with unlimited
        retention: every service's events topic (each is read by some projection, and is its
        service's record of what it decided) and the logs the subscriptions declare."""
        names = {t.name for t in self.topics if t.name.endswith(".events.v1")}
        for sub in self.every_subscription:
            if sub.rebuild is not None:
                names |= {t.name for t in sub.rebuild.log if not t.is_template}
        return names

    async def ensure_topics(self) -> None:
        """Create the literal topics this service reads and writes, and their DLQs (idempotent).

        One attempt; start-up retries it while Kafka does not answer.
        """
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
        admin = AIOKafkaAdminClient(**client_options(s))
        try:
            await admin.start()
            # a topic created a moment ago may be missing from the broker's metadata yet: its
            # creation then answers "exists", and a second pass sees it and its settings
            for _ in range(_TOPIC_PASSES):
                if not await self._topics_pass(admin, names):
                    break
                await asyncio.sleep(0.5)
        finally:
            await admin.close()

    async def _topics_pass(self, admin: AIOKafkaAdminClient, names: set[str]) -> set[str]:
        """Create the missing topics and align the dead letters' retention; the topics whose
        creation answered that they exist although the broker did not list them."""
        s = self.settings
        existing = set(await admin.list_topics())
        kept = self.logs_of_record()
        # a dead-letter topic keeps its records as long as the topic it mirrors (retention.py)
        mirrored = {n: n.removesuffix(".dlq") for n in names if n.endswith(".dlq")}
        try:
            own = await topic_configs(admin, {*mirrored, *mirrored.values()} & existing)
        except (KafkaError, RuntimeError) as exc:  # e.g. not allowed to describe them
            log.warning("topics' retention unknown, dead letters get the runtime's: %s", exc)
            own = {}
        # the audit trail is kept like the logs of record
        planned = {n: "-1" if n in kept or n.endswith(".audit.v1") else None for n in names}
        planned |= dead_letter_retention(mirrored, own, planned)
        new = [
            NewTopic(
                n,
                num_partitions=s.topic_partitions,
                replication_factor=s.topic_replication,
                topic_configs={RETENTION: r} if (r := planned[n]) is not None else {},
            )
            for n in sorted(names - existing)
        ]
        unlisted: set[str] = set()
        if new:
            try:
                response = await admin.create_topics(new)
                unlisted = {t[0] for t in response.topic_errors if t[1] == _TOPIC_ALREADY_EXISTS}
            except KafkaError as exc:  # not allowed to create them: someone else does
                log.warning("topics not created: %s", exc)
        try:
            await align_dead_letters(admin, {d: planned[d] for d in mirrored}, own)
        except (KafkaError, RuntimeError) as exc:
            log.warning("dead-letter topics' retention not aligned: %s", exc)
        return unlisted

    # HTTP ----------------------------------------------------------------------------------------

    def _healthz(self) -> Any:
        @get(include_in_schema=False)
        async def healthz(scope: Any) -> AsgiResponse:
            return _json(200, {"status": "alive", "service": self.name})

        return healthz

    def _readyz(self) -> Any:
        @get(include_in_schema=False)
        async def readyz(scope: Any) -> AsgiResponse:
            checks = self.readiness_checks
            results = await asyncio.gather(*(_holds(check) for _, check in checks))
            ok = all(results)
            body: dict[str, Any] = {
                "ready": ok,
                "checks": {name: result for (name, _), result in zip(checks, results, strict=True)},
            }
            if self._waiting_for is not None:
                body["waiting_for"] = self._waiting_for
            # Said, not failed on: the service works on; an operator replays them (parked.py).
            body["parked_outputs"] = self.relay.parked if self.relay is not None else 0
            return _json(200 if ok else 503, body)

        return readyz

    async def _redis_answers(self) -> bool:
        assert self.redis is not None
        return bool(await self.redis.ping())

    async def _kafka_answers(self) -> bool:
        assert self.broker is not None
        if self._waiting_for is None:
            return bool(await self.broker.ping(timeout=2))
        # Before the broker is started FastStream has no connection to ask: bootstrap a client.
        client = AIOKafkaClient(**client_options(self.settings))
        try:
            await client.bootstrap()
            return True
        finally:
            await client.close()

    async def _started(self) -> bool:
        return self._waiting_for is None

    def _metrics(self) -> Any:
        @get(include_in_schema=False)
        async def metrics(scope: Any) -> AsgiResponse:
            return AsgiResponse(
                self.metrics.exposition(),
                200,
                headers={"content-type": "text/plain; version=0.0.4; charset=utf-8"},
            )

        return metrics

    def _json_route(self, path: str, fn: JsonHandler) -> Any:
        """A read route: token, role, purpose, the route (which names its subject and checks
        the region, `access.about`), then the audit record, acknowledged before the answer."""
        accepted = roles_of(fn)
        assert accepted is not None  # checked in __init__

        @get(include_in_schema=False)
        async def route(scope: Any) -> AsgiResponse:
            from urllib.parse import parse_qsl

            query = dict(parse_qsl(scope.get("query_string", b"").decode()))
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1")
                for k, v in scope.get("headers", [])
            }
            lookup = Lookup(route=path, accepted=accepted)
            reason: str | None = None
            extra: dict[str, str] = {}
            with contextlib.suppress(Refused):  # recorded even when the token is refused
                lookup.purpose = purpose_of(headers)
            try:
                lookup.principal = await self.verifier.verify(headers.get("authorization"))
                if not lookup.principal.roles & accepted:
                    raise Refused(
                        403,
                        "forbidden_role",
                        f"{path} is for the roles {', '.join(sorted(accepted))}",
                    )
                lookup.purpose = purpose_of(headers)
                with running(lookup):
                    status, body = await fn(query, self)
                if (
                    status < 400
                    and not lookup.regions_checked
                    and not lookup.principal.province_wide(accepted)
                ):
                    raise Refused(
                        403, "forbidden_region", f"{path} answers province-wide roles only"
                    )
            except Unauthenticated as exc:
                status, reason = 401, exc.reason
                body = {"error": "unauthenticated", "detail": exc.reason}
                extra["www-authenticate"] = 'Bearer error="invalid_token"'
            except Refused as exc:
                status, reason = exc.status, exc.detail
                body = {"error": exc.error, "detail": exc.detail}
            except KeysUnavailable as exc:
                log.error("read side: %s", exc)
                status, reason = 503, "the token issuer's keys could not be read"
                body = {"error": "auth_unavailable", "detail": reason}
            except Exception:
                log.exception("read route %s failed", path)
                status, reason = 500, "internal error"
                body = {"error": "internal"}
            record = record_of(
                lookup,
                service=self.name,
                request_id=uuid.uuid4().hex,
                status=status,
                reason=reason,
            )
            # A refusal before any lookup (no or bad token, role, purpose, a malformed query)
            # tells nothing about anyone and is answered whatever becomes of its record;
            # anything a lookup found (a 404 says someone is not registered, a region's 403 that
            # they are) is answered only once its record is acknowledged. A record sent in time
            # but acknowledged too late may still arrive: the trail may say more was answered
            # than was, never less.
            told_nothing = status in (400, 401) or (status == 403 and lookup.subject is None)
            if not await self.audit.publish(record) and not told_nothing:
                status, body = (
                    503,
                    {
                        "error": "audit_unavailable",
                        "detail": "the lookup could not be audited; nothing is answered without",
                    },
                )
            return _json(status, body, extra)

        return route


async def _holds(check: ReadinessCheck, timeout: float = 2.0) -> bool:
    """A check that fails, or does not answer within the timeout, does not hold."""
    try:
        async with asyncio.timeout(timeout):
            return bool(await check())
    except Exception:
        return False


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> AsgiResponse:
    text = orjson.dumps(body, default=str)
    if status >= 400:  # an error never echoes a citizen ID, whatever a route put in it
        text = mask_ids(text.decode()).encode()
    return AsgiResponse(
        text, status, headers={"content-type": "application/json", **(headers or {})}
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


def run(create_runtime: Callable[[], ServiceRuntime], argv: Sequence[str] | None = None) -> None:
    """A service's `main()`: build its runtime and serve it until SIGTERM.

    `rebuild [--wipe]` as the first argument rebuilds the service's state from its log of record
    instead (`rebuild.py`), every subscription of it, and exits."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    rt = create_runtime()
    if args[:1] == ["rebuild"]:
        from .rebuild import main as rebuild_main

        setup_logging(rt.name, rt.settings.log_level, rt.settings.log_json)
        raise SystemExit(rebuild_main(rt, args[1:]))
    if args:
        raise SystemExit(f"usage: {rt.name} [rebuild [--wipe]] (got {' '.join(args)})")
    rt.compile_codecs()
    serve(rt.build_app(), rt.settings)
