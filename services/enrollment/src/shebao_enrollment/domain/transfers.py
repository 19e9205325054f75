"""Transfers: memberships leave a region (transfer-out) and arrive in another (transfer-in), within
the province under one transfer id, or from outside it."""

from __future__ import annotations

from shebao_common.domain import Effects, Refused
from shebao_contracts import enrollment as c

from .change import PersonChange
from .model import MEDICAL_SCHEMES, PENSION_SCHEMES, Membership, Person
from .persons import alive

R = c.Rejection
PROVINCE_PREFIX = "32"  # Jiangsu's division codes: a transfer from elsewhere comes from outside


_TRANSFERABLE = {
    c.Insurance.PENSION: PENSION_SCHEMES,
    c.Insurance.MEDICAL: MEDICAL_SCHEMES,
    c.Insurance.UNEMPLOYMENT: frozenset({c.Scheme.UNEMPLOYMENT}),
}


def transfer_out(person: Person | None, cmd: c.TransferOut) -> tuple[Person, Effects]:
    p = alive(person)
    if cmd.transfer_id in p.transfer_ids:
        raise Refused(R.TRANSFER_ID_IN_USE, f"transfer {cmd.transfer_id} exists")
    wanted: set[c.Scheme] = set()
    for ins in cmd.insurances:
        wanted |= _TRANSFERABLE.get(ins, frozenset())
    moving = [m for m in p.memberships if m.scheme in wanted]
    if not moving:
        raise Refused(R.NOTHING_TO_TRANSFER, "no membership of those insurances")
    from_regions = {m.region for m in moving}
    if from_regions == {cmd.to_region}:
        raise Refused(R.SAME_REGION, f"already in {cmd.to_region}")
    moving = [m for m in moving if m.region != cmd.to_region]
    job = p.employment
    if job is not None and any(m.basis == c.Basis.EMPLOYMENT and m.active for m in moving):
        raise Refused(R.STILL_EMPLOYED_IN_REGION, f"still employed in {job.region}")
    from_region = moving[0].region
    tx = PersonChange(p)
    for m in moving:  # each leaves with the transfer: PersonTransferredOut keeps them pending
        tx.end(m, cmd.date, c.StopReason.TRANSFERRED_OUT, cmd.transfer_id)
    tx.emit(
        c.PersonTransferredOut(
            person=p.ref,
            transfer_id=cmd.transfer_id,
            from_region=from_region,
            to_region=cmd.to_region,
            on=cmd.date,
            schemes=tuple(m.scheme for m in moving),
        )
    )
    return tx.done()


def transfer_in(person: Person | None, cmd: c.TransferIn) -> tuple[Person, Effects]:
    p = alive(person)
    pending = next((t for t in p.pending_transfers if t.transfer_id == cmd.transfer_id), None)
    if pending is not None:
        if pending.to_region != cmd.region or pending.from_region != cmd.from_region:
            raise Refused(
                R.UNKNOWN_TRANSFER,
                f"{cmd.transfer_id} goes from {pending.from_region} to {pending.to_region}",
            )
        arriving = [
            m.model_copy(
                update={
                    "region": cmd.region,
                    "since": cmd.date,
                    # an employee relationship waits for an employer in the new region
                    "active": m.basis != c.Basis.EMPLOYMENT,
                    "employer": None if m.basis == c.Basis.EMPLOYMENT else m.employer,
                }
            )
            for m in pending.memberships
        ]
        within = True
    else:
        if cmd.from_region.startswith(PROVINCE_PREFIX) or cmd.transfer_id in p.transfer_ids:
            raise Refused(R.UNKNOWN_TRANSFER, f"no transfer-out {cmd.transfer_id} is pending")
        schemes = {
            c.Insurance.PENSION: c.Scheme.EMPLOYEE_PENSION,
            c.Insurance.MEDICAL: c.Scheme.EMPLOYEE_MEDICAL,
            c.Insurance.UNEMPLOYMENT: c.Scheme.UNEMPLOYMENT,
        }
        arriving = [
            Membership(
                scheme=schemes[i],
                region=cmd.region,
                active=False,
                since=cmd.date,
                first_enrolled=cmd.date,
                basis=c.Basis.EMPLOYMENT,
            )
            for i in cmd.insurances
            if i in schemes
        ]
        if not arriving:
            raise Refused(R.NOTHING_TO_TRANSFER, "only pension, medical and unemployment move")
        within = False
    for m in arriving:
        held = p.membership(m.scheme)
        if held is not None:
            raise Refused(R.TRANSFER_REQUIRED, f"{m.scheme.value} is already held in {held.region}")
        group = PENSION_SCHEMES if m.scheme in PENSION_SCHEMES else MEDICAL_SCHEMES
        if m.active and p.active_in(group) is not None:
            reason = (
                R.ALREADY_IN_PENSION_SCHEME
                if group is PENSION_SCHEMES
                else R.ALREADY_IN_MEDICAL_SCHEME
            )
            raise Refused(reason, f"{m.scheme.value} arrives while another is active")
    tx = PersonChange(p)
    for m in arriving:
        tx.start(m, transfer_id=cmd.transfer_id)
    tx.emit(  # the transfer is no longer pending; one from outside keeps its id
        c.PersonTransferredIn(
            person=p.ref,
            transfer_id=cmd.transfer_id,
            from_region=cmd.from_region,
            to_region=cmd.region,
            on=cmd.date,
            schemes=tuple(m.scheme for m in arriving),
            within_province=within,
        )
    )
    return tx.done()
