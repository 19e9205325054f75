"""Runs the unemployment-subsidies handlers over an in-memory store, the way the runtime does.

Unit-level only: no broker, no Redis. What a handler emits on the service's own work topic runs
next (in order, like one partition); events and the bureaus' answers are collected to read.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import HandlerTable
from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.catalog import CONTRACTS, all_topics
from shebao_contracts.envelope import Message
from shebao_partners import citizen_id, cpi_release
from shebao_unemployment_subsidies.domain.env import Env
from shebao_unemployment_subsidies.domain.model import (
    BENEFIT,
    PERSON,
    REGION,
    Benefit,
    Person,
    Region,
)
from shebao_unemployment_subsidies.domain.params import Params
from shebao_unemployment_subsidies.handlers import (
    command_handlers,
    contributions_handlers,
    cpi_handlers,
    enrollment_handlers,
    handed_handlers,
    welfare_handlers,
    work_handlers,
)

POLICY = Policy.of("shebao_unemployment_subsidies")
REFS = Pseudonymizer(b"unit-test-pseudonym-key")
NJ = "320100"
REGISTRY = all_topics([*(c for c in CONTRACTS if c.service != u.SERVICE), u.CONTRACT])


def citizen(n: int, born: date = date(1980, 1, 1), male: bool = True) -> str:
    """Person n (odd sequence number for a man, even for a woman)."""
    return citizen_id("320102", born, n * 2 + (1 if male else 0))


def ref(cid: str) -> str:
    return REFS.person_ref(cid)


def months_between(first: str, count: int) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def contract_key(topic: str, message: Message) -> str:
    """The record key the topic's contract gives the message (a job centre's command by the
    citizen ID, a close and a release by the region, the followed events by the person)."""
    for name in ("citizen_id", "person", "region"):
        value = getattr(message, name, None)
        if isinstance(value, str):
            return value
    raise AssertionError(f"no contract key for {message.TYPE} on {topic}")


class Service:
    PARTITIONS: int | None = None
    """Every Service partitioned so (a test may set it for a whole module's scenarios)."""

    def __init__(
        self,
        policy: Policy = POLICY,
        extra: list[Path] | None = None,
        partitions: int | None = None,
    ) -> None:
        """`partitions`: the state partitioned as on a Redis Cluster, each record of a
        partition reading and writing only what its partition keeps (`HandlerRunner`); records
        are keyed as their topics' contracts say."""
        if extra:
            policy = Policy.of("shebao_unemployment_subsidies", extra)
        self.partitions = partitions if partitions is not None else Service.PARTITIONS
        self.env = Env(Params(policy), REFS, shards=4)
        self.store: dict[str, Any] = {}
        tables: dict[str, HandlerTable[Env]] = {
            ce.EVENTS.name: enrollment_handlers,
            cc.EVENTS.name: contributions_handlers,
            w.EVENTS.name: welfare_handlers,
            u.COMMANDS.name: command_handlers,
            u.WORK.name: work_handlers,
            "handed": handed_handlers,  # the work topic's second subscription
            "cpi": cpi_handlers,
        }
        self.runners = {
            t: HandlerRunner(h, self.env, registry=REGISTRY, partitions=self.partitions)
            for t, h in tables.items()
        }
        for r in self.runners.values():
            r.store = self.store
            r.counters = self.runners[ce.EVENTS.name].counters
        self.events: list[Message] = []
        self.answers: list[tuple[str, Message]] = []
        self.published: list[tuple[str, Message, datetime]] = []
        """Everything the service published, in order: events, work items, answers."""
        self.read: list[tuple[str, Message, datetime, bool]] = []
        """Every record a handler read, in order, and whether it published anything."""

    # sending -------------------------------------------------------------------------------

    def send(
        self,
        topic: str,
        message: Message,
        when: date | datetime | None = None,
        *,
        key: str | None = None,
    ) -> list[Message]:
        """Run a message (keyed as its topic's contract says, or by `key`) and everything it
        fans out on the work topic; the events and answers it caused."""
        if isinstance(when, datetime):
            moment = when
        else:
            moment = datetime.combine(when or date(2025, 1, 1), time(9), UTC)
        start = len(self.events), len(self.answers)
        first = (topic, key if key is not None else contract_key(topic, message), message)
        queue: deque[tuple[str, str, Message]] = deque([first])
        while queue:
            t, k, m = queue.popleft()
            fields = u.CPI.match(t)
            names = ["cpi"] if fields is not None else [t]
            if t == u.WORK.name:
                names.append("handed")
            emitted = []
            for name in names:
                runner = self.runners[name]
                out = runner.send(m, topic=t, topic_fields=fields, when=moment, key=k)
                if runner.table.get(m.TYPE) is not None:
                    self.read.append((t, m, moment, bool(out)))
                emitted += out
            for e in emitted:
                self.published.append((e.topic, e.message, e.time or moment))
                if e.topic == u.WORK.name:
                    queue.append((e.topic, e.key, e.message))
                elif e.topic == u.EVENTS.name:
                    self.events.append(e.message)
                else:
                    self.answers.append((e.topic, e.message))
        return self.events[start[0] :] + [m for _, m in self.answers[start[1] :]]

    def enrol(self, event: Message, when: date | None = None) -> list[Message]:
        return self.send(ce.EVENTS.name, event, when)

    def command(self, cmd: Message, when: date | datetime | None = None) -> list[Message]:
        return self.send(u.COMMANDS.name, cmd, when)

    def release(
        self,
        region: str,
        month: str,
        cpi: str,
        food: str = "0.0",
        when: date | None = None,
        bureau: str | None = None,
    ) -> list[Message]:
        y, m = int(month[:4]), int(month[5:7])
        after = date(y + (m == 12), m % 12 + 1, 10)
        code = bureau or f"s{region}"
        return self.send(
            u.CPI.named(code=code),
            cpi_release(region, month, cpi, food),
            when or after,
        )

    # scenario builders -----------------------------------------------------------------------

    def worker(
        self,
        n: int,
        *,
        born: date = date(1980, 1, 1),
        male: bool = True,
        credited: list[str] = (),  # type: ignore[assignment]
        residence: ce.Residence = ce.Residence.URBAN,
    ) -> str:
        """A registered person with credited unemployment months; returns the citizen ID."""
        cid = citizen(n, born, male)
        person = ref(cid)
        self.enrol(
            ce.PersonRegistered(
                person=person,
                birth_date=born,
                sex=ce.Sex.MALE if male else ce.Sex.FEMALE,
                hukou_region=NJ,
                residence=residence,
                registered_on=date(2000, 1, 1),
                sealed_citizen_id="v1." + "A" * 46,
            )
        )
        for month in credited:
            self.credit(person, month)
        return cid

    def credit(self, person: str, month: str) -> None:
        self.send(
            cc.EVENTS.name,
            cc.ContributionCredited(
                person=person,
                period=month,
                months=1,
                source="employer",
                insurances=[
                    cc.CreditedInsurance(
                        insurance=ce.Insurance.UNEMPLOYMENT,
                        scheme=ce.Scheme.UNEMPLOYMENT,
                        base=Decimal("5000.00"),
                        employer_part=Decimal("25.00"),
                        employee_part=Decimal("25.00"),
                        into_account=Decimal("0.00"),
                    )
                ],
            ),
        )

    def hire(self, cid: str, on: date, employer: str = "91320100MA00000001") -> list[Message]:
        return self.enrol(
            ce.EmploymentStarted(
                person=ref(cid),
                employer=employer,
                region=NJ,
                start_date=on,
                monthly_wage=Decimal("6000.00"),
                risk_class=1,
            ),
            on,
        )

    def separate(
        self,
        cid: str,
        on: date,
        how: ce.Separation = ce.Separation.INVOLUNTARY,
        employer: str = "91320100MA00000001",
    ) -> list[Message]:
        return self.enrol(
            ce.EmploymentEnded(
                person=ref(cid), employer=employer, region=NJ, end_date=on, separation=how
            ),
            on,
        )

    def laid_off(self, n: int, months: int, on: date, **kw: Any) -> str:
        """Hired, credited `months` months ending the month before `on`, laid off on `on`."""
        first = on.replace(day=1) - timedelta(days=1)
        start_idx = first.year * 12 + first.month - 1 - (months - 1)
        start = f"{start_idx // 12:04d}-{start_idx % 12 + 1:02d}"
        cid = self.worker(n, credited=months_between(start, months), **kw)
        self.hire(cid, date(int(start[:4]), int(start[5:7]), 1))
        self.separate(cid, on)
        return cid

    def register(self, cid: str, on: date, region: str = NJ) -> list[Message]:
        return self.command(
            u.RegisterUnemployed(citizen_id=cid, region=region, registered_on=on), on
        )

    def close(self, month: str, region: str = NJ, when: date | None = None) -> list[Message]:
        y, m = int(month[:4]), int(month[5:7])
        after = date(y + (m == 12), m % 12 + 1, 1)
        return self.command(u.ClosePaymentMonth(region=region, month=month), when or after)

    # reading ---------------------------------------------------------------------------------

    def person(self, cid: str) -> Person:
        p = self.store.get(PERSON.key(ref(cid)).name)
        assert isinstance(p, Person)
        return p

    def benefit(self, cid: str) -> Benefit:
        b = self.store.get(BENEFIT.key(ref(cid)).name)
        assert isinstance(b, Benefit)
        return b

    def region(self, code: str = NJ) -> Region:
        r = self.store.get(REGION.key(code).name)
        assert isinstance(r, Region)
        return r

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.events if isinstance(m, kind)] + [
            m for _, m in self.answers if isinstance(m, kind)
        ]


def of_type(messages: list[Message], kind: type[Message]) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]


def reason(messages: list[Message]) -> str:
    (rejected,) = of_type(messages, u.CommandRejected) + of_type(messages, u.CpiRejected)
    return str(rejected.reason)
