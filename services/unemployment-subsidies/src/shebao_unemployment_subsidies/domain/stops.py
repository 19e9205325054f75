"""When a benefit stops, and the directory that the payment runs reach."""

from __future__ import annotations

from datetime import date

from shebao_common.domain import Effects
from shebao_contracts import unemployment as u

from .env import Env
from .model import Benefit, shard_of


def stop(b: Benefit, on: date, cause: u.StopCause, env: Env) -> tuple[Benefit, Effects]:
    """Stop the active spell on `on`: its months left are kept for a later spell."""
    spell = b.spell
    assert spell is not None and spell.active
    ev = u.BenefitStopped(
        person=b.ref, region=spell.region, on=on, cause=cause, months_left=spell.months_left
    )
    return stopped(b, ev), Effects().emit(u.EVENTS, b.ref, ev)


def stopped(b: Benefit, ev: u.BenefitStopped) -> Benefit:
    """The benefit after the stop `ev` (live, and folding the events topic in a rebuild).

    The months kept are the spell's months left as this state has them, not as the event says:
    a stop and a payment decided concurrently (a re-employment read while the month's run pays)
    may be published in either order, and both orders give the same state (a month paid after
    the stop comes out of the months kept, `payments.paid`)."""
    spell = b.spell
    assert spell is not None, f"the log stops a benefit of {b.ref} that it never granted"
    return b.model_copy(
        update={
            "spell": spell.model_copy(update={"stopped_on": ev.on, "cause": ev.cause}),
            "carried": b.carried + spell.months_left,
        }
    )


def directory(
    region: str, person: str, active: bool, env: Env, first_month: str | None = None
) -> Effects:
    shard = shard_of(person, env.shards)
    return Effects().emit(
        u.WORK,
        f"{region}:{shard}",
        u.DirectorySet(
            region=region, shard=shard, person=person, active=active, first_month=first_month
        ),
    )
