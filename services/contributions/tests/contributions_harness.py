"""Runs the contributions handlers over an in-memory state, the way the runtime does per record.

Unit-level only: no broker, no Redis. A message goes to the handler table of its topic; `needs`
is computed first and the handler sees exactly those keys; writes are applied; what it emits on
the service's own work topic is run next (in order, like one partition), what it emits on the
events topic and to the bureaus is collected for the test to read.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import shebao_partners as partners
from shebao_common.policy import Policy
from shebao_common.pseudonym import CitizenIds
from shebao_common.runtime import Context, HandlerTable
from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as un
from shebao_contracts import welfare as wf
from shebao_contracts.envelope import Envelope, Message
from shebao_contributions.domain import employers
from shebao_contributions.domain.env import Env
from shebao_contributions.domain.ledger import Ledger
from shebao_contributions.domain.model import (
    ACCOUNT,
    ASSESSMENT,
    DIRECTORY,
    EMPLOYER,
    LEDGER,
    PERSON,
    Directory,
    EmployerAssessment,
    EmployerFile,
    PersonFile,
)
from shebao_contributions.domain.params import Params
from shebao_contributions.handlers import (
    collection_handlers,
    command_handlers,
    enrollment_handlers,
    transfer_handlers,
    unemployment_handlers,
    welfare_handlers,
    work_handlers,
)
from shebao_devinfra.kit import employee_memberships
from shebao_partners import employer_collected, person_citizen_id

POLICY = Policy.of("shebao_contributions")
PARAMS = Params(POLICY)
_ids = itertools.count(1)

TABLES: dict[str, HandlerTable] = {
    ce.EVENTS.name: enrollment_handlers,
    cc.COMMANDS.name: command_handlers,
    cc.WORK.name: work_handlers,
    un.EVENTS.name: unemployment_handlers,
    wf.EVENTS.name: welfare_handlers,
}


Routed = tuple[str, str, Message]
"""(topic, record key, message)"""


@dataclass(frozen=True)
class Published:
    """A record the service published on its events or work topic."""

    topic: str
    key: str
    message: Message
    time: datetime
    by: str
    """The subscription that decided it (named by the topic it reads, but for two)."""
    send: int
    """Which `Service.send` caused it (the test waits for one before the next)."""


def ref(n: int) -> str:
    """Person n's reference: readable and in the order of n (see UnitIds)."""
    return f"{n:032x}"


def citizen(n: int) -> str:
    """Person n's citizen ID (valid check character), the ID a bureau names person n by."""
    return person_citizen_id(n)


class UnitIds(CitizenIds):
    """The real seal, and references that read as `ref(n)` for `citizen(n)`: unit tests name
    and sort persons by n. The services use the keyed pseudonym (test_pseudonym covers it)."""

    def __init__(self) -> None:
        super().__init__(b"unit-test-pseudonym-key", b"unit-test-citizen-id-key")
        self._refs_of: dict[str, str] = {}
        self._citizen_of: dict[str, str] = {}

    def person(self, n: int) -> tuple[str, str]:
        cid, r = citizen(n), ref(n)
        self._refs_of[cid], self._citizen_of[r] = r, cid
        return cid, r

    def person_ref(self, citizen_id: str) -> str:
        return self._refs_of.get(citizen_id) or super().person_ref(citizen_id)

    def sealed(self, person_ref: str) -> str:
        """The value enrollment would seal for the person `ref(n)`."""
        n = int(person_ref, 16)
        cid, _ = self.person(n)
        return self._seal.seal(cid, person_ref)


IDS = UnitIds()


def employer_code(n: int, region: str = "320100") -> str:
    return partners.employer_code(region, n)


def contract_key(topic: str, message: Message) -> str:
    """The record key the topic's contract gives the message (what a partner or a service
    keys it by): the key Kafka's partitioner places it with."""
    if cc.COLLECTIONS.match(topic) is not None:
        employer = getattr(message, "employer", None)
        return employer if employer is not None else message.collection_id  # type: ignore[attr-defined]
    for field in ("person", "employer", "region"):
        value = getattr(message, field, None)
        if isinstance(value, str):
            return value
    raise AssertionError(f"no contract key for {message.TYPE} on {topic}")


