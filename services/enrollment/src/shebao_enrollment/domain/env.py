"""What rules may consult besides state and message."""

from __future__ import annotations

from dataclasses import dataclass

from shebao_common.pseudonym import CitizenIds, PersonSeal

from .params import Params

NAME_SEAL = "enrollment name"
"""The purpose a person's name is sealed for on PersonRegistered (`PersonSeal`)."""


def name_seal(citizen_id_secret: bytes) -> PersonSeal:
    """The seal of names on enrollment's events, from the citizen ID sealing secret."""
    return PersonSeal(citizen_id_secret, NAME_SEAL)


@dataclass(frozen=True)
class Env:
    """The policy parameters, and the citizen-ID functions: a person's pseudonym, and the seal
    that lets contributions name a person to the tax bureau; and `names`, the seal of a
    person's name that only enrollment opens (when it rebuilds its state from its events)."""

    params: Params
    ids: CitizenIds
    names: PersonSeal
