"""A small ledger service on the shared runtime, used by the runtime's integration tests.

Run as a process: `python ledger_app.py` with KAFKA_BOOTSTRAP_SERVERS and REDIS_URL set.
"""

from __future__ import annotations

import os
from decimal import Decimal

from shebao_common.runtime import (
    Context,
    Decision,
    Entity,
    HandlerTable,
    RejectedRecord,
    ServiceRuntime,
    State,
    StateModel,
    Subscription,
    Emit,
    serve,
)
from shebao_common.settings import ServiceSettings
from shebao_contracts.envelope import Message
from shebao_contracts.topics import Registry, Topic
from shebao_contracts.types import Money, money
from pydantic_settings import SettingsConfigDict


class Deposit(Message):
    TYPE = "test.ledger.Deposit"
    account: str
    amount: Money


class Deposited(Message):
    TYPE = "test.ledger.Deposited"
    account: str
    amount: Money
    balance: Money
    applied: int


class DepositRejected(Message):
    TYPE = "test.ledger.DepositRejected"
    reason: str
    offset: int


COMMANDS = Topic(
    "test.ledger.commands.v1", owner="ledger", key="account", messages=(Deposit,),
    description="deposits", partitions=4,
)
EVENTS = Topic(
    "test.ledger.events.v1", owner="ledger", key="account", messages=(Deposited, DepositRejected),
    description="ledger events", partitions=4,
)
REGISTRY = Registry([COMMANDS, EVENTS])


class Account(StateModel):
    balance: Money = Decimal("0.00")
    applied: int = 0


ACCOUNT = Entity("account", Account)
handlers = HandlerTable()


@handlers.on(Deposit, needs=lambda m, ctx: [ACCOUNT.key(m.account)])
def deposit(state: State, m: Deposit, ctx: Context) -> Decision:
    acct = state.get(ACCOUNT.key(m.account)) or Account()
    new = Account(balance=money(acct.balance + m.amount), applied=acct.applied + 1)
    return (
        Decision()
        .put(ACCOUNT.key(m.account), new)
        .emit(EVENTS, m.account, Deposited(account=m.account, amount=m.amount,
                                           balance=new.balance, applied=new.applied))
        .incr("ledger", "deposits")
        .incr("ledger", "fen", int(m.amount * 100))
    )


def reject(r: RejectedRecord) -> Emit | None:
    return Emit(EVENTS.name, r.key or "unknown", DepositRejected(reason=r.reason, offset=r.offset))


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHEBAO_LEDGER_", extra="ignore", frozen=True)


def runtime(settings: LedgerSettings | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        name="ledger",
        settings=settings or LedgerSettings(),
        registry=REGISTRY,
        subscriptions=[Subscription("commands", (COMMANDS,), handlers, reject=reject)],
        produces=[EVENTS],
    )


if __name__ == "__main__":
    rt = runtime()
    serve(rt.build_app(), rt.settings)
