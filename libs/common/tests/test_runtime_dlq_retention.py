"""A dead-letter topic keeps its records as long as the topic it mirrors (issue 18): a dead
letter holds a partner's record as it came, and must neither outlive it nor, for a log of record
a rebuild reads, vanish before it. `ServiceRuntime.ensure_topics` against a real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from ledger_app import LedgerSettings, handlers_for, ledger

from shebao_common.kafka_security import client_options
from shebao_common.runtime import HandlerTable, ServiceRuntime, Subscription

pytestmark = pytest.mark.integration

HOUR = "3600000"


async def configs(bootstrap: str, topics: list[str]) -> dict[str, dict[str, str]]:
    """Each topic's effective settings (its own, or the broker's default)."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap))
    await admin.start()
    try:
        resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
        out = {}
        for response in await admin.describe_configs(resources):
            for _, _, _, name, entries in response.resources:
                out[name] = {e[0]: e[1] for e in entries}
        return out
    finally:
        await admin.close()


async def configs_settled(
    bootstrap: str, topics: list[str], wanted: Callable[[dict[str, dict[str, str]]], bool]
) -> dict[str, dict[str, str]]:
    """`configs`, once `wanted` holds of them, or at a 10 s deadline (the asserts then say what
    differs). A change the controller took is answered before the broker's copy of the
    metadata has it, so a describe right after may still show the old value."""
    deadline = time.monotonic() + 10
    while True:
        got = await configs(bootstrap, topics)
        if wanted(got) or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)


async def create(bootstrap: str, topics: dict[str, dict[str, str]]) -> None:
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, 2, 1, topic_configs=c) for n, c in topics.items()])
    finally:
        await admin.close()


def service(bootstrap: str, ledger_id: str) -> Any:
    """The ledger, reading its commands and, as a projection would, its own events (a log of
    record: created with unlimited retention)."""
    lg = ledger(ledger_id)
    settings = LedgerSettings(kafka_bootstrap_servers=bootstrap, topic_partitions=2)
    rt = ServiceRuntime(
        name=lg.service,
        settings=settings,
        registry=lg.registry,
        subscriptions=[
            Subscription("commands", (lg.commands,), handlers_for(lg)),
            Subscription("follow", (lg.events,), HandlerTable()),
        ],
        produces=[lg.events],
    )
    return lg, rt


async def test_dead_letters_are_created_with_their_topics_retention(infra: Any) -> None:
    bootstrap = infra.kafka_bootstrap
    lg, rt = service(bootstrap, f"ret{int(time.time() * 1000) % 10**8}")
    commands, events = lg.commands.name, lg.events.name
    # the commands exist already, kept an hour (as a partner's topic may be)
    await create(bootstrap, {commands: {"retention.ms": HOUR}})
    await rt.ensure_topics()
    topics = [commands, commands + ".dlq", events, events + ".dlq"]
    got = await configs_settled(bootstrap, topics, lambda c: all(c[t] for t in topics))
    retention = {name: c["retention.ms"] for name, c in got.items()}
    assert retention == {
        commands: HOUR,
        commands + ".dlq": HOUR,  # described: the topic's own setting
        events: "-1",  # a log of record, created now
        events + ".dlq": "-1",  # the value the runtime gives its topic
    }


async def test_a_dead_letter_topic_that_differs_is_brought_into_line(infra: Any) -> None:
    bootstrap = infra.kafka_bootstrap
    lg, rt = service(bootstrap, f"rea{int(time.time() * 1000) % 10**8}")
    commands, events = lg.commands.name, lg.events.name
    # dead-letter topics created before this rule: one kept a minute (and with a setting of its
    # own, which stays), one at the broker's default under a log of record kept for ever
    await create(
        bootstrap,
        {
            commands: {},
            commands + ".dlq": {"retention.ms": "60000", "max.message.bytes": "2000000"},
            events: {"retention.ms": "-1"},
            events + ".dlq": {},
        },
    )
    await rt.ensure_topics()
    dlq, events_dlq = commands + ".dlq", events + ".dlq"
    got = await configs_settled(
        bootstrap,
        [commands, dlq, events, events_dlq],
        lambda c: c[dlq]["retention.ms"] != "60000" and c[events_dlq]["retention.ms"] == "-1",
    )
    assert got[commands + ".dlq"]["retention.ms"] == got[commands]["retention.ms"]
    assert got[commands + ".dlq"]["retention.ms"] != "60000"  # back to the broker's default
    assert got[commands + ".dlq"]["max.message.bytes"] == "2000000"
    assert got[events + ".dlq"]["retention.ms"] == got[events]["retention.ms"] == "-1"
    # a second start-up finds nothing to change
    await rt.ensure_topics()
    again = await configs(bootstrap, [commands + ".dlq", events + ".dlq"])
    assert {n: c["retention.ms"] for n, c in again.items()} == {
        commands + ".dlq": got[commands]["retention.ms"],
        events + ".dlq": "-1",
    }
