"""What the service follows: enrollment's persons and employments, the credited contributions,
welfare's statuses. Facts only: the decisions they lead to (a re-employment or a death stops the
benefit) are `decisions`, on the benefit, which is state of its own.

Each fact is kept so that reading an event again changes nothing (a resend, or the events read
again after a rebuild, `rebuild.py`): a set, a value by date, the latest separation by its date.
"""

from __future__ import annotations

from shebao_common.domain import Effects
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.envelope import Message

from .env import Env
from .model import Benefit, Person, Separated
from .stops import stop


def follow(p: Person | None, event: Message) -> Person:
    ref: str = getattr(event, "person")  # noqa: B009 - every event followed names one
    p = p or Person(ref=ref)
    match event:
        case ce.PersonRegistered():
            p = p.model_copy(
                update={
                    "registered": True,
                    "birth_date": event.birth_date,
                    "sex": event.sex,
                    "residence": event.residence,
                }
            )
        case ce.EmploymentStarted():
            left = p.left.get(event.employer)
            if left is None or event.start_date > left:  # not a job that has ended since
                p = p.model_copy(update={"jobs": {**p.jobs, event.employer: event.start_date}})
        case ce.EmploymentEnded():
            # the job that started on or before this end (a later one with the employer stays)
            jobs = {k: v for k, v in p.jobs.items() if k != event.employer or v > event.end_date}
            last = max(event.end_date, p.left.get(event.employer, event.end_date))
            ended = Separated(
                employer=event.employer,
                region=event.region,
                on=event.end_date,
                separation=event.separation,
            )
            later = p.separated is None or ended.on >= p.separated.on
            p = p.model_copy(
                update={
                    "jobs": jobs,
                    "left": {**p.left, event.employer: last},
                    "separated": ended if later else p.separated,
                }
            )
        case ce.PersonDeceased():
            p = p.model_copy(update={"deceased_on": event.on})
        case cc.ContributionCredited():
            unemployment = any(x.insurance == ce.Insurance.UNEMPLOYMENT for x in event.insurances)
            if unemployment and len(event.period) == 7 and event.period not in p.credited:
                p = p.model_copy(update={"credited": tuple(sorted({*p.credited, event.period}))})
        case w.RecipientStatusChanged():
            recipient = event.status is not w.AssistanceStatus.NONE
            kept = tuple(a for a in p.assistance if a[0] != event.effective_from)
            p = p.model_copy(update={"assistance": (*kept, (event.effective_from, recipient))})
        case _:
            pass
    return p


def decisions(b: Benefit | None, event: Message, env: Env) -> tuple[Benefit | None, Effects]:
    """What an enrollment event decides: a job started after the separation a spell rests on
    stops it (re-employment, `Spell.ended_by_job_from`); a death stops it. By the events' days
    only, so an event read again after a rebuild decides what it decided before."""
    spell = b.spell if b is not None else None
    if b is None or spell is None:
        return b, Effects()
    match event:
        case ce.EmploymentStarted() if spell.ended_by_job_from(event.start_date):
            return stop(b, event.start_date, u.StopCause.REEMPLOYED, env)
        case ce.PersonDeceased() if spell.active:
            # no spell is granted once the death is followed (`registration.register`), and
            # the death is followed with this decision: read again, it finds what it stopped
            return stop(b, event.on, u.StopCause.DECEASED, env)
        case _:
            return b, Effects()
