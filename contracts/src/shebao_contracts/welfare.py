"""Welfare (social assistance): minimum living allowance (低保), extreme-poverty support (特困),
temporary assistance.

So far this module defines what other services need from welfare: the recipient-status event,
which medical settlement reads to grant medical assistance. The welfare service itself, its
commands, the rest of its events and its `CONTRACT` come with its own issue: a contract without a
package would publish an AsyncAPI document for a service that does not run. Until then the topic
is published and guarded as part of medical settlement's contract, which consumes it.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any, ClassVar

from .envelope import Message
from .topics import Topic
from .types import PersonRef, RegionCode

SERVICE = "welfare"


class AssistanceStatus(StrEnum):
    MINIMUM_LIVING_ALLOWANCE = "minimum_living_allowance"  # 低保
    EXTREME_POVERTY = "extreme_poverty"  # 特困供养
    NONE = "none"


class RecipientStatusChanged(Message):
    """A person's assistance status from a date: became a 低保 or 特困 recipient, or no longer is
    (status `none`). Medical settlement grants medical assistance by the status on the service
    date."""

    TYPE = "shebao.welfare.RecipientStatusChanged"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f",
        "status": "minimum_living_allowance",
        "region": "321300",
        "effective_from": "2024-07-01",
    }
    person: PersonRef
    status: AssistanceStatus
    region: RegionCode
    effective_from: date


EVENTS = Topic(
    "shebao.welfare.events.v1",
    owner=SERVICE,
    key="person reference",
    messages=(RecipientStatusChanged,),
    description="Assistance decisions about persons.",
)
