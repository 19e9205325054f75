"""How the demo prints: lines as they happen, section heads, amounts in yuan."""

from __future__ import annotations

from decimal import Decimal


def say(text: str = "") -> None:
    print(text, flush=True)


def head(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 72 - len(text)))


def yuan(x: Decimal | str) -> str:
    return f"{Decimal(x):,.2f}"
