"""When a benefit stops, and the directory that the payment runs reach."""

from __future__ import annotations

from datetime import date

from shebao_common.domain import Effects
from shebao_contracts import unemployment as u

from .env import Env
from .model import Person, shard_of


def stop(p: Person, on: date, cause: u.StopCause, env: Env) -> tuple[Person, Effects]:
    """Stop the active spell on `on`: its months left are kept for a later spell."""
    spell = p.spell
    assert spell is not None and spell.active
    left = spell.months_left
    p = p.model_copy(
        update={
            "spell": spell.model_copy(update={"stopped_on": on, "cause": cause}),
            "carried": p.carried + left,
        }
    )
    fx = Effects().emit(
        u.EVENTS,
        p.ref,
        u.BenefitStopped(person=p.ref, region=spell.region, on=on, cause=cause, months_left=left),
    )
    return p, fx


def directory(region: str, person: str, active: bool, env: Env) -> Effects:
    shard = shard_of(person, env.shards)
    return Effects().emit(
        u.WORK,
        f"{region}:{shard}",
        u.DirectorySet(region=region, shard=shard, person=person, active=active),
    )
