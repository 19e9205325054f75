"""Bad input between valid records: each bad record is dead-lettered by name, the rest applied.

Malformed JSON, wrong types, missing fields, a record near the broker's 1 MB limit, an unknown
event type, missing CloudEvents headers, a non-UTF-8 header, a float amount, an amount with three
decimals, an empty body and a reused command id with another body are interleaved with valid
deposits (and one exact resend, which is dropped). So are the records that once stalled the
runtime (issue 11): a 30-digit integer amount (`decimal.InvalidOperation` escaped the decoder and
stopped the batch), a 600 KB `ce_id` (copied into the answer's headers, which the broker then
refused forever), a 100 KB `traceparent` and `correlation-id`, a duplicated `ce_type`, a 100 KB
key and too many headers. Every bad record lands in `<topic>.dlq` with its reason, origin and
offset, itself within the broker's limits; the sender gets a rejection event with the reason;
every valid deposit is applied once; the service process stays up and ready.
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from ledger_harness import (
    LedgerProcess,
    create_topics,
    deposit_record,
    http_get,
    ledger_counter,
    new_id,
    producer,
    read_all,
)

from shebao_devinfra.testing import redis_for

pytestmark = pytest.mark.integration


def _headers(cmd_id: str, ce_type: str = "test.ledger.Deposit") -> list[tuple[str, bytes]]:
    _, _, headers = deposit_record(cmd_id, "x", Decimal("1"))
    return [(k, ce_type.encode() if k == "ce_type" else v) for k, v in headers]


DEPOSIT = b'{"account": "a1", "amount": "1.00"}'


def _replaced(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(k, value if k == name else v) for k, v in headers]


def bad_records() -> list[tuple[Any, ...]]:
    """(expected reason, body, headers[, key]) for every kind of bad input a partner can send."""
    near_1mb = json.dumps({"account": "big", "amount": "1.00", "memo": "x" * 1_000_000}).encode()
    return [
        ("malformed_json", b'{"account": "a1", "amount": "1.00"', _headers(new_id())),
        ("schema_violation", b'{"account": 5, "amount": "1.00"}', _headers(new_id())),
        ("schema_violation", b'{"account": "a1"}', _headers(new_id())),
        ("record_too_large", near_1mb, _headers(new_id())),
        (
            "unknown_event_type",
            b'{"account": "a1", "amount": "1.00"}',
            _headers(new_id(), "test.ledger.Withdraw"),
        ),
        (
            "missing_header",
            b'{"account": "a1", "amount": "1.00"}',
            [("content-type", b"application/json")],
        ),
        (
            "invalid_header_encoding",
            b'{"account": "a1", "amount": "1.00"}',
            [*_headers(new_id()), ("x-note", b"\xff\xfe\xfd")],
        ),
        ("money_not_string", b'{"account": "a1", "amount": 12.5}', _headers(new_id())),
        ("money_format", b'{"account": "a1", "amount": "1.005"}', _headers(new_id())),
        ("empty_body", None, _headers(new_id())),
        (
            "money_out_of_range",
            b'{"account": "a1", "amount": 1' + b"0" * 30 + b"}",
            _headers(new_id()),
        ),
        ("money_not_string", b'{"account": "a1", "amount": 1e309}', _headers(new_id())),
        ("header_too_large", DEPOSIT, _replaced(_headers(new_id()), "ce_id", b"i" * 600_000)),
        (
            "header_too_large",
            DEPOSIT,
            [*_headers(new_id()), ("traceparent", b"00-" + b"a" * 100_000)],
        ),
        (
            "header_too_large",
            DEPOSIT,
            _replaced(_headers(new_id()), "correlation-id", b"c" * 100_000),
        ),
        ("duplicate_header", DEPOSIT, [*_headers(new_id()), ("ce_type", b"test.ledger.Other")]),
        (
            "too_many_headers",
            DEPOSIT,
            [*_headers(new_id()), *[(f"x-{i}", b"1") for i in range(40)]],
        ),
        ("key_too_large", DEPOSIT, _headers(new_id()), b"k" * 100_000),
    ]


async def test_bad_records_are_dead_lettered_and_valid_ones_applied(
    infra, any_redis_url: str, tmp_path: Path
) -> None:
    ledger_id = f"bad{int(time.time() * 1000) % 10**8}"
    service = f"ledger-{ledger_id}"
    commands = f"test.ledger.{ledger_id}.commands.v1"
    events = f"test.ledger.{ledger_id}.events.v1"
    await create_topics(infra.kafka_bootstrap, [commands, events, commands + ".dlq"])
    proc = LedgerProcess(ledger_id, infra.kafka_bootstrap, any_redis_url, tmp_path)
    prod = await producer(infra.kafka_bootstrap, max_request_size=1_048_576 + 4096)
    bad = bad_records()
    valid = 0
    sent_bad: dict[int, str] = {}  # (partition, offset) of each bad record -> expected reason
    try:
        proc.start()
        await proc.wait_ready()
        for i in range(200):
            cmd = new_id()
            key, value, headers = deposit_record(cmd, f"a{i % 7}", Decimal("2.50"), i)
            await prod.send_and_wait(commands, key=key, value=value, headers=headers)
            valid += 1
            if i % 10 == 5 and bad:
                reason, body, hdrs, *bad_key = bad.pop(0)
                meta = await prod.send_and_wait(
                    commands, key=bad_key[0] if bad_key else b"a1", value=body, headers=hdrs
                )
                sent_bad[meta.offset * 10 + meta.partition] = reason
        assert not bad, "every kind of bad record was sent"
        # The last deposit sent again: with the same body it is dropped as a duplicate, with
        # another body under the same id it is refused as an id conflict.
        await prod.send_and_wait(commands, key=key, value=value, headers=headers)
        changed = value.replace(b'"2.50"', b'"9.99"')
        meta = await prod.send_and_wait(commands, key=key, value=changed, headers=headers)
        sent_bad[meta.offset * 10 + meta.partition] = "id_conflict"

        r = redis_for(any_redis_url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n = await ledger_counter(r, service)
            if n >= valid:
                break
            await asyncio.sleep(0.2)
        assert n == valid
        assert proc.alive
        status, _ = await http_get(f"http://127.0.0.1:{proc.port}/readyz")
        assert status == 200

        # The counter can reach the valid total before the last bad records are relayed.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            dlq = await read_all(infra.kafka_bootstrap, commands + ".dlq")
            if len(dlq) >= len(sent_bad):
                break
            await asyncio.sleep(0.3)
        got: dict[int, str] = {}
        for rec in dlq:
            h = {k: v.decode() for k, v in rec.headers}
            assert h["dlq-topic"] == commands and h["dlq-service"] == service
            assert sum(len(v) for _, v in rec.headers) < 64 * 1024, "a dead letter stays small"
            assert len(rec.key or b"") <= 256
            got[int(h["dlq-offset"]) * 10 + int(h["dlq-partition"])] = h["dlq-reason"]
            assert h["dlq-detail"]
            if h["dlq-reason"] == "record_too_large":
                assert h["dlq-truncated"] == "true"
                assert int(h["dlq-original-size"]) > 1_000_000
                assert len(rec.value) <= 256 * 1024
        assert got == sent_bad

        while time.monotonic() < deadline:
            rejections = [
                json.loads(rec.value)
                for rec in await read_all(infra.kafka_bootstrap, events)
                if dict(rec.headers)["ce_type"] == b"test.ledger.DepositRejected"
            ]
            if len(rejections) >= len(sent_bad):
                break
            await asyncio.sleep(0.3)
        assert sorted(x["reason"] for x in rejections) == sorted(sent_bad.values())

        metrics = (await http_get(f"http://127.0.0.1:{proc.port}/metrics"))[1].decode()
        assert (
            'shebao_records_total{outcome="dead_lettered",subscription="commands"} 19.0' in metrics
        )
        await r.aclose()
    finally:
        proc.stop()
        await prod.stop()
