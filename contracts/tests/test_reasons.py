"""The refusal catalogue: every reason the code can send is described and placed on a topic."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ValidationError

from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts import medical as md
from shebao_contracts import reasons
from shebao_contracts.limits import RecordRefusal
from shebao_contracts.types import (
    CitizenId,
    Money,
    NoControlCharacters,
    NonNegativeMoney,
    NotACitizenId,
    PositiveMoney,
    ValueRefusal,
)


def test_every_reason_of_every_enum_is_described() -> None:
    assert reasons.undescribed(reasons.REASON_ENUMS) == []


def test_every_service_reason_can_come_back_on_some_topic() -> None:
    placed = {str(m) for ms in reasons.TOPIC_REFUSALS.values() for m in ms}
    services = [e for e in reasons.REASON_ENUMS if e not in (RecordRefusal, ValueRefusal)]
    assert [str(m) for e in services for m in e if str(m) not in placed] == []


def test_one_code_one_meaning() -> None:
    codes = [str(m) for e in reasons.REASON_ENUMS for m in e]
    shared = {c for c in codes if codes.count(c) > 1}
    # Two services' word for the same fact (enrollment's, and that of contributions, medical
    # settlement or unemployment subsidies; a payment run's, of unemployment and welfare; a
    # command keyed otherwise than its contract says, of contributions and unemployment).
    assert shared <= {
        "command_key_mismatch",
        "employer_not_registered",
        "month_already_closed",
        "person_deceased",
        "person_not_registered",
        "service_date_in_future",
    }


class Values(BaseModel):
    money: Money | None = None
    non_negative: NonNegativeMoney | None = None
    positive: PositiveMoney | None = None
    citizen_id: CitizenId | None = None
    text: Annotated[str, NoControlCharacters] | None = None
    identifier: Annotated[str, NotACitizenId] | None = None


VALUES: dict[ValueRefusal, dict[str, Any]] = {
    ValueRefusal.MONEY_FORMAT: {"money": "12.345"},
    ValueRefusal.MONEY_NOT_STRING: {"money": 12.5},
    ValueRefusal.MONEY_PRECISION: {"money": Decimal("1.001")},
    ValueRefusal.MONEY_OUT_OF_RANGE: {"money": 10**16},
    ValueRefusal.MONEY_NEGATIVE: {"non_negative": "-125.00"},
    ValueRefusal.MONEY_NOT_POSITIVE: {"positive": "0.00"},
    ValueRefusal.CITIZEN_ID_TYPE: {"citizen_id": 320102},
    ValueRefusal.CITIZEN_ID_LEGACY_15: {"citizen_id": "320102820409003"},
    ValueRefusal.CITIZEN_ID_LENGTH: {"citizen_id": "3201021982"},
    ValueRefusal.CITIZEN_ID_CHARACTERS: {"citizen_id": "32010219820409003A"},
    ValueRefusal.CITIZEN_ID_BIRTH_DATE: {"citizen_id": "320102198213400034"},
    ValueRefusal.CITIZEN_ID_CHECKSUM: {"citizen_id": "320102198204090035"},
    ValueRefusal.TEXT_CONTROL_CHARACTER: {"text": "A\x00B"},
    ValueRefusal.CITIZEN_ID_AS_IDENTIFIER: {"identifier": "ZY-11010519491231002X"},
}


@pytest.mark.parametrize("reason", list(ValueRefusal))
def test_each_value_refusal_detail_is_a_finished_sentence(reason: ValueRefusal) -> None:
    """Each value reason raised once: its code is the enum's, its text has no placeholder."""
    with pytest.raises(ValidationError) as e:
        Values(**VALUES[reason])
    error = e.value.errors()[0]
    assert error["type"] == reason
    assert error["msg"] and "{" not in error["msg"], error["msg"]


def test_a_date_in_the_future_has_one_name_on_every_topic_that_carries_dates() -> None:
    """DOMAIN.md, Dates: a stay, a wage or collected month, a month to close or an event after
    the record's time is refused by name, the same name wherever it is sent."""
    topics = (md.CLAIMS.name, cc.COLLECTIONS.name, cc.COMMANDS.name, en.COMMANDS.name)
    codes = {t: {r.code for r in reasons.refusals(t)} for t in topics}
    assert {t for t, c in codes.items() if "service_date_in_future" not in c} == set()
    described = reasons.REASONS["service_date_in_future"]
    assert "ce_time" in described.meaning and described.action == reasons.Action.CORRECT
