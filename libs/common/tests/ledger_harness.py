"""Drives the ledger service as a real process against real Kafka and Redis."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from shebao_contracts.envelope import Envelope
from shebao_devinfra.testing import (  # re-exported for the runtime tests
    ServiceProcess,
    create_topics,
    http_get,
    producer,
    read_all,
)

__all__ = [
    "LedgerProcess",
    "create_topics",
    "deposit_record",
    "http_get",
    "new_id",
    "producer",
    "read_all",
]

HERE = Path(__file__).parent
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class LedgerProcess(ServiceProcess):
    def __init__(self, ledger_id: str, kafka: str, redis_url: str, log_dir: Path) -> None:
        super().__init__(
            "ledger",
            "ledger_app",
            kafka=kafka,
            redis_url=redis_url,
            log_dir=log_dir,
            env={
                "PYTHONPATH": str(HERE),
                "LEDGER_ID": ledger_id,
                "SHEBAO_LEDGER_METADATA_MAX_AGE_MS": "30000",
            },
        )


def deposit_record(
    cmd_id: str, account: str, amount: Decimal, seq: int = 0
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    env = Envelope(
        id=cmd_id,
        type="test.ledger.Deposit",
        source="/test/teller",
        time=T0 + timedelta(seconds=seq),
        correlation_id=cmd_id,
    )
    body = json.dumps({"account": account, "amount": f"{amount:.2f}"}).encode()
    return account.encode(), body, env.to_headers()


def new_id() -> str:
    return str(uuid.uuid4())
