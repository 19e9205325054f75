"""A handler may emit only a message type its target topic declares (issue 13).

`Decision.emit` given a `Topic` checks at once; given a topic name, the check runs when the
decision is applied, against the registry the runtime runs with (the unit-test runner: the
catalog's topics). Each refusal is tested here, by the runner and by the processor, which treats
a decision that fails the check like a handler that raises: the record is dead-lettered as
`handler_error` with the fault named, its sender is answered, its writes are not applied, and the
partition moves on.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord

from shebao_common.metrics import RuntimeMetrics
from shebao_common.runtime import (
    Context,
    Decision,
    Emit,
    Entity,
    HandlerTable,
    RejectedRecord,
    State,
    StateModel,
    Subscription,
    UndeclaredMessage,
    counter_set,
)
from shebao_common.runtime.apply import UndeclaredState
from shebao_common.runtime.processor import Processor
from shebao_common.runtime.store import OutboxEntry, Store
from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import contributions as cc
from shebao_contracts.envelope import Envelope, Message
from shebao_contracts.topics import Direction, Registry, Topic


class Ping(Message):
    """Says what the handler emits: `emit` names the case, see `CASES`."""

    TYPE = "test.emit.Ping"
    emit: str = "ok"


class Pong(Message):
    TYPE = "test.emit.Pong"
    seen: int = 0


class PingRejected(Message):
    TYPE = "test.emit.PingRejected"
    reason: str


class Other(Message):
    TYPE = "test.emit.Other"


class LookAlikePong(Message):
    """Has Pong's type name but is not the class the topic declares."""

    TYPE = "test.emit.Pong"


IN = Topic("test.emit.in.v1", owner="emit", key="id", messages=(Ping,), description="in")
OUT = Topic(
    "test.emit.out.v1", owner="emit", key="id", messages=(Pong, PingRejected), description="out"
)
PARTNER = Topic(
    "partner.emit.{code}.answers.v1",
    owner="emit",
    key="id",
    messages=(Pong,),
    description="to a partner",
    direction=Direction.PARTNER_OUT,
)
REGISTRY = Registry([IN, OUT, PARTNER])


class Seen(StateModel):
    n: int = 0


SEEN = Entity("seen", Seen)
TALLY = counter_set("emit-tally")


def _emit(d: Decision, case: str, key: str, seen: int) -> Decision:
    if case == "ok":
        return d.emit(OUT, key, Pong(seen=seen))
    if case == "ok-partner":
        return d.emit(PARTNER.named(code="p1"), key, Pong(seen=seen))
    if case == "unknown-topic":
        return d.emit("test.emit.nowhere.v1", key, Pong(seen=seen))
    if case == "undeclared-by-name":
        return d.emit(OUT.name, key, Other())
    if case == "undeclared-topic-object":
        return d.emit(OUT, key, Other())  # raises in emit
    if case == "template-by-name":
        return d.emit(PARTNER.name, key, Pong(seen=seen))
    if case == "look-alike":
        return d.emit(OUT.name, key, LookAlikePong())
    raise AssertionError(case)


handlers = HandlerTable()


@handlers.on(Ping, needs=lambda m, ctx: [SEEN.key("all")])
def ping(state: State, m: Ping, ctx: Context) -> Decision:
    seen = (state.get(SEEN.key("all")) or Seen()).n + 1
    d = Decision().put(SEEN.key("all"), Seen(n=seen))
    return _emit(d, m.emit, ctx.key or "", seen)


CASES = {
    # case: (the words the refusal names besides the message type, the type it names)
    "unknown-topic": (["test.emit.nowhere.v1", "not a topic of the registry"], Pong.TYPE),
    "undeclared-by-name": (
        [OUT.name, f"does not declare message type {Other.TYPE}", Pong.TYPE],
        Other.TYPE,
    ),
    "undeclared-topic-object": ([OUT.name, "does not declare"], Other.TYPE),
    "template-by-name": ([PARTNER.name, "template"], Pong.TYPE),
    "look-alike": ([OUT.name, "LookAlikePong", "is not the"], Pong.TYPE),
}


def example(message: type[Message]) -> Message:
    ex = message.EXAMPLE
    assert ex is not None, f"{message.TYPE} has no EXAMPLE"
    return ex if isinstance(ex, Message) else message.model_validate(ex)


# Decision.emit given a Topic: checked at once ----------------------------------------------------


def test_emit_to_a_topic_object_refuses_an_undeclared_message_at_once() -> None:
    with pytest.raises(UndeclaredMessage) as caught:
        Decision().emit(OUT, "k", Other())
    text = str(caught.value)
    assert OUT.name in text and Other.TYPE in text and Pong.TYPE in text