class Service:
    PARTITIONS: int | None = None
    """Every Service partitioned so (a test may set it for a whole module's scenarios)."""

    def __init__(
        self, shards: int = 4, policy: Policy = POLICY, partitions: int | None = None
    ) -> None:
        """`partitions`: the state partitioned as on a Redis Cluster, each record of a
        partition reading and writing only what its partition owns (`HandlerRunner`); records
        are keyed as their topics' contracts say."""
        self.partitions = partitions if partitions is not None else Service.PARTITIONS
        self.env = Env(Params(policy), IDS, shards=shards)
        self.registered: set[str] = set()
        self.store: dict[str, Any] = {}
        # one runner per subscription, all over one store, as one Redis holds the service's state
        self.runners = {
            name: HandlerRunner(table, self.env, partitions=self.partitions)
            for name, table in (
                *TABLES.items(),
                ("collections", collection_handlers),
                ("transfers", transfer_handlers),
            )
        }
        for runner in self.runners.values():
            runner.store = self.store
        self.events: list[tuple[str, Message]] = []
        self.bureau: list[tuple[str, str, Message]] = []
        self.work_count = 0
        self.max_keys = 0
        self.published: list[Published] = []
        """Every record on the events and work topics, in order (what a rebuild folds)."""
        self.sends = 0

    # sending ---------------------------------------------------------------------------------

    def send(
        self,
        topic: str,
        message: Message,
        when: date | datetime | None = None,
        *,
        key: str | None = None,
    ) -> list[Message]:
        """Run a message and everything it fans out; the events and bureau records it caused.
        `when` is its ce_time (a date: 09:00 UTC that day), by default 2025-01-01."""
        start_events, start_bureau = len(self.events), len(self.bureau)
        self.sends += 1
        queue: deque[tuple[str, str, Message]] = deque(
            [(topic, key if key is not None else contract_key(topic, message), message)]
        )
        if isinstance(when, datetime):
            moment = when
        else:
            moment = datetime.combine(when or date(2025, 1, 1), time(9), UTC)
        while queue:
            t, k, m = queue.popleft()
            for source, out_topic, key, out in self._run(t, k, m, moment):
                if out_topic in (cc.WORK.name, cc.EVENTS.name):
                    published = Published(out_topic, key, out, moment, source, self.sends)
                    self.published.append(published)
                if out_topic == cc.WORK.name:
                    self.work_count += 1
                    queue.append((out_topic, key, out))
                elif out_topic == cc.EVENTS.name:
                    self.events.append((key, out))
                else:
                    fields = cc.ASSESSMENTS.match(out_topic)
                    assert fields is not None, out_topic
                    self.bureau.append((fields["code"], key, out))
        return [m for _, m in self.events[start_events:]] + [
            m for _, _, m in self.bureau[start_bureau:]
        ]

    def _run(
        self, topic: str, key: str, message: Message, moment: datetime
    ) -> list[tuple[str, str, str, Message]]:
        """What each subscription reading `topic` emitted: (subscription, topic, key, message)."""
        fields = cc.COLLECTIONS.match(topic)
        names = ["collections"] if fields is not None else [topic]
        if topic == ce.EVENTS.name:
            names.append("transfers")  # a second subscription on enrollment's events
        out = []
        for name in names:
            out += [
                (name, *emit) for emit in self._run_one(name, topic, key, fields, message, moment)
            ]
        return out

    def _run_one(
        self,
        name: str,
        topic: str,
        key: str,
        fields: dict[str, str] | None,
        message: Message,
        moment: datetime,
    ) -> list[tuple[str, str, Message]]:
        runner = self.runners[name]
        handler = runner.table.get(message.TYPE)
        if handler is not None:  # how many keys one record declares: the fan-out's bound
            ctx = Context(
                Envelope(id="x", type=message.TYPE, source="/test", time=moment),
                "x",
                topic,
                0,
                0,
                None,
                self.env,
                fields or {},
            )
            self.max_keys = max(self.max_keys, len(list(handler.needs(message, ctx))))
        emits = runner.send(message, topic=topic, topic_fields=fields, when=moment, key=key)
        return [(e.topic, e.key, e.message) for e in emits]

    def enrol(self, event: Message, when: date | datetime | None = None) -> list[Message]:
        """Follow an enrollment event; like enrollment, a PersonRegistered goes first for a
        person not seen before (its outputs are not returned)."""
        person = getattr(event, "person", None)
        if person is not None and person not in self.registered:
            self.registered.add(person)
            if not isinstance(event, ce.PersonRegistered):
                self.send(ce.EVENTS.name, self.registration(person, date(1985, 5, 5)), when)
        return self.send(ce.EVENTS.name, event, when)

    def registration(
        self, person: str, born: date, region: str = "320100", on: date = date(2000, 1, 1)
    ) -> ce.PersonRegistered:
        return ce.PersonRegistered(
            person=person,
            birth_date=born,
            sex=ce.Sex.FEMALE,
            hukou_region=region,
            residence=ce.Residence.URBAN,
            registered_on=on,
            sealed_citizen_id=IDS.sealed(person),
        )

    def command(
        self, cmd: Message, when: date | datetime | None = None, *, key: str | None = None
    ) -> list[Message]:
        """`key`: the record key, if not the one the contract gives (`contract_key`)."""
        return self.send(cc.COMMANDS.name, cmd, when, key=key)

    def collect(
        self,
        bureau: str,
        report: Message,
        when: date | datetime | None = None,
        *,
        key: str | None = None,
    ) -> list[Message]:
        return self.send(cc.COLLECTIONS.named(code=bureau), report, when, key=key)

    def close(self, region: str, month: str, when: date | datetime | None = None) -> list[Message]:
        return self.command(cc.ClosePeriod(region=region, month=month), when)

    # scenario helpers ------------------------------------------------------------------------

    def employer(
        self, code: str, region: str = "320100", risk_class: int = 1, on: date = date(2018, 1, 1)
    ) -> None:
        self.enrol(
            ce.EmployerRegistered(
                employer=code,
                name="示例单位",
                region=region,
                ownership=ce.Ownership.PRIVATE,
                risk_class=risk_class,
                registered_on=on,
            )
        )

    def hire(
        self,
        person: str,
        employer: str,
        wage: Decimal | str,
        start: date,
        *,
        region: str = "320100",
        risk_class: int = 1,
        register: bool = True,
    ) -> None:
        wage = Decimal(wage)
        if register:
            self.enrol(self.registration(person, date(1985, 5, 5), region, start))
        self.enrol(
            ce.EmploymentStarted(
                person=person,
                employer=employer,
                region=region,
                start_date=start,
                monthly_wage=wage,
                risk_class=risk_class,
            )
        )
        for membership in employee_memberships(
            person,
            employer,
            region,
            start,
            wage,
            risk_class=risk_class,
            birth_date=date(1985, 5, 5),
            sex=ce.Sex.FEMALE,
        ):
            self.enrol(membership)

    def leave(self, person: str, employer: str, end: date, region: str = "320100") -> None:
        self.enrol(
            ce.EmploymentEnded(
                person=person,
                employer=employer,
                region=region,
                end_date=end,
                separation=ce.Separation.INVOLUNTARY,
            )
        )
        for scheme in ce.EMPLOYEE_SCHEMES:
            self.enrol(
                ce.MembershipSuspended(
                    person=person,
                    scheme=scheme,
                    insurance=scheme.insurance,
                    region=region,
                    on=end,
                    reason=ce.StopReason.EMPLOYMENT_ENDED,
                )
            )

    def pay_employer(
        self, code: str, month: str, amount: Decimal | str | None = None, *, bureau: str = "t320100"
    ) -> list[Message]:
        due = self.ledger(code).dues[month]
        value = Decimal(amount) if amount is not None else due.amount_due
        return self.collect(
            bureau,
            employer_collected(f"C-{next(_ids)}", code, month, value),
        )

    # state -----------------------------------------------------------------------------------

    def person(self, r: str) -> PersonFile:
        """The person as the rules read him: his facts and his account, one file."""
        facts, account = self.store.get(PERSON.key(r).name), self.store.get(ACCOUNT.key(r).name)
        assert facts is not None or account is not None, f"no file for {r}"
        return PersonFile.of(r, facts, account)

    def employer_file(self, code: str) -> EmployerFile:
        """The employer as the rules read it: its facts, its roster as assessed."""
        e = employers.roster_view(
            self.store.get(EMPLOYER.key(code).name), self.store.get(LEDGER.key(code).name)
        )
        assert isinstance(e, EmployerFile)
        return e

    def ledger(self, code: str) -> Ledger:
        led = self.store.get(LEDGER.key(code).name)
        assert isinstance(led, Ledger)
        return led

    def assessment(self, code: str, month: str) -> EmployerAssessment:
        a = self.store.get(ASSESSMENT.key(code, month).name)
        assert isinstance(a, EmployerAssessment)
        return a

    def directory(self, region: str, shard: int) -> Directory | None:
        d = self.store.get(DIRECTORY.key(region, str(shard)).name)
        return d if isinstance(d, Directory) else None

    def of_type(self, kind: type[Message]) -> list[Any]:
        return [m for _, m in self.events if isinstance(m, kind)]

    def to_bureau(self, code: str, kind: type[Message] = cc.TaxAssessmentIssued) -> list[Any]:
        return [m for c, _, m in self.bureau if c == code and isinstance(m, kind)]


def of_type(messages: list[Message], kind: type[Message]) -> list[Any]:
    return [m for m in messages if isinstance(m, kind)]
