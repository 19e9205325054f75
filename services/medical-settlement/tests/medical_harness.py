"""The four stages' pure handlers over one in-memory state, and claim builders for tests."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import shebao_partners as partners
from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import Emit
from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import medical as m
from shebao_devinfra.kit import medical_membership
from shebao_medical_settlement.domain.env import Env
from shebao_medical_settlement.domain.params import Params
from shebao_medical_settlement.handlers import adjudication, coverage, ingest, statements
from shebao_partners import claim_body, claim_line, example_lines, hospital_registration

POLICY = Policy.of("shebao_medical_settlement")
KEY = b"unit-test-pseudonym-key"
H3, H2, H1 = "h320102001", "h320105002", "h321302003"  # tertiary, secondary, primary
CST = timezone(timedelta(hours=8))


def at(day: date, hour: int = 18) -> datetime:
    """A moment of a day in China Standard Time (a record's ce_time)."""
    return datetime.combine(day, time(hour), CST)


def sent_at(c: m.ClaimSubmitted) -> datetime:
    """When a hospital sends a claim unless a test says otherwise: at 18:00 on its last day."""
    return at(c.discharge_date or c.admission_date)


def citizen_id(n: int, born: date = date(1980, 5, 17)) -> str:
    """Patient n (a man born on `born` in Nanjing)."""
    return partners.citizen_id("320102", born, 2 * n + 1)


def line(category: str, amount: str, qty: str = "1", code: str = "X") -> dict[str, Any]:
    return claim_line(category, amount, qty, item_code=code)


def claim(
    claim_id: str = "C1",
    *,
    hospital: str = H3,
    patient: str | None = None,
    visit: str = "inpatient",
    admitted: date = date(2025, 1, 8),
    discharged: date | None = date(2025, 1, 15),
    lines: list[dict[str, Any]] | None = None,
    total: str | None = None,
) -> m.ClaimSubmitted:
    body = claim_body(
        hospital,
        claim_id,
        patient or citizen_id(1),
        lines or example_lines(item_code="X"),
        visit=visit,
        admitted=admitted,
        discharged=discharged,
        total=total,
    )
    return m.ClaimSubmitted.model_validate(body)


class Medical:
    """Runs ingest -> adjudicate -> statements for claims, and the coverage projection."""

    def __init__(self, policy: Policy = POLICY) -> None:
        self.env = Env(Params(policy), Pseudonymizer(KEY))
        self.ingest = HandlerRunner(ingest, self.env)
        self.adjudicate = HandlerRunner(adjudication, self.env)
        self.coverage = HandlerRunner(coverage, self.env)
        self.statements = HandlerRunner(statements, self.env)
        shared: dict[str, Any] = {}
        for r in (self.ingest, self.adjudicate, self.coverage, self.statements):
            r.store = shared
            r.counters = self.adjudicate.counters
        self.store = shared
        for code, level, region in (
            (H3, "tertiary", "320100"),
            (H2, "secondary", "320100"),
            (H1, "primary", "321300"),
        ):
            self.adjudicate.send(hospital_registration(code, level, region))

    def ref(self, cid: str) -> str:
        return self.env.refs.person_ref(cid)

    def enrol(
        self,
        cid: str,
        scheme: str = "employee_medical",
        since: date = date(2020, 1, 1),
        region: str = "320100",
    ) -> None:
        self.coverage.send(
            medical_membership(
                self.ref(cid), scheme, region, since, birth_date=date(1980, 5, 17), sex="male"
            )
        )

    def submit(self, c: m.ClaimSubmitted, when: datetime | None = None) -> Any:
        """The hospital's answer to a claim (after ingest and adjudication), sent `when`."""
        when = when or sent_at(c)
        return self._through(
            self.ingest.send(
                c,
                topic=m.CLAIMS.named(code=c.hospital),
                topic_fields={"code": c.hospital},
                key=c.claim_id,
                when=when,
            ),
            when,
        )

    def cancel(self, c: m.ClaimSubmitted, when: datetime | None = None) -> Any:
        cancellation = m.ClaimCancellation(
            hospital=c.hospital, claim_id=c.claim_id, patient_citizen_id=c.patient_citizen_id
        )
        when = when or sent_at(c)
        return self._through(
            self.ingest.send(
                cancellation,
                topic=m.CLAIMS.named(code=c.hospital),
                topic_fields={"code": c.hospital},
                when=when,
            ),
            when,
        )

    def _through(self, emits: list[Emit], when: datetime | None = None) -> Any:
        """Each emitted message on to its stage, with the time of its cause (as the runtime)."""
        answers = []
        for em in emits:
            if em.topic == m.COMMANDS.name:
                for out in self.adjudicate.send(em.message, topic=em.topic, key=em.key, when=when):
                    if out.topic == m.EVENTS.name:
                        self.statements.send(out.message, topic=out.topic, when=when)
                    else:
                        answers.append(out.message)
            else:
                answers.append(em.message)
        (answer,) = answers
        return answer