def test_emit_to_a_template_topic_object_is_refused() -> None:
    with pytest.raises(UndeclaredMessage, match=r"template.*named\(code=") as caught:
        Decision().emit(PARTNER, "k", Pong())
    assert PARTNER.name in str(caught.value) and Pong.TYPE in str(caught.value)


def test_emit_of_a_look_alike_class_is_refused() -> None:
    with pytest.raises(UndeclaredMessage, match="LookAlikePong"):
        Decision().emit(OUT, "k", LookAlikePong())


def test_emit_to_a_topic_object_accepts_its_declared_messages() -> None:
    d = Decision().emit(OUT, "k", Pong()).emit(OUT, "k", PingRejected(reason="r"))
    assert [(e.topic, e.message.TYPE) for e in d.emits] == [
        (OUT.name, Pong.TYPE),
        (OUT.name, PingRejected.TYPE),
    ]


# The unit-test runner: names checked against the catalog, as the processor does --------------


def _runner_table(emit: Any) -> HandlerTable:
    table = HandlerTable()

    @table.on(Ping)
    def handle(state: State, m: Ping, ctx: Context) -> Decision:
        return emit(Decision())

    return table


def test_runner_refuses_an_unknown_topic_name() -> None:
    runner = HandlerRunner(
        _runner_table(lambda d: d.emit("shebao.nowhere.events.v1", "k", Pong())), None
    )
    with pytest.raises(UndeclaredMessage) as caught:
        runner.send(Ping())
    assert "shebao.nowhere.events.v1" in str(caught.value) and Pong.TYPE in str(caught.value)
    assert runner.emitted == []


def test_runner_refuses_a_message_its_concrete_partner_topic_does_not_declare() -> None:
    topic = cc.ASSESSMENTS.named(code="t320100")
    assert topic == "partner.tax.t320100.assessments.v1"
    event = example(cc.CollectionRejected)  # the event of the service's own stream
    assert cc.ASSESSMENTS.message_type(event.TYPE) is None
    runner = HandlerRunner(_runner_table(lambda d: d.emit(topic, "k", event)), None)
    with pytest.raises(UndeclaredMessage) as caught:
        runner.send(Ping())
    assert topic in str(caught.value) and event.TYPE in str(caught.value)


def test_runner_refuses_a_template_topic_name() -> None:
    runner = HandlerRunner(
        _runner_table(
            lambda d: d.emit(cc.ASSESSMENTS.name, "k", example(cc.ASSESSMENTS.messages[0]))
        ),
        None,
    )
    with pytest.raises(UndeclaredMessage, match="template"):
        runner.send(Ping())


@pytest.mark.parametrize("declared", cc.ASSESSMENTS.messages, ids=lambda m: m.TYPE)
def test_runner_accepts_a_concrete_partner_topic_for_its_declared_messages(
    declared: type[Message],
) -> None:
    message = example(declared)
    topic = "partner.tax.t320100.assessments.v1"
    runner = HandlerRunner(_runner_table(lambda d: d.emit(topic, "k", message)), None)
    assert runner.send(Ping()) == [Emit(topic, "k", message)]


def test_runner_checks_against_the_registry_it_is_given() -> None:
    runner = HandlerRunner(handlers, None, registry=REGISTRY)
    assert [e.message for e in runner.send(Ping(emit="ok"), key="a")] == [Pong(seen=1)]
    assert [e.topic for e in runner.send(Ping(emit="ok-partner"), key="a")] == [
        "partner.emit.p1.answers.v1"
    ]
    for case, (words, mtype) in CASES.items():
        with pytest.raises(UndeclaredMessage) as caught:
            runner.send(Ping(emit=case), key="a")
        for w in [*words, mtype]:
            assert w in str(caught.value), (case, w)
    assert runner.get(SEEN.key("all")) == Seen(n=2), "a refused decision writes nothing"


def test_runner_holds_handlers_to_the_processors_write_check() -> None:
    table = HandlerTable()

    @table.on(Ping)  # declares nothing
    def undeclared(state: State, m: Ping, ctx: Context) -> Decision:
        return Decision().put(SEEN.key("all"), Seen(n=1))

    with pytest.raises(UndeclaredState, match="write of seen:all not declared"):
        HandlerRunner(table, None).send(Ping())

    table = HandlerTable()

    @table.on(Ping, needs=lambda m, ctx: [TALLY.key("all")])
    def counter_put(state: State, m: Ping, ctx: Context) -> Decision:
        return Decision().put(TALLY.key("all"), state.get(TALLY.key("all")))

    with pytest.raises(UndeclaredState, match=r"counter set: use Decision\.incr"):
        HandlerRunner(table, None).send(Ping())


