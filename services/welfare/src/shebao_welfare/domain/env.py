"""What the rules may consult besides state and message."""

from __future__ import annotations

from dataclasses import dataclass

from shebao_common.pseudonym import Pseudonymizer

from .model import DIRECTORY_SHARDS
from .params import Params


@dataclass(frozen=True)
class Env:
    params: Params
    refs: Pseudonymizer
    """An office names people by citizen ID: a person's reference is its pseudonym."""
    shards: int = DIRECTORY_SHARDS
