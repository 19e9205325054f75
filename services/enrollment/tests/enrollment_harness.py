"""Enrollment's pure handlers over an in-memory state (the runtime's unit-level runner)."""

from __future__ import annotations

from collections import deque
from datetime import date, datetime

import shebao_partners as partners
from shebao_common.policy import Policy
from shebao_common.pseudonym import CitizenIds
from shebao_common.runtime import Emit
from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message
from shebao_enrollment.domain.dates import event_dates
from shebao_enrollment.domain.env import Env, name_seal
from shebao_enrollment.domain.model import PERSON, Person
from shebao_enrollment.domain.params import Params
from shebao_enrollment.handlers import handlers, work_handlers

POLICY = Policy.of("shebao_enrollment")


def citizen_id(birth: date, *, male: bool = True, region: str = "320102", n: int = 0) -> str:
    """Person n born on `birth`: an odd sequence number for a man, an even one for a woman."""
    return partners.citizen_id(region, birth, n * 2 + (1 if male else 0))


class Domain(HandlerRunner):
    def __init__(
        self,
        key: bytes = b"unit-test-pseudonym-key",
        policy: Policy = POLICY,
        partitions: int | None = None,
    ) -> None:
        """`partitions`: the state partitioned as on a Redis Cluster (`HandlerRunner`): a
        command keyed as its contract says (citizen ID, or employer code) is handed to the
        partition that keeps its person on the work topic, and each work record runs there in
        turn before `send` returns."""
        secret = b"unit-test-citizen-id-key"
        env = Env(Params(policy), CitizenIds(key, secret), name_seal(secret))
        super().__init__(handlers, env, partitions=partitions)
        # the work subscription, over the same store, as one Redis holds the service's state
        self.work = HandlerRunner(work_handlers, env, partitions=partitions)
        self.work.store, self.work.counters = self.store, self.counters
        self.handed: list[Message] = []
        """Every record the work topic carried, in order."""
        self.log: list[Emit] = []
        """Every record published on the events and work topics, in order (a rebuild's log)."""

    def send(  # type: ignore[override]
        self, cmd: Message, when: date | datetime | None = None, *, key: str | None = None
    ) -> list[Message]:
        """Apply a command sent `when` (its ce_time; a date is 09:00 UTC, 17:00 in China that
        day), and whatever it handed on. By default an office sends it on the day of the latest
        event it dates, as offices do once it has happened; a command dating nothing, at the
        runner's default time. `key`: the record key, when not the contract's."""
        if when is None:
            dates = [on for _, on in event_dates(cmd)]
            when = max(dates) if dates else None
        if key is None:
            key = cmd.employer if isinstance(cmd, c.RegisterEmployer) else cmd.citizen_id  # type: ignore[attr-defined]
        before = len(self.emitted)
        said = super().send(cmd, topic=c.COMMANDS.name, when=when, key=key)
        work = deque(e for e in said if e.topic == c.WORK.name)
        while work:
            record = work.popleft()
            self.handed.append(record.message)
            out = self.work.send(record.message, topic=c.WORK.name, when=when, key=record.key)
            said += out
            work.extend(e for e in out if e.topic == c.WORK.name)
        self.log += [e for e in said if e.topic in (c.EVENTS.name, c.WORK.name)]
        told = [e for e in said if e.topic != c.WORK.name]
        self.emitted = self.emitted[:before] + told
        return [e.message for e in told]

    @property
    def events(self) -> list[tuple[str, Message]]:
        return [(e.key, e.message) for e in self.emitted]

    def person(self, cid: str) -> Person:
        p = self.store.get(PERSON.key(self.env.ids.person_ref(cid)).name)
        assert p is not None
        return p

    def ref(self, cid: str) -> str:
        return str(self.env.ids.person_ref(cid))


def rejection(events: list[Message]) -> str | None:
    for e in events:
        if isinstance(e, c.CommandRejected):
            return e.reason
    return None


def types(events: list[Message]) -> list[str]:
    return [type(e).__name__ for e in events]
