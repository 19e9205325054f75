"""The shared service runtime: exactly-once effects for Kafka handlers, via Redis."""

from .model import (
    NOTHING,
    Context,
    Counters,
    Decision,
    Emit,
    Entity,
    HandlerTable,
    Increment,
    RejectedRecord,
    State,
    StateKey,
    StateModel,
    Subscription,
    UndeclaredMessage,
    counter_set,
)
from .service import ServiceRuntime, serve

__all__ = [
    "NOTHING",
    "Context",
    "Counters",
    "Decision",
    "Emit",
    "Entity",
    "HandlerTable",
    "Increment",
    "RejectedRecord",
    "ServiceRuntime",
    "State",
    "StateKey",
    "StateModel",
    "Subscription",
    "UndeclaredMessage",
    "counter_set",
    "serve",
]
