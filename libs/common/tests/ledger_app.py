"""A small ledger service on the shared runtime, used by the runtime's integration tests.

Run as a process: `python ledger_app.py` with KAFKA_BOOTSTRAP_SERVERS, REDIS_URL and LEDGER_ID
set; LEDGER_ID keeps the topics and Redis keys of one test apart from another's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal

from pydantic_settings import SettingsConfigDict

from shebao_common.runtime import (
    Context,
    Decision,
    Emit,
    Entity,
    FromDecisions,
    HandlerTable,
    RejectedRecord,
    ServiceRuntime,
    State,
    StateModel,
    Subscription,
    serve,
)
from shebao_common.settings import ServiceSettings
from shebao_contracts.envelope import Message
from shebao_contracts.topics import Registry, Topic
from shebao_contracts.types import Money, money


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


class Account(StateModel):
    balance: Money = Decimal("0.00")
    applied: int = 0


ACCOUNT = Entity("account", Account)


@dataclass(frozen=True)
class Ledger:
    ledger_id: str
    commands: Topic
    events: Topic
    registry: Registry

    @property
    def service(self) -> str:
        return f"ledger-{self.ledger_id}"


def ledger(ledger_id: str) -> Ledger:
    commands = Topic(
        f"test.ledger.{ledger_id}.commands.v1",
        owner="ledger",
        key="account",
        messages=(Deposit,),
        description="deposits",
        partitions=4,
    )
    events = Topic(
        f"test.ledger.{ledger_id}.events.v1",
        owner="ledger",
        key="account",
        messages=(Deposited, DepositRejected),
        description="ledger events",
        partitions=4,
    )
    return Ledger(ledger_id, commands, events, Registry([commands, events]))


def handlers_for(lg: Ledger) -> HandlerTable:
    handlers = HandlerTable()

    @handlers.on(Deposit, needs=lambda m, ctx: [ACCOUNT.key(m.account)])
    def deposit(state: State, m: Deposit, ctx: Context) -> Decision:
        acct = state.get(ACCOUNT.key(m.account)) or Account()
        new = Account(balance=money(acct.balance + m.amount), applied=acct.applied + 1)
        return (
            Decision()
            .put(ACCOUNT.key(m.account), new)
            .emit(
                lg.events,
                m.account,
                Deposited(
                    account=m.account, amount=m.amount, balance=new.balance, applied=new.applied
                ),
            )
            .incr("ledger", "deposits")
            .incr("ledger", "fen", int(m.amount * 100))
        )

    return handlers


def fold_for(lg: Ledger) -> HandlerTable:
    """How a rebuild gets the ledger's state back from its events (its log of record): each
    account as its last deposit left it, and the counters the deposits added to."""
    fold = HandlerTable()

    @fold.on(Deposited, needs=lambda ev, ctx: [ACCOUNT.key(ev.account)])
    def deposited(state: State, ev: Deposited, ctx: Context) -> Decision:
        return (
            Decision()
            .put(ACCOUNT.key(ev.account), Account(balance=ev.balance, applied=ev.applied))
            .incr("ledger", "deposits")
            .incr("ledger", "fen", int(ev.amount * 100))
        )

    return fold


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHEBAO_LEDGER_", extra="ignore", frozen=True)


def runtime(lg: Ledger, settings: ServiceSettings | None = None) -> ServiceRuntime:
    def reject(r: RejectedRecord) -> Emit | None:
        return Emit(
            lg.events.name, r.key or "unknown", DepositRejected(reason=r.reason, offset=r.offset)
        )

    return ServiceRuntime(
        name=lg.service,
        settings=settings or LedgerSettings(),
        registry=lg.registry,
        subscriptions=[
            Subscription(
                "commands",
                (lg.commands,),
                handlers_for(lg),
                reject=reject,
                # read by a rebuild only (rebuild.py): nothing changes live
                rebuild=FromDecisions(log=(lg.events,), fold=fold_for(lg)),
            )
        ],
        produces=[lg.events],
        # an account's deposits are keyed by the account: each partition owns its accounts
        partitioned_state=os.environ.get("LEDGER_LAYOUT", "partitioned") == "partitioned",
    )


def two_subscriptions(
    lg: Ledger, settings: ServiceSettings | None = None, events_max_records: int | None = None
) -> ServiceRuntime:
    """The ledger's commands and, with no handlers, its events: a runtime of two subscriptions,
    built by the tests of what every subscription gets (`build_app` connects nothing)."""
    return ServiceRuntime(
        name=lg.service,
        settings=settings or LedgerSettings(),
        registry=lg.registry,
        subscriptions=[
            Subscription("commands", (lg.commands,), handlers_for(lg)),
            Subscription("events", (lg.events,), HandlerTable(), max_records=events_max_records),
        ],
    )


if __name__ == "__main__":
    rt = runtime(ledger(os.environ.get("LEDGER_ID", "main")))
    serve(rt.build_app(), rt.settings)
