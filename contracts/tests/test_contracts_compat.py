"""compat.breaking_changes: each kind of breaking change is caught, widening is let through."""

from __future__ import annotations

import copy
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field

from shebao_contracts.compat import breaking_changes, topic_breaking_changes
from shebao_contracts.envelope import Message
from shebao_contracts.gen import message_schema
from shebao_contracts.topics import Topic
from shebao_contracts.types import CitizenId, Money

Schema = dict[str, Any]


class Status(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class Item(BaseModel):
    """One line of a payment."""

    code: str
    amount: Money
    quantity: int = 1


class Payment(Message):
    """A contribution paid for a person."""

    TYPE = "test.compat.Payment"
    version: Literal["1"] = "1"
    amount: Money
    citizen_id: CitizenId
    status: Status
    items: list[Item]
    note: str | None = None


TOPIC = Topic(
    "test.compat.events.v1", owner="compat", key="person", messages=(Payment,), description="test"
)


@pytest.fixture
def base() -> Schema:
    return message_schema(TOPIC, Payment)


def _props(s: Schema) -> Schema:
    props: Schema = s["properties"]
    return props


def _remove_field(s: Schema) -> None:
    del _props(s)["citizen_id"]
    s["required"].remove("citizen_id")


def _retype_field(s: Schema) -> None:
    _props(s)["amount"] = {"type": "integer"}


def _add_required_field(s: Schema) -> None:
    _props(s)["region"] = {"type": "string"}
    s["required"].append("region")


def _optional_becomes_required(s: Schema) -> None:
    s["required"].append("note")


def _enum_loses_value(s: Schema) -> None:
    s["$defs"]["Status"]["enum"].remove("closed")


def _nested_item_narrowed(s: Schema) -> None:
    s["$defs"]["Item"]["properties"]["code"]["maxLength"] = 8


def _nested_item_retyped(s: Schema) -> None:
    s["$defs"]["Item"]["properties"]["quantity"] = {"type": "string"}


def _nested_field_removed(s: Schema) -> None:
    del s["$defs"]["Item"]["properties"]["amount"]
    s["$defs"]["Item"]["required"].remove("amount")


def _nullable_becomes_non_nullable(s: Schema) -> None:
    _props(s)["note"] = {"type": "string"}


def _pattern_changed(s: Schema) -> None:
    _props(s)["citizen_id"]["pattern"] = "^[0-9]{18}$"


def _const_changed(s: Schema) -> None:
    _props(s)["version"]["const"] = "2"


def _string_to_integer_in_array(s: Schema) -> None:
    _props(s)["items"] = {"type": "array", "items": {"type": "integer"}}


BREAKING: list[tuple[Callable[[Schema], None], str]] = [
    (_remove_field, "property 'citizen_id' removed"),
    (_retype_field, "property 'amount': type changed from string to integer"),
    (_add_required_field, "new required property 'region'"),
    (_optional_becomes_required, "property 'note' became required"),
    (_enum_loses_value, "property 'status': enum lost value(s) \"closed\""),
    (_nested_item_narrowed, "property 'items[].code': maxLength 8 added"),
    (_nested_item_retyped, "property 'items[].quantity': type changed from integer to string"),
    (_nested_field_removed, "property 'items[].amount' removed"),
    (_nullable_becomes_non_nullable, "property 'note': no longer nullable"),
    (_pattern_changed, "property 'citizen_id': pattern changed from"),
    (_const_changed, 'property \'version\': const changed from "1" to "2"'),
    (_string_to_integer_in_array, "property 'items[]': type changed from object to integer"),
]


@pytest.mark.parametrize(("mutate", "expected"), BREAKING, ids=[m.__name__ for m, _ in BREAKING])
def test_breaking_change_is_reported(
    base: Schema, mutate: Callable[[Schema], None], expected: str
) -> None:
    new = copy.deepcopy(base)
    mutate(new)
    found = breaking_changes(base, new)
    assert any(line.startswith(f"test.compat.Payment: {expected}") for line in found), found


def _add_optional_field(s: Schema) -> None:
    _props(s)["region"] = {"type": "string"}


def _edit_descriptions(s: Schema) -> None:
    s["description"] = "Something else entirely."
    _props(s)["amount"]["description"] = "in fen, no, in yuan"
    s["$defs"]["Item"]["description"] = "changed"


def _edit_examples_and_titles(s: Schema) -> None:
    s["examples"] = [{"anything": 1}]
    _props(s)["amount"]["examples"] = ["3.00"]
    _props(s)["amount"]["title"] = "Money"


def _required_becomes_optional(s: Schema) -> None:
    s["required"].remove("amount")


def _enum_gains_value(s: Schema) -> None:
    s["$defs"]["Status"]["enum"].append("deceased")


def _non_nullable_becomes_nullable(s: Schema) -> None:
    _props(s)["amount"] = {"anyOf": [_props(s)["amount"], {"type": "null"}]}


def _nested_constraint_relaxed(s: Schema) -> None:
    del s["$defs"]["Item"]["properties"]["amount"]["pattern"]


def _model_renamed(s: Schema) -> None:
    s["$defs"]["LineItem"] = s["$defs"].pop("Item")
    _props(s)["items"]["items"]["$ref"] = "#/$defs/LineItem"


NON_BREAKING = [
    _add_optional_field,
    _edit_descriptions,
    _edit_examples_and_titles,
    _required_becomes_optional,
    _enum_gains_value,
    _non_nullable_becomes_nullable,
    _nested_constraint_relaxed,
    _model_renamed,
]


@pytest.mark.parametrize("mutate", NON_BREAKING, ids=[m.__name__ for m in NON_BREAKING])
def test_compatible_change_is_not_reported(base: Schema, mutate: Callable[[Schema], None]) -> None:
    new = copy.deepcopy(base)
    mutate(new)
    assert breaking_changes(base, new) == []


def test_identical_schemas_have_no_breaking_change(base: Schema) -> None:
    assert breaking_changes(base, copy.deepcopy(base)) == []


# Changes made to the models themselves, through pydantic's own schema generation.


class PaymentAmountAsInt(Message):
    TYPE = "test.compat.Payment"
    version: Literal["1"] = "1"
    amount: int
    citizen_id: CitizenId
    status: Status
    items: list[Item]
    note: str | None = None


class NarrowStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class PaymentNarrowStatus(Message):
    TYPE = "test.compat.Payment"
    version: Literal["1"] = "1"
    amount: Money
    citizen_id: CitizenId
    status: NarrowStatus
    items: list[Item]
    note: str | None = None


class PaymentGrown(Message):
    """Grown compatibly: an optional field, an optional former requirement."""

    TYPE = "test.compat.Payment"
    version: Literal["1"] = "1"
    amount: Money
    citizen_id: CitizenId | None = None
    status: Status
    items: list[Item]
    note: str | None = None
    reference: Annotated[str, Field(max_length=40)] | None = None


def _schema(model: type[Message]) -> Schema:
    topic = Topic("t.v1", owner="x", key="k", messages=(model,), description="")
    return message_schema(topic, model)


def test_model_changes_through_pydantic(base: Schema) -> None:
    assert breaking_changes(base, _schema(PaymentAmountAsInt)) == [
        "test.compat.Payment: property 'amount': type changed from string to integer"
    ]
    assert breaking_changes(base, _schema(PaymentNarrowStatus)) == [
        "test.compat.Payment: property 'status': enum lost value(s) \"closed\""
    ]
    assert breaking_changes(base, _schema(PaymentGrown)) == []
    # And the way back: the optional became required again.
    assert breaking_changes(_schema(PaymentGrown), base) == [
        "test.compat.Payment: property 'citizen_id': no longer nullable",
        "test.compat.Payment: property 'citizen_id' became required",
        "test.compat.Payment: property 'reference' removed",
    ]


class Node(BaseModel):
    name: str
    children: list[Node] = []
    parent: Node | None = None


class Tree(Message):
    TYPE = "test.compat.Tree"
    root: Node


class NodeV2(BaseModel):
    name: int
    children: list[NodeV2] = []
    parent: NodeV2 | None = None


class TreeV2(Message):
    TYPE = "test.compat.Tree"
    root: NodeV2


def test_recursive_models_terminate() -> None:
    old = _schema(Tree)
    assert breaking_changes(old, old) == []
    assert breaking_changes(old, _schema(TreeV2)) == [
        "test.compat.Tree: property 'root.name': type changed from string to integer"
    ]


class Cash(BaseModel):
    kind: Literal["cash"] = "cash"
    amount: Money


class Transfer(BaseModel):
    kind: Literal["transfer"] = "transfer"
    account: str


class Card(BaseModel):
    kind: Literal["card"] = "card"
    last4: str


class Paid(Message):
    TYPE = "test.compat.Paid"
    method: Annotated[Cash | Transfer, Field(discriminator="kind")]


class PaidMore(Message):
    TYPE = "test.compat.Paid"
    method: Annotated[Cash | Transfer | Card, Field(discriminator="kind")]


class PaidCashOnly(Message):
    TYPE = "test.compat.Paid"
    method: Cash


def test_unions_may_widen_but_not_narrow() -> None:
    two, three, one = _schema(Paid), _schema(PaidMore), _schema(PaidCashOnly)
    assert breaking_changes(two, three) == []
    assert breaking_changes(one, two) == []
    assert breaking_changes(three, two) == [
        "test.compat.Paid: property 'method': union member Card is no longer accepted"
    ]


def test_message_type_removed_from_topic(base: Schema) -> None:
    other = _schema(Tree)
    old = {"test.compat.Payment": base, "test.compat.Tree": other}
    assert topic_breaking_changes("test.compat.events.v1", old, {"test.compat.Tree": other}) == [
        "test.compat.events.v1: message type test.compat.Payment removed from the topic"
    ]
    assert topic_breaking_changes("t.v1", old, {**old, "test.compat.New": base}) == []


def test_unresolvable_ref_is_an_error(base: Schema) -> None:
    broken = copy.deepcopy(base)
    del broken["$defs"]["Item"]
    with pytest.raises(ValueError, match="does not resolve"):
        breaking_changes(base, broken)


def test_a_new_optional_property_is_compatible_here_but_not_in_a_registry(base: Schema) -> None:
    """The gate accepts a property added to an open object; a schema registry's BACKWARD check
    refuses it (PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL), and `registry=True` says so."""
    new = copy.deepcopy(base)
    new["properties"]["memo"] = {"type": "string"}
    assert breaking_changes(base, new) == []
    registry = breaking_changes(base, new, registry=True)
    assert len(registry) == 1 and "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL" in registry[0]
    closed = copy.deepcopy(base)
    closed["additionalProperties"] = False
    closed_new = copy.deepcopy(closed)
    closed_new["properties"]["memo"] = {"type": "string"}
    assert breaking_changes(closed, closed_new, registry=True) == []
