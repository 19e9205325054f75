"""The coverage projection: enrollment, welfare, contributions and unemployment-subsidies events
folded into Coverage.

Period ends are inclusive: a membership suspended or ended on a day still covers that day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from shebao_contracts import contributions as k
from shebao_contracts import enrollment as e
from shebao_contracts import unemployment as u
from shebao_contracts.welfare import RecipientStatusChanged

from .model import Coverage, Period, StatusPeriod

MEDICAL = frozenset({e.Scheme.EMPLOYEE_MEDICAL, e.Scheme.RESIDENT_MEDICAL})


def _close(cov: Coverage, scheme: e.Scheme, region: str, on: date) -> tuple[Period, ...]:
    """Periods with the scheme's open period ended on `on` (the day itself still covered)."""
    out = []
    for p in cov.periods:
        if p.scheme == scheme and p.region == region and p.end is None:
            p = p.model_copy(update={"end": max(on, p.start)})
        out.append(p)
    return tuple(out)


def started(cov: Coverage, ev: e.MembershipStarted) -> Coverage:
    periods = _close(cov, ev.scheme, ev.region, ev.since - timedelta(days=1))
    new = Period(scheme=ev.scheme, region=ev.region, active=ev.active, start=ev.since)
    return cov.model_copy(update={"periods": (*periods, new)})


def suspended(cov: Coverage, ev: e.MembershipSuspended) -> Coverage:
    periods = _close(cov, ev.scheme, ev.region, ev.on)
    new = Period(scheme=ev.scheme, region=ev.region, active=False, start=ev.on + timedelta(days=1))
    return cov.model_copy(update={"periods": (*periods, new)})


def resumed(cov: Coverage, ev: e.MembershipResumed) -> Coverage:
    periods = _close(cov, ev.scheme, ev.region, ev.on - timedelta(days=1))
    new = Period(scheme=ev.scheme, region=ev.region, active=True, start=ev.on)
    return cov.model_copy(update={"periods": (*periods, new)})


def ended(cov: Coverage, ev: e.MembershipEnded) -> Coverage:
    return cov.model_copy(update={"periods": _close(cov, ev.scheme, ev.region, ev.on)})


def deceased(cov: Coverage, ev: e.PersonDeceased) -> Coverage:
    periods = tuple(
        p.model_copy(update={"end": max(ev.on, p.start)}) if p.end is None else p
        for p in cov.periods
    )
    return cov.model_copy(update={"periods": periods, "deceased_on": ev.on})


def assistance(cov: Coverage, ev: RecipientStatusChanged) -> Coverage:
    kept = tuple(s for s in cov.assistance if s.start != ev.effective_from)
    new = StatusPeriod(status=ev.status, start=ev.effective_from)
    return cov.model_copy(update={"assistance": (*kept, new)})


def interrupted(cov: Coverage, ev: k.InterruptionOpened) -> Coverage:
    """Contributions stopped (断保): claims are refused once the grace period is over."""
    since = date(int(ev.since[:4]), int(ev.since[5:7]), 1)
    return cov.model_copy(update={"arrears_since": since})


def resumed_paying(cov: Coverage, ev: k.InterruptionClosed) -> Coverage:
    return cov.model_copy(update={"arrears_since": None})


def benefit_granted(cov: Coverage, ev: u.BenefitGranted) -> Coverage:
    """On unemployment benefit from the first day of its first month: employee medical, paid
    by the fund."""
    start = date(int(ev.first_month[:4]), int(ev.first_month[5:7]), 1)
    spell = Period(scheme=e.Scheme.EMPLOYEE_MEDICAL, region=ev.region, active=True, start=start)
    kept = tuple(p for p in cov.benefit if p.end is not None)
    return cov.model_copy(update={"benefit": (*kept, spell)})


def benefit_stopped(cov: Coverage, ev: u.BenefitStopped) -> Coverage:
    spells = tuple(
        p.model_copy(update={"end": max(ev.on, p.start)}) if p.end is None else p
        for p in cov.benefit
    )
    return cov.model_copy(update={"benefit": spells})


Event = (
    e.MembershipStarted
    | e.MembershipSuspended
    | e.MembershipResumed
    | e.MembershipEnded
    | e.PersonDeceased
    | k.InterruptionOpened
    | k.InterruptionClosed
    | RecipientStatusChanged
    | u.BenefitGranted
    | u.BenefitStopped
)
"""An event that changes a person's coverage."""

_FOLDS: dict[type[Event], Callable[[Coverage, Any], Coverage]] = {
    e.MembershipStarted: started,
    e.MembershipSuspended: suspended,
    e.MembershipResumed: resumed,
    e.MembershipEnded: ended,
    e.PersonDeceased: deceased,
    k.InterruptionOpened: interrupted,
    k.InterruptionClosed: resumed_paying,
    RecipientStatusChanged: assistance,
    u.BenefitGranted: benefit_granted,
    u.BenefitStopped: benefit_stopped,
}
EVENTS: tuple[type[Event], ...] = tuple(_FOLDS)
_MEMBERSHIP = (e.MembershipStarted, e.MembershipSuspended, e.MembershipResumed, e.MembershipEnded)


def project(cov: Coverage | None, ev: Event) -> Coverage | None:
    """The person's coverage with the event folded in; None when the event is no concern of
    medical coverage (a membership of another scheme: it counts only for the medical ones)."""
    if isinstance(ev, _MEMBERSHIP) and ev.scheme not in MEDICAL:
        return None
    return _FOLDS[type(ev)](cov or Coverage(), ev)
