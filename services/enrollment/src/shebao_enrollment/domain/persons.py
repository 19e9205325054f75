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
    person = Person(
        ref=ref,
        citizen_id=cmd.citizen_id,
        name=cmd.name,
        birth_date=citizen_id_birth_date(cmd.citizen_id),
        sex=sex_of(cmd.citizen_id),
        hukou_region=cmd.hukou_region,
        residence=cmd.residence,
        registered_on=cmd.registered_on,
    )
    tx = PersonChange(person)
    tx.emit(
        c.PersonRegistered(
            person=ref,
            birth_date=person.birth_date,
            sex=person.sex,
            hukou_region=cmd.hukou_region,
            residence=cmd.residence,
            registered_on=cmd.registered_on,
            sealed_citizen_id=env.ids.seal(cmd.citizen_id),
        ),
        cmd.registered_on,
        "registered",
    )
    return tx.done()


def record_death(person: Person | None, cmd: c.RecordDeath) -> tuple[Person, Effects]:
    p = alive(person)
    on = cmd.date_of_death
    tx = PersonChange(p)
    for m in p.memberships:
        tx.end(m, on, c.StopReason.DECEASED)
    tx.set(deceased_on=on, employment=None)
    tx.set(card=None)
    tx.emit(c.PersonDeceased(person=p.ref, on=on), on, "deceased")
    return tx.done()
