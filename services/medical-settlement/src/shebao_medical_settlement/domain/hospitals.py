"""Designated hospitals: registered (or registered again, with new terms) by the insurance
bureau, and every one of them asked for its statement when a month is closed."""

from __future__ import annotations

from shebao_common.domain import Effects
from shebao_contracts import medical as m

from .model import Hospital, HospitalIndex


def register(
    h: m.RegisterHospital, index: HospitalIndex | None
) -> tuple[Hospital, HospitalIndex | None]:
    """The hospital as registered, and the index of hospitals with it (None: already in it).

    The index is kept sorted, not in the order of registration: registrations are published
    keyed by hospital, on several partitions, and a rebuild that folds them must find the same
    index whatever order it reads them in."""
    hospital = Hospital(
        code=h.hospital,
        name=h.name,
        level=h.level,
        region=h.region,
        designated_from=h.designated_from,
        designated_to=h.designated_to,
    )
    codes = (index or HospitalIndex()).codes
    if h.hospital in codes:
        return hospital, None
    return hospital, HospitalIndex(codes=tuple(sorted((*codes, h.hospital))))


def close_month(c: m.CloseMonth, index: HospitalIndex | None) -> Effects:
    """A statement due for every registered hospital."""
    fx = Effects()
    for code in (index or HospitalIndex()).codes:
        fx.emit(m.EVENTS, code, m.StatementDue(hospital=code, month=c.month))
    return fx
