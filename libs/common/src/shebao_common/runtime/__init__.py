"""The shared service runtime: exactly-once effects for Kafka handlers, via Redis."""

from ..domain import Counters, Effects, Entity, Refused, StateKey, StateModel, counter_set
from .commands import (
    NotKeptHere,
    command_rejected,
    command_rejecter,
    command_subscription,
    key_mismatch,
)
from .model import (
    NOTHING,
    Context,
    Decision,
    Emit,
    FromDecisions,
    HandlerTable,
    Increment,
    RejectedRecord,
    State,
    Subscription,
    UndeclaredMessage,
)
from .service import ServiceRuntime, run, serve

__all__ = [
    "NOTHING",
    "Context",
    "Counters",
    "Decision",
    "Effects",
    "Emit",
    "Entity",
    "FromDecisions",
    "HandlerTable",
    "Increment",
    "NotKeptHere",
    "Refused",
    "RejectedRecord",
    "ServiceRuntime",
    "State",
    "StateKey",
    "StateModel",
    "Subscription",
    "UndeclaredMessage",
    "command_rejected",
    "command_rejecter",
    "command_subscription",
    "counter_set",
    "key_mismatch",
    "run",
    "serve",
]
