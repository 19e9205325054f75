"""Commands from offices and schedulers: one subscription shape, one way of answering a refusal.

A command topic is read by a subscription named `commands` that remembers command ids
(`dedupe_ttl`): a command sent again with the same id is dropped, with another body refused
(`id_conflict`). A refused command is answered on the service's events topic, keyed by the
command id, with the service's `CommandRejected` (fields `command_id`, `command_type`,
`reason`, `detail`, and what it names: person, employer, region); so is a command the runtime
could not read. Every service builds these answers here, so none of them can drift.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from shebao_contracts.envelope import Message
from shebao_contracts.topics import Topic

from ..domain import Refused
from .model import (
    Context,
    Decision,
    Emit,
    FromDecisions,
    HandlerTable,
    RejectedRecord,
    Rejecter,
    Subscription,
)


def command_rejected(
    answer: type[Message],
    events: Topic,
    ctx: Context[Any],
    cmd: Message,
    refused: Refused,
    *,
    command_type: str | None = None,
    **names: str | None,
) -> Decision:
    """The answer to a command a rule refused: `answer` (the service's CommandRejected) on its
    `events` topic, keyed by the command id; `names` are the fields naming what it is about.
    `command_type`: the command's, where `cmd` is what carried it (a command handed on)."""
    return Decision().emit(
        events,
        ctx.event_id,
        answer(
            command_id=ctx.event_id,
            command_type=command_type or cmd.TYPE,
            reason=refused.reason.value,
            detail=refused.detail,
            **names,
        ),
    )


def key_mismatch(reason: StrEnum, ctx: Context[Any], cmd: Message, keyed_by: str) -> Refused:
    """The refusal of a command keyed otherwise than its topic's contract says, where the state
    is partitioned: the partition it reached does not keep what it changes (`reason`: the
    service's `command_key_mismatch`; `keyed_by`: what the contract keys it by)."""
    return Refused(reason, f"keyed {ctx.key!r}: a {type(cmd).__name__} is keyed by {keyed_by}")


class NotKeptHere(RuntimeError):
    """A record a service handed to another partition on its work topic reached one that does
    not keep what it names: the work topic and the topic it came from disagree about
    partitions (a bug or a misconfiguration, dead-lettered rather than handed on again)."""


def command_rejecter(answer: type[Message], events: Topic) -> Rejecter:
    """The answer to a command the runtime could not read (malformed JSON, schema...)."""

    def reject(r: RejectedRecord) -> Emit:
        command_id = r.envelope.id if r.envelope is not None else r.event_id
        return Emit(
            events.name,
            command_id,
            answer(
                command_id=command_id,
                command_type=r.envelope.type if r.envelope is not None else "",
                reason=r.reason,
                detail=r.detail,
            ),
        )

    return reject


def command_subscription(
    topic: Topic,
    handlers: HandlerTable[Any],
    answer: type[Message],
    events: Topic,
    *,
    ttl_days: int,
    rebuild: FromDecisions,
    canonical_fingerprints: bool = False,
) -> Subscription:
    """The `commands` subscription of `topic`: ids remembered `ttl_days`, refusals answered.
    Commands decide, so it says how a rebuild restores what they decided (`rebuild.py`)."""
    return Subscription(
        "commands",
        (topic,),
        handlers,
        reject=command_rejecter(answer, events),
        dedupe_ttl=ttl_days * 86400,
        canonical_fingerprints=canonical_fingerprints,
        rebuild=rebuild,
    )
