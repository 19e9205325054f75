"""Persons: registration from the citizen ID, and death; the checks every person's command makes."""

from __future__ import annotations

from datetime import date

from shebao_common.domain import Effects, Refused
from shebao_contracts import enrollment as c
from shebao_contracts.types import citizen_id_birth_date

from .change import PersonChange
from .env import Env
from .model import Person

R = c.Rejection


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def sex_of(citizen_id: str) -> c.Sex:
    return c.Sex.MALE if int(citizen_id[16]) % 2 else c.Sex.FEMALE


def alive(person: Person | None) -> Person:
    """The person a command names: registered, and not recorded as deceased."""
    if person is None:
        raise Refused(R.PERSON_NOT_REGISTERED, "register the person first")
    if person.deceased_on is not None:
        raise Refused(R.PERSON_DECEASED, f"deceased on {person.deceased_on}")
    return person


def register_person(
    existing: Person | None, cmd: c.RegisterPerson, env: Env
) -> tuple[Person, Effects]:
    if existing is not None:
        raise Refused(R.PERSON_ALREADY_REGISTERED, "this citizen ID is registered")
    ref = env.ids.person_ref(cmd.citizen_id)
    event = c.PersonRegistered(
        person=ref,
        birth_date=citizen_id_birth_date(cmd.citizen_id),
        sex=sex_of(cmd.citizen_id),
        hukou_region=cmd.hukou_region,
        residence=cmd.residence,
        registered_on=cmd.registered_on,
        sealed_citizen_id=env.ids.seal(cmd.citizen_id),
        sealed_name=env.names.seal(cmd.name, ref),
    )
    tx = PersonChange(registered(event, cmd.citizen_id, cmd.name))
    tx.emit(event)
    return tx.done()


def registered(ev: c.PersonRegistered, citizen_id: str, name: str) -> Person:
    """The person a registration creates (its history empty, its event not applied yet): the
    citizen ID and name are the command's when deciding, the seals' when rebuilding."""
    return Person(
        ref=ev.person,
        citizen_id=citizen_id,
        name=name,
        birth_date=ev.birth_date,
        sex=ev.sex,
        hukou_region=ev.hukou_region,
        residence=ev.residence,
        registered_on=ev.registered_on,
    )


def reopened(ev: c.PersonRegistered, env: Env) -> Person:
    """The person a published registration created, its citizen ID and name opened from their
    seals (a rebuild: only enrollment holds the keys)."""
    if ev.sealed_name is None:
        raise ValueError(
            f"PersonRegistered of {ev.person} carries no sealed name (published before names "
            "were sealed on it): enrollment's state cannot be rebuilt from this log"
        )
    citizen_id = env.ids.open(ev.sealed_citizen_id, ev.person)
    return registered(ev, citizen_id, env.names.open(ev.sealed_name, ev.person))


def record_death(person: Person | None, cmd: c.RecordDeath) -> tuple[Person, Effects]:
    p = alive(person)
    on = cmd.date_of_death
    tx = PersonChange(p)
    for m in p.memberships:
        tx.end(m, on, c.StopReason.DECEASED)
    tx.emit(c.PersonDeceased(person=p.ref, on=on))
    return tx.done()
