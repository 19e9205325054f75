"""What the service follows: enrollment's persons and employments, the credited contributions."""

from __future__ import annotations

from shebao_common.domain import Effects
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import welfare as w
from shebao_contracts.envelope import Message
from shebao_contracts.unemployment import StopCause

from .env import Env
from .model import Person, Separated
from .stops import stop


def follow(p: Person | None, event: Message, env: Env) -> tuple[Person, Effects]:
    ref: str = getattr(event, "person")  # noqa: B009 - every event followed names one
    p = p or Person(ref=ref)
    fx = Effects()
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
            p = p.model_copy(update={"jobs": {**p.jobs, event.employer: event.start_date}})
            if p.receiving:
                p, fx = stop(p, event.start_date, StopCause.REEMPLOYED, env)
        case ce.EmploymentEnded():
            jobs = {k: v for k, v in p.jobs.items() if k != event.employer}
            ended = Separated(
                employer=event.employer,
                region=event.region,
                on=event.end_date,
                separation=event.separation,
            )
            p = p.model_copy(update={"jobs": jobs, "separated": ended})
        case ce.PersonDeceased():
            p = p.model_copy(update={"deceased_on": event.on})
            if p.receiving:
                p, fx = stop(p, event.on, StopCause.DECEASED, env)
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
    return p, fx