def test_the_context_carries_the_env_and_its_former_name() -> None:
    class Env:
        pass

    env = Env()
    table: HandlerTable[Env] = HandlerTable()
    got: list[Env] = []

    @table.on(Ping)
    def handle(state: State, m: Ping, ctx: Context[Env]) -> Decision:
        got.append(ctx.env)
        return Decision()

    HandlerRunner(table, env).send(Ping())
    assert got == [env]


# The processor: a refused decision is the record's handler_error ---------------------------------


def reject(r: RejectedRecord) -> Emit:
    if r.key == "answer-undeclared":
        return Emit(OUT.name, r.key, Other())
    return Emit(OUT.name, r.key or "", PingRejected(reason=r.reason))


class CollectingRelay:
    def __init__(self) -> None:
        self.entries: list[OutboxEntry] = []

    async def submit(self, entries: list[OutboxEntry]) -> None:
        self.entries.extend(entries)

    def take_trims(self, within: str | None = None) -> dict[Any, Any]:
        return {}

    def return_trims(self, trims: Any) -> None:
        pass

    def recover(self, streams: Any) -> None:
        pass


def record(offset: int, key: str, case: str) -> ConsumerRecord[bytes, bytes]:
    env = Envelope(
        id=str(uuid.uuid4()), type=Ping.TYPE, source="/test", time=datetime(2026, 1, 1, tzinfo=UTC)
    )
    value = orjson.dumps({"emit": case})
    return ConsumerRecord(
        IN.name, 0, offset, 0, 0, key.encode(), value, None, len(key), len(value), env.to_headers()
    )


@pytest.mark.integration
async def test_the_processor_dead_letters_a_decision_that_fails_the_check(infra) -> None:
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, f"emit-{uuid.uuid4().hex[:8]}")
    relay = CollectingRelay()
    proc = Processor(
        service="emit",
        subscription=Subscription("in", (IN,), handlers, reject=reject),
        registry=REGISTRY,
        store=store,
        relay=relay,  # type: ignore[arg-type]
        metrics=RuntimeMetrics("emit"),
        dedupe_ttl=60,
        max_record_bytes=10_000,
        dlq_max_value_bytes=10_000,
        state_cache_entries=100,
    )
    proc.next_offset[(IN.name, 0)] = None
    records = [record(0, "first", "ok"), record(1, "partner", "ok-partner")]
    for case in CASES:
        records.append(record(len(records), case, case))
        records.append(record(len(records), f"after-{case}", "ok"))
    # A refused record whose rejecter answers with a message its topic does not declare.
    records.append(record(len(records), "answer-undeclared", "template-by-name"))
    try:
        await proc.process(records)
        assert proc.next_offset[(IN.name, 0)] == len(records), "the partition moved past all"
        got: dict[str, list[tuple[str, str, Any]]] = {}
        for e in relay.entries:
            headers = dict(orjson.loads(e.headers))
            kind = headers.get("dlq-reason") or headers["ce_type"]
            got.setdefault(e.key.decode(), []).append(
                (kind, e.topic, headers.get("dlq-detail") or orjson.loads(e.value))
            )
        assert got["first"] == [(Pong.TYPE, OUT.name, {"seen": 1})]
        assert got["partner"] == [(Pong.TYPE, "partner.emit.p1.answers.v1", {"seen": 2})]
        applied = 2
        for case, (words, mtype) in CASES.items():
            (reason, dlq, detail), answer = got[case]
            assert (reason, dlq) == ("handler_error", f"{IN.name}.dlq"), case
            assert detail.startswith("UndeclaredMessage: "), detail
            for w in [*words, mtype]:
                assert w in detail, (case, w)
            assert answer == (PingRejected.TYPE, OUT.name, {"reason": "handler_error"})
            applied += 1
            # The refused record's write was not applied: the next one sees one more, not two.
            assert got[f"after-{case}"] == [(Pong.TYPE, OUT.name, {"seen": applied})], case
        assert [g[0] for g in got["answer-undeclared"]] == ["handler_error"], (
            "the dead letter stays, without the undeclared answer"
        )
        raw = await client.get(store.state_key(SEEN.key("all").name))
        assert raw is not None and raw.endswith(b'{"n":%d}' % applied)
    finally:
        await client.aclose()
