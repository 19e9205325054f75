"""Adjudication: a pure function of (coverage, the year's totals, hospital, claim, parameters).

Order of the rules, each parameter read for the insured's pooling region (coverage on the
service date, the amounts on the day the claim counts):
1. coverage on the service date (admission or visit): the patient not recorded as deceased
   before it, an active medical membership, not suspended, contributions not in arrears beyond
   the grace period (the first unpaid month is covered, and the grace is the months after it:
   with 3, unpaid since October covers stays admitted to the end of January);
2. items outside the policy scope are the patient's; class-B drugs carry a self-pay share;
   what remains is eligible (in scope);
3. inpatient: the deductible per admission by hospital level, then the scheme's ratio by level,
   capped by what is left of the yearly fund limit; the in-scope out-of-pocket (deductible,
   co-insurance, anything above the cap) accumulates over the year, and the part of the yearly
   total above the serious-illness threshold is reimbursed again at its ratio; for 低保 / 特困
   persons the threshold is lowered and the ratio raised, and medical assistance pays its ratio
   of what still remains, up to its yearly limit;
4. outpatient: pooling at the scheme's ratio up to its small yearly limit, at the allowed levels;
   for 低保 / 特困 persons medical assistance then pays its ratio of what remains in scope, up to
   its yearly limit (DOMAIN.md: assistance pays part of what remains, whatever the visit).
A claim counts on its last day, the discharge (or the visit): a stay that spans New Year counts
in the year of discharge, against that year's totals (caps, deductibles, thresholds) and with
the amounts' parameters in force on the day of discharge.
Every amount is rounded to the fen (half up) where a ratio is applied; the patient pays the
rest, so fund + serious illness + assistance + patient = submitted exactly. A settled claim
says why the fund paid nothing, or less than its ratio gives (AdjudicationReason): nothing in
scope, below the deductible, no outpatient pooling at the level, a yearly limit reached.

Results are built with `trusted` (shebao_contracts.trusted): every value is a Decimal this module
computed from validated input, and validating them again cost more than the rules themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shebao_common.domain import Refused
from shebao_contracts.medical import (
    AdjudicationReason,
    Amounts,
    ClaimLine,
    ClaimReceived,
    ClaimRejection,
    ItemCategory,
    VisitType,
)
from shebao_contracts.trusted import trusted
from shebao_contracts.types import money
from shebao_contracts.welfare import AssistanceStatus

from .model import ZERO, Coverage, Hospital, YearTotals
from .params import Params

R = ClaimRejection
Z = AdjudicationReason


@dataclass(frozen=True)
class Settled:
    amounts: Amounts
    delta: YearTotals
    """What this claim added to the year's totals (a cancellation subtracts exactly this)."""
    scheme: str
    region: str
    reasons: tuple[AdjudicationReason, ...] = ()
    """Why the fund paid nothing, or less than its ratio gives; empty when it paid in full."""


def counts_on(claim: ClaimReceived) -> date:
    """The day a claim counts on: the discharge (inpatient) or the visit."""
    return claim.discharge_date or claim.admission_date


def claim_year(claim: ClaimReceived) -> int:
    """The calendar year a claim counts in: that of discharge (inpatient) or of the visit."""
    return counts_on(claim).year


def months_after(first: date, day: date) -> int:
    return (day.year - first.year) * 12 + day.month - first.month


def _sum(lines: list[ClaimLine], category: ItemCategory) -> Decimal:
    return sum((line.amount for line in lines if line.category == category), ZERO)


def _positive(x: Decimal) -> Decimal:
    return x if x > 0 else ZERO


