"""What a rule wants published, by destination; the handlers turn it into runtime emits."""

from __future__ import annotations

from dataclasses import dataclass, field

from shebao_contracts.envelope import Message


@dataclass
class Effects:
    events: list[tuple[str, Message]] = field(default_factory=list)
    """(record key, message) on shebao.contributions.events.v1."""
    work: list[tuple[str, Message]] = field(default_factory=list)
    """(record key, message) on the service's own fan-out topic."""
    bureau: list[tuple[str, str, Message]] = field(default_factory=list)
    """(bureau code, record key, message) on partner.tax.<code>.assessments.v1."""

    def event(self, key: str, message: Message) -> None:
        self.events.append((key, message))

    def fan_out(self, key: str, message: Message) -> None:
        self.work.append((key, message))

    def to_bureau(self, code: str, key: str, message: Message) -> None:
        self.bureau.append((code, key, message))

    def extend(self, other: Effects) -> None:
        self.events += other.events
        self.work += other.work
        self.bureau += other.bureau
