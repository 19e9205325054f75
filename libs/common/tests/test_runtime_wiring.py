"""A service's subscriptions are checked against its contract; what it produces comes from it.

Unit tests: a made-up service with a contract; nothing connects. That each real service builds
its runtime this way is tests/test_catalog_agreement.py's part.
"""

from __future__ import annotations

import pytest

from shebao_common.domain import StateModel
from shebao_common.runtime import HandlerTable, Subscription, compiled
from shebao_common.runtime.wiring import WiringError, runtime_for, wiring_problems
from shebao_common.settings import ServiceSettings
from shebao_contracts.envelope import Message
from shebao_contracts.topics import Direction, ServiceContract, Topic


class Ping(Message):
    TYPE = "shebao.wiring-test.Ping"
    n: int


class Pong(Message):
    TYPE = "shebao.wiring-test.Pong"
    n: int


def topic(name: str, direction: Direction = Direction.INTERNAL) -> Topic:
    return Topic(name, owner="wiring-test", key="n", messages=(Ping,), description=name)


COMMANDS = topic("shebao.wiring-test.commands.v1")
OTHERS = topic("shebao.other.events.v1")
PARTNER = topic("partner.clinic.{code}.pings.v1", Direction.PARTNER_IN)
EVENTS = Topic(
    "shebao.wiring-test.events.v1",
    owner="wiring-test",
    key="n",
    messages=(Pong,),
    description="answers",
)
ANSWERS = Topic(
    "partner.clinic.{code}.pongs.v1",
    owner="wiring-test",
    key="n",
    messages=(Pong,),
    description="answers to a clinic",
    direction=Direction.PARTNER_OUT,
)
CONTRACT = ServiceContract(
    service="wiring-test",
    title="wiring test",
    description="",
    consumes=(COMMANDS, OTHERS, PARTNER),
    produces=(EVENTS, ANSWERS),
)


def sub(name: str, *topics: Topic) -> Subscription:
    return Subscription(name, topics, HandlerTable())


def complete() -> list[Subscription]:
    return [sub("commands", COMMANDS, OTHERS), sub("pings", PARTNER)]


def test_subscriptions_that_read_exactly_the_contract_pass() -> None:
    assert wiring_problems(CONTRACT, complete()) == []


def test_a_topic_the_contract_does_not_consume_is_refused() -> None:
    stray = topic("shebao.wiring-test.work.v1")
    wiring = [*complete(), sub("work", stray)]
    with pytest.raises(WiringError) as e:
        runtime_for(CONTRACT, settings=ServiceSettings(), subscriptions=wiring)
    assert str(e.value) == (
        "wiring-test: the subscriptions disagree with its contract (shebao_contracts):\n"
        "  - subscription 'work' reads shebao.wiring-test.work.v1, which the contract of "
        "wiring-test does not consume"
    )


def test_a_consumed_topic_no_subscription_reads_is_refused() -> None:
    problems = wiring_problems(CONTRACT, [sub("commands", COMMANDS, OTHERS)])
    assert problems == [
        "the contract of wiring-test consumes partner.clinic.{code}.pings.v1, "
        "which no subscription reads"
    ]


def test_a_topic_defined_apart_from_the_contract_is_refused() -> None:
    lookalike = Topic(
        COMMANDS.name, owner="wiring-test", key="n", messages=(Ping, Pong), description="x"
    )
    problems = wiring_problems(CONTRACT, [sub("commands", lookalike, OTHERS), sub("p", PARTNER)])
    assert problems == [
        "subscription 'commands' reads a shebao.wiring-test.commands.v1 defined differently "
        "from the one in the contract of wiring-test"
    ]


def test_two_subscriptions_of_one_name_are_refused() -> None:
    problems = wiring_problems(CONTRACT, [sub("all", COMMANDS, OTHERS), sub("all", PARTNER)])
    assert problems == ["2 subscriptions are named 'all': each is one consumer group"]


def test_the_runtime_takes_name_and_produced_topics_from_the_contract() -> None:
    rt = runtime_for(CONTRACT, settings=ServiceSettings(), subscriptions=complete())
    assert rt.name == "wiring-test"
    assert rt.produces == [EVENTS, ANSWERS]
    assert [s.name for s in rt.subscriptions] == ["commands", "pings"]


def test_running_some_subscriptions_checks_all_of_them() -> None:
    rt = runtime_for(
        CONTRACT, settings=ServiceSettings(), subscriptions=complete(), running={"pings"}
    )
    assert [s.name for s in rt.subscriptions] == ["pings"]
    assert rt.produces == [EVENTS, ANSWERS]
    with pytest.raises(WiringError, match="no subscription named ingest to run"):
        runtime_for(
            CONTRACT, settings=ServiceSettings(), subscriptions=complete(), running={"ingest"}
        )
    with pytest.raises(WiringError, match="which no subscription reads"):
        runtime_for(
            CONTRACT,
            settings=ServiceSettings(),
            subscriptions=complete()[1:],
            running={"pings"},
        )


@pytest.mark.parametrize(
    ("layout", "url", "allowed", "partitions"),
    [
        ("auto", "redis://127.0.0.1:6379/0", True, None),  # one node: spreading buys nothing
        ("auto", "redis+cluster://a:6379,b:6379", True, 12),
        ("auto", "redis+cluster://a:6379,b:6379", False, None),
        ("one-slot", "redis+cluster://a:6379,b:6379", True, None),
        ("partitioned", "redis://127.0.0.1:6379/0", True, 12),
    ],
)
def test_the_state_layout_is_the_settings_choice_where_the_rules_allow_it(
    layout: str, url: str, allowed: bool, partitions: int | None
) -> None:
    settings = ServiceSettings(STATE_LAYOUT=layout, REDIS_URL=url)
    rt = runtime_for(CONTRACT, settings=settings, subscriptions=complete(), partitionable=allowed)
    assert rt.layout.partitions == partitions


def test_a_partitioned_layout_is_refused_to_rules_that_do_not_allow_it() -> None:
    settings = ServiceSettings(STATE_LAYOUT="partitioned")
    with pytest.raises(WiringError, match="STATE_LAYOUT=partitioned, and its rules"):
        runtime_for(CONTRACT, settings=settings, subscriptions=complete())


class PingTally(StateModel):
    pings: int = 0


def test_the_codecs_are_compiled_before_the_first_batch() -> None:
    """`run()` compiles every message of the service's topics and every state model before it
    serves (and before the start-up objects are frozen), so no batch pays for it."""
    for model in (Ping, Pong, PingTally):
        compiled._compiled.pop(model, None)
    rt = runtime_for(CONTRACT, settings=ServiceSettings(), subscriptions=complete())
    assert rt.compile_codecs() >= 3
    for model in (Ping, Pong, PingTally):
        assert compiled._compiled[model] is not None, model
    assert compiled.encode(Pong(n=3)) == Pong(n=3).model_dump_json().encode()