def adjudicate(
    claim: ClaimReceived,
    coverage: Coverage,
    totals: YearTotals,
    hospital: Hospital,
    params: Params,
) -> Settled:
    """What the claim is paid, or `Refused` when the patient was not covered on its first day."""
    day = claim.admission_date
    if coverage.deceased_on is not None and day > coverage.deceased_on:
        raise Refused(
            R.PERSON_DECEASED, f"the patient is recorded as deceased on {coverage.deceased_on}"
        )
    period = coverage.on(day)
    if period is None:
        raise Refused(R.NOT_INSURED_ON_SERVICE_DATE, f"no medical membership on {day}")
    if not period.active:
        raise Refused(R.MEMBERSHIP_SUSPENDED, f"{period.scheme.value} suspended on {day}")
    region, scheme = period.region, period.scheme
    on = counts_on(claim)  # the amounts' parameters are those of the year the claim counts in
    if coverage.arrears_since is not None:
        grace = params.arrears_grace_months(region, day)
        # the first unpaid month was not late yet: the grace counts the months after it
        late = months_after(coverage.arrears_since, day)
        if late > grace:
            raise Refused(
                R.CONTRIBUTIONS_IN_ARREARS,
                f"contributions unpaid since {coverage.arrears_since:%Y-%m}: a stay admitted in "
                f"{day:%Y-%m} is past the grace of {grace} months after it",
            )

    submitted = claim.total
    outside = _sum(claim.lines, ItemCategory.OUTSIDE_SCOPE)
    class_b = _sum(claim.lines, ItemCategory.CLASS_B_DRUG)
    b_ratio = params.class_b_self_pay_ratio(region, on)
    b_self_pay = money(class_b * b_ratio)
    eligible = submitted - outside - b_self_pay
    cap = money(params.yearly_fund_cap(scheme, region, on))
    fund_left = _positive(cap - totals.fund)
    level = hospital.level

    if claim.visit_type == VisitType.OUTPATIENT:
        pool = params.outpatient_pooling(scheme, region, on)
        fund = ZERO
        reasons: tuple[AdjudicationReason, ...] = ()
        if not eligible:
            reasons = (Z.ALL_OUTSIDE_SCOPE,)
        elif level not in pool.levels:
            reasons = (Z.OUTPATIENT_POOLING_NOT_APPLICABLE,)
        else:
            pool_left = _positive(pool.yearly_cap - totals.outpatient_pool)
            share = money(eligible * pool.ratio)
            fund = min(share, pool_left, fund_left)
            limits = ((pool_left, Z.OUTPATIENT_POOL_EXHAUSTED), (fund_left, Z.ANNUAL_CAP_REACHED))
            reasons = _cut_by(share, limits)
        # medical assistance pays its ratio of what remains in scope, as after a stay
        assistance = ZERO
        status = coverage.assistance_on(day)
        if status != AssistanceStatus.NONE:
            outpatient_help = params.assistance(status, region, on)
            left = _positive(outpatient_help.yearly_cap - totals.assistance)
            assistance = min(money((eligible - fund) * outpatient_help.ratio), left)
        amounts = trusted(
            Amounts,
            submitted=submitted,
            outside_scope=outside,
            class_b_self_pay=b_self_pay,
            eligible=eligible,
            deductible=ZERO,
            fund_payment=fund,
            serious_illness_payment=ZERO,
            medical_assistance_payment=assistance,
            patient_payable=submitted - fund - assistance,
        )
        delta = trusted(
            YearTotals,
            fund=fund,
            in_scope_out_of_pocket=ZERO,
            serious_illness=ZERO,
            assistance=assistance,
            outpatient_pool=fund,
        )
        return Settled(amounts, delta, scheme.value, region, reasons)

    deductible = min(eligible, money(params.inpatient_deductible(scheme, level, region, on)))
    ratio = params.inpatient_ratio(scheme, level, region, on)
    share = money((eligible - deductible) * ratio)
    fund = min(share, fund_left)
    if not eligible:
        reasons = (Z.ALL_OUTSIDE_SCOPE,)
    elif eligible == deductible:
        reasons = (Z.BELOW_DEDUCTIBLE,)
    else:
        reasons = _cut_by(share, ((fund_left, Z.ANNUAL_CAP_REACHED),))
    out_of_pocket = eligible - fund  # in scope: deductible, co-insurance, above the cap

    status = coverage.assistance_on(day)
    serious_p = params.serious_illness(scheme, region, on)
    threshold = serious_p.threshold
    serious_ratio = serious_p.ratio
    assist_p = None
    if status != AssistanceStatus.NONE:
        assist_p = params.assistance(status, region, on)
        threshold = money(threshold * assist_p.serious_threshold_factor)
        serious_ratio += assist_p.serious_ratio_bonus
    before = totals.in_scope_out_of_pocket
    above = _positive(before + out_of_pocket - threshold) - _positive(before - threshold)
    serious = min(money(above * serious_ratio), out_of_pocket)

    assistance = ZERO
    if assist_p is not None:
        left = _positive(assist_p.yearly_cap - totals.assistance)
        assistance = min(money((out_of_pocket - serious) * assist_p.ratio), left)

    amounts = trusted(
        Amounts,
        submitted=submitted,
        outside_scope=outside,
        class_b_self_pay=b_self_pay,
        eligible=eligible,
        deductible=deductible,
        fund_payment=fund,
        serious_illness_payment=serious,
        medical_assistance_payment=assistance,
        patient_payable=submitted - fund - serious - assistance,
    )
    delta = trusted(
        YearTotals,
        fund=fund,
        in_scope_out_of_pocket=out_of_pocket,
        serious_illness=serious,
        assistance=assistance,
        outpatient_pool=ZERO,
    )
    return Settled(amounts, delta, scheme.value, region, reasons)


def _cut_by(
    share: Decimal, limits: tuple[tuple[Decimal, AdjudicationReason], ...]
) -> tuple[AdjudicationReason, ...]:
    """The yearly limits, in the order they apply, that cut the fund's share of a claim."""
    out = []
    for left, reason in limits:
        if left < share:
            out.append(reason)
            share = left
    return tuple(out)


def add(totals: YearTotals, delta: YearTotals, sign: int = 1) -> YearTotals:
    """The year's totals with a claim's delta added (sign 1) or reversed (sign -1)."""
    return trusted(
        YearTotals,
        fund=totals.fund + sign * delta.fund,
        in_scope_out_of_pocket=totals.in_scope_out_of_pocket + sign * delta.in_scope_out_of_pocket,
        serious_illness=totals.serious_illness + sign * delta.serious_illness,
        assistance=totals.assistance + sign * delta.assistance,
        outpatient_pool=totals.outpatient_pool + sign * delta.outpatient_pool,
    )
