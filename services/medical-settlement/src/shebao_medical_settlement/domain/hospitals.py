"""Designated hospitals: registered (or registered again, with new terms) by the insurance
bureau, and every one of them asked for its statement when a month is closed.

The hospitals known are a counter set (`model.HOSPITALS`, one field per hospital code), not one
index value: registrations are keyed by hospital, on several partitions, and a service whose
state is partitioned by them has no single place where a list could be written; counters add up
from every partition (and a rebuild that folds the registrations in any order finds the same)."""

from __future__ import annotations

from shebao_common.domain import Counters, Effects
from shebao_contracts import medical as m

from .model import HOSPITALS, Hospital, HospitalIndex


def register(h: m.RegisterHospital, known: Hospital | None) -> tuple[Hospital, Effects]:
    """The hospital as registered, and, the first time, its count among the hospitals known."""
    hospital = Hospital(
        code=h.hospital,
        name=h.name,
        level=h.level,
        region=h.region,
        designated_from=h.designated_from,
        designated_to=h.designated_to,
    )
    fx = Effects()
    if known is None:
        fx.count(HOSPITALS.key("all"), h.hospital)
    return hospital, fx


def codes(known: Counters | None, before: HospitalIndex | None = None) -> list[str]:
    """Every hospital registered: the counter set's, and those of the index a release before it
    kept (`before`, read until a rebuild has folded them into the counters)."""
    counted = {c for c, n in (known.values if known else {}).items() if n > 0}
    return sorted(counted | set(before.codes if before else ()))


def close_month(c: m.CloseMonth, hospitals: list[str]) -> Effects:
    """A statement due for every registered hospital."""
    fx = Effects()
    for code in hospitals:
        fx.emit(m.EVENTS, code, m.StatementDue(hospital=code, month=c.month))
    return fx
