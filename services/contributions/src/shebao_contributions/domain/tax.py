"""What a tax bureau reads: the same assessments and answers, with each person named by citizen ID.

A bureau knows people by citizen ID and cannot resolve the platform's person reference, so the
records to its topic are the events' partner form. The ID comes from the bureau's own report
(an answer to it) or is opened from the value enrollment sealed for this service (an
assessment). Nothing here reaches an internal topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from shebao_common.pseudonym import CitizenIds
from shebao_contracts import contributions as cc
from shebao_contracts.trusted import trusted

from .model import PersonFile, PersonLine


class NoCitizenId(ValueError):
    """A person must be named to a bureau, and this service holds no sealed ID for the person:
    its PersonRegistered event carried none. A defect of the data, not of the bureau's record."""


def _open(ids: CitizenIds, ref: str, sealed: str | None) -> str:
    if sealed is None:
        raise NoCitizenId(f"person {ref} has no sealed citizen ID: cannot be named to a bureau")
    return ids.open(sealed, ref)


def named(p: PersonFile, ids: CitizenIds) -> str:
    """The citizen ID of a person who pays alone."""
    return _open(ids, p.ref, p.sealed_id)


def assessment(
    summary: cc.AssessmentIssued,
    ids: CitizenIds,
    *,
    citizen_id: str | None = None,
    lines: Sequence[PersonLine] = (),
    part: int = 1,
    parts: int = 1,
) -> cc.TaxAssessmentIssued:
    # trusted: every value here was computed and checked by this service (see employers)
    fields = summary.__dict__.copy()
    fields.pop("person", None)
    fields.pop("insurances", None)  # the events' breakdown of a person's own; not the bureau's
    fields["citizen_id"] = citizen_id
    fields["persons"] = [
        trusted(
            cc.TaxPersonAssessment,
            citizen_id=_open(ids, ln.person, ln.sealed_id),
            base=ln.base,
            employer_part=ln.employer_part,
            employee_part=ln.employee_part,
        )
        for ln in lines
    ]
    fields["part"] = part
    fields["parts"] = parts
    return trusted(cc.TaxAssessmentIssued, **fields)


def booking(booked: cc.PaymentBooked, citizen_id: str | None) -> cc.TaxPaymentBooked:
    """The answer to a report that was booked; `citizen_id` as the report named the person."""
    fields = booked.model_dump(exclude={"person"})
    return cc.TaxPaymentBooked(**fields, citizen_id=citizen_id)


def rejection(refused: cc.CollectionRejected, citizen_id: str | None) -> cc.TaxCollectionRejected:
    """The answer to a report that was refused; `citizen_id` as the report named the person."""
    fields = refused.model_dump(exclude={"person"})
    return cc.TaxCollectionRejected(**fields, citizen_id=citizen_id)
