"""Enrollment's pure handlers over an in-memory state (the runtime's unit-level runner)."""

from __future__ import annotations

from datetime import date, datetime

import shebao_partners as partners
from shebao_common.policy import Policy
from shebao_common.pseudonym import CitizenIds
from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message
from shebao_enrollment.domain.dates import event_dates
from shebao_enrollment.domain.env import Env, name_seal
from shebao_enrollment.domain.model import PERSON, Person
from shebao_enrollment.domain.params import Params
from shebao_enrollment.handlers import handlers

POLICY = Policy.of("shebao_enrollment")


def citizen_id(birth: date, *, male: bool = True, region: str = "320102", n: int = 0) -> str:
    """Person n born on `birth`: an odd sequence number for a man, an even one for a woman."""
    return partners.citizen_id(region, birth, n * 2 + (1 if male else 0))


class Domain(HandlerRunner):
    def __init__(self, key: bytes = b"unit-test-pseudonym-key", policy: Policy = POLICY) -> None:
        secret = b"unit-test-citizen-id-key"
        env = Env(Params(policy), CitizenIds(key, secret), name_seal(secret))
        super().__init__(handlers, env)

    def send(  # type: ignore[override]
        self, cmd: Message, when: date | datetime | None = None
    ) -> list[Message]:
        """Apply a command sent `when` (its ce_time; a date is 09:00 UTC, 17:00 in China that
        day). By default an office sends it on the day of the latest event it dates, as offices
        do once it has happened; a command dating nothing, at the runner's default time."""
        if when is None:
            dates = [on for _, on in event_dates(cmd)]
            when = max(dates) if dates else None
        return [e.message for e in super().send(cmd, topic=c.COMMANDS.name, when=when)]

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
