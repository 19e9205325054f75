"""Where a rule's messages go: the service's three destinations, over the one `Effects`.

A rule adds to a `shebao_common.domain.Effects`; these name the topic for it, so that a rule
reads as what it announces (`to_events`), what it hands on to the service's own fan-out
(`fan_out`) and what it tells a tax bureau (`to_bureau`).
"""

from __future__ import annotations

from shebao_common.domain import Effects
from shebao_contracts import contributions as cc
from shebao_contracts.envelope import Message


def to_events(fx: Effects, key: str, message: Message) -> Effects:
    """On shebao.contributions.events.v1, keyed by `key`."""
    return fx.emit(cc.EVENTS, key, message)


def fan_out(fx: Effects, key: str, message: Message) -> Effects:
    """On the service's own work topic, shebao.contributions.work.v1, keyed by `key`."""
    return fx.emit(cc.WORK, key, message)


def to_bureau(fx: Effects, code: str, key: str, message: Message) -> Effects:
    """On the bureau's partner.tax.<code>.assessments.v1, keyed by `key`."""
    return fx.emit(cc.ASSESSMENTS.named(code=code), key, message)
