"""What rules may consult besides state and message."""

from __future__ import annotations

from dataclasses import dataclass

from shebao_common.pseudonym import CitizenIds

from .params import Params


@dataclass(frozen=True)
class Env:
    """The policy parameters, and the citizen-ID functions: a person's pseudonym, and the seal
    that lets contributions name a person to the tax bureau."""

    params: Params
    ids: CitizenIds
