"""What rules may consult besides state and message: the parameters (typed accessors, params.py),
the shard count, and the citizen-ID boundary with the tax bureaus (a person's reference from the
ID a bureau names, and the ID enrollment sealed for this service, to name a person to a bureau)."""

from __future__ import annotations

from dataclasses import dataclass

from shebao_common.pseudonym import CitizenIds

from .params import Params

DIRECTORY_SHARDS = 16
"""Shards per region directory. Changing it moves entries between shards: a migration, not a knob.
16 keeps a shard of a region with 5,000 employers and 50,000 individual payers near 300 employers
and 3,000 payers, and a period close at 16 fan-out records."""


@dataclass(frozen=True)
class Env:
    params: Params
    ids: CitizenIds
    shards: int = DIRECTORY_SHARDS
