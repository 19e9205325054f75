"""Runs the welfare handlers over an in-memory store, the way the runtime does per record.

Unit-level only: what a handler emits on the service's own work topic runs next (in order, like
one partition); its events are collected to read. Records are keyed as their topics' contracts
say; with `partitions`, the state is partitioned as on a Redis Cluster.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import HandlerTable
from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.envelope import Message
from shebao_partners import citizen_id
from shebao_welfare.domain.env import Env
from shebao_welfare.domain.model import CASE, PERSON, Case, Person, case_owner
from shebao_welfare.domain.params import Params
from shebao_welfare.handlers import command_handlers, unemployment_handlers, work_handlers

POLICY = Policy.of("shebao_welfare")
REFS = Pseudonymizer(b"unit-test-pseudonym-key")
NJ = "320100"


def cid(n: int) -> str:
    return citizen_id("320102", date(1970, 1, 1), n)


def ref(c: str) -> str:
    return REFS.person_ref(c)


def contract_key(message: Message) -> str:
    """The record key the topic's contract gives a message: a household's command by its id, a
    person's support by the citizen ID, a close and a trigger by the region; on the work topic
    as the service keys it (a shard's work by "region:shard", a case's as the case is kept, a
    claim by the member it goes to, else by the household)."""
    if isinstance(message, w.PayShard | w.SubsidyShard | w.DirectorySet):
        return f"{message.region}:{message.shard}"
    if isinstance(message, w.PayCase | w.PayCaseSubsidy):
        return case_owner(message.case)
    if isinstance(message, w.ApplicationClaim | w.ReviewClaim):
        return message.claim[0] if message.claim and not message.refused else message.household_id
    for name in ("person", "household_id", "citizen_id", "region"):
        value = getattr(message, name, None)
        if isinstance(value, str):
            return value
    raise AssertionError(f"no contract key for {message.TYPE}")


class Service:
    PARTITIONS: int | None = None
    """Every Service partitioned so (a test may set it for a whole module's scenarios)."""

    def __init__(self, policy: Policy = POLICY, partitions: int | None = None) -> None:
        """`partitions`: the state partitioned as on a Redis Cluster, each record of a
        partition reading and writing only what its partition keeps (`HandlerRunner`)."""
        self.partitions = partitions if partitions is not None else Service.PARTITIONS
        self.env = Env(Params(policy), REFS, shards=4)
        self.store: dict[str, Any] = {}
        tables: dict[str, HandlerTable[Env]] = {
            w.COMMANDS.name: command_handlers,
            w.WORK.name: work_handlers,
            u.EVENTS.name: unemployment_handlers,
        }
        self.runners = {
            t: HandlerRunner(h, self.env, partitions=self.partitions) for t, h in tables.items()
        }
        counters = self.runners[w.COMMANDS.name].counters
        for r in self.runners.values():
            r.store = self.store
            r.counters = counters
        self.events: list[Message] = []
        self.log: list[tuple[str, str, Message, datetime]] = []
        """Every record the handlers published, events and work alike, in order: (topic, key,
        message, time), what a rebuild reads back."""
        self.inputs: list[tuple[str, Message, datetime, bool]] = []
        """Every record the handlers read: (topic, message, time, whether it decided nothing)."""

    def send(
        self, topic: str, message: Message, when: date | datetime, *, key: str | None = None
    ) -> list[Message]:
        """Run a message (keyed as its topic's contract says, or by `key`) and everything it
        hands on on the work topic; the events it caused."""
        moment = when if isinstance(when, datetime) else datetime.combine(when, time(9), UTC)
        start = len(self.events)
        first = (topic, key if key is not None else contract_key(message), message)
        queue: deque[tuple[str, str, Message]] = deque([first])
        while queue:
            t, k, m = queue.popleft()
            out = self.runners[t].send(m, topic=t, when=moment, key=k)
            self.inputs.append((t, m, moment, not out))
            for e in out:
                self.log.append((e.topic, e.key, e.message, e.time or moment))
                if e.topic == w.WORK.name:
                    queue.append((e.topic, e.key, e.message))
                else:
                    self.events.append(e.message)
        return self.events[start:]

    def command(self, cmd: Message, when: date | datetime) -> list[Message]:
        return self.send(w.COMMANDS.name, cmd, when)

    def apply(
        self,
        household: str,
        members: list[str],
        income: str,
        on: date,
        residence: w.Residence = w.Residence.URBAN,
        assets: bool = True,
    ) -> list[Message]:
        return self.command(
            w.ApplyForAllowance(
                household_id=household,
                region=NJ,
                residence=residence,
                members=members,
                monthly_income=Decimal(income),
                assets_within_limit=assets,
                applied_on=on,
            ),
            on,
        )

    def close(self, month: str, when: date | None = None) -> list[Message]:
        y, m = int(month[:4]), int(month[5:7])
        return self.command(
            w.ClosePaymentMonth(region=NJ, month=month), when or date(y + m // 12, m % 12 + 1, 1)
        )

    def case(self, case_id: str) -> Case:
        c = self.store.get(CASE.key(case_id).name)
        assert isinstance(c, Case)
        return c

    def person(self, c: str) -> Person:
        p = self.store.get(PERSON.key(ref(c)).name)
        assert isinstance(p, Person)
        return p

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.events if isinstance(m, kind)]


def of_type(messages: list[Message], kind: type[Message]) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]


def reason(messages: list[Message]) -> str:
    (rejected,) = of_type(messages, w.CommandRejected)
    return str(rejected.reason)
