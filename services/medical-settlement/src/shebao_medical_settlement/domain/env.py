"""What medical settlement's rules may consult besides state and message: the policy parameters,
and the pseudonymiser that turns a patient's citizen ID into the person reference the rest of
the platform knows them by."""

from __future__ import annotations

from dataclasses import dataclass

from shebao_common.pseudonym import Pseudonymizer

from .params import Params


@dataclass(frozen=True)
class Env:
    params: Params
    refs: Pseudonymizer
