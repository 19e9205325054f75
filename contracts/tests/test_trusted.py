"""trusted(): the hot path's model construction gives what validation would have given."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ConfigDict, PrivateAttr

from shebao_contracts import medical as m
from shebao_contracts.trusted import trusted

D = Decimal


def amounts() -> dict[str, Decimal]:
    return {name: D(f"{i}.{i}0") for i, name in enumerate(m.Amounts.model_fields, start=1)}


def test_same_model_as_validation() -> None:
    values = {
        "hospital": "h320102001",
        "claim_id": "ZY1",
        "outcome": m.Outcome.SETTLED,
        "amounts": trusted(m.Amounts, **amounts()),
        "ytd_fund_paid": D("12.30"),
        "year": 2025,
        "reasons": [],
        "detail": "",
    }
    built = trusted(m.SettlementResult, **values)
    validated = m.SettlementResult.model_validate(values)
    assert built == validated
    assert hash(built.amounts) == hash(validated.amounts)
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_copy(update={"year": 2026}).year == 2026
    with pytest.raises(Exception, match="frozen"):
        built.year = 2027  # type: ignore[misc]


def test_every_field_must_be_given() -> None:
    values = amounts()
    del values["deductible"]
    with pytest.raises(TypeError, match=r"missing \['deductible'\]"):
        trusted(m.Amounts, **values)
    with pytest.raises(TypeError, match=r"unknown \['bonus'\]"):
        trusted(m.Amounts, **amounts(), bonus=D("1.00"))


def test_models_that_need_pydantic_are_refused() -> None:
    class WithPrivate(BaseModel):
        model_config = ConfigDict(frozen=True)
        a: int
        _cache: int = PrivateAttr(0)

    with pytest.raises(TypeError, match="pydantic's own construction"):
        trusted(WithPrivate, a=1)


def test_the_fields_keep_the_models_order_whatever_order_they_are_given_in() -> None:
    """pydantic writes a model's fields in the order it holds them: a trusted model given its
    values in another order must still write the bytes a validated one writes."""
    values = amounts()
    backwards = dict(reversed(values.items()))
    built = trusted(m.Amounts, **backwards)
    assert list(built.__dict__) == list(m.Amounts.model_fields)
    assert built.model_dump_json() == m.Amounts.model_validate(values).model_dump_json()
