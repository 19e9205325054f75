"""What rules may consult besides state and message: the policy parameters and the shard count."""

from __future__ import annotations

from dataclasses import dataclass

from shebao_common.policy import Policy

DIRECTORY_SHARDS = 16
"""Shards per region directory. Changing it moves entries between shards: a migration, not a knob.
16 keeps a shard of a region with 5,000 employers and 50,000 individual payers near 300 employers
and 3,000 payers, and a period close at 16 fan-out records."""


@dataclass(frozen=True)
class Env:
    policy: Policy
    shards: int = DIRECTORY_SHARDS
