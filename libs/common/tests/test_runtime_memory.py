"""What a batch holds in memory, checked without a broker: batch sizes, outbox entry sizes."""

from __future__ import annotations

import tracemalloc

import orjson
import pytest
from ledger_app import LedgerSettings, handlers_for, ledger

from shebao_common.runtime import HandlerTable, ServiceRuntime, Subscription, service
from shebao_common.runtime.codec import _headers_json


def test_a_subscription_may_take_smaller_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "setup_logging", lambda *args, **kwargs: None)
    lg = ledger("batches")
    rt = ServiceRuntime(
        name=lg.service,
        settings=LedgerSettings(batch_max_records=300),
        registry=lg.registry,
        subscriptions=[
            Subscription("commands", (lg.commands,), handlers_for(lg)),
            Subscription("events", (lg.events,), HandlerTable(), max_records=7),
        ],
    )
    rt.build_app()  # connects nothing
    assert rt.broker is not None
    sizes = {s.group_id: s.max_records for s in rt.broker.subscribers}
    assert sizes == {f"shebao.{lg.service}.commands": 300, f"shebao.{lg.service}.events": 7}


def test_outbox_headers_take_their_size_not_a_serialiser_buffer() -> None:
    pairs = [
        ("ce_specversion", "1.0"),
        ("ce_id", "0123456789abcdef0123456789abcdef"),
        ("ce_type", "shebao.contributions.ContributionCredited"),
        ("ce_source", "/shebao/contributions"),
        ("ce_time", "2025-04-15T00:00:00+00:00"),
    ]
    expected = orjson.dumps(pairs)
    tracemalloc.start()
    try:
        kept = [_headers_json(pairs) for _ in range(500)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept[0] == expected
    # orjson's own bytes hold a 4 KiB buffer each; an entry's headers are about 300 bytes here
    assert held < 500 * 2 * len(expected)


def test_a_batch_sends_each_counter_field_once() -> None:
    """Counter changes of a batch are summed before the commit: one HINCRBY per field."""
    import msgpack

    from shebao_common.runtime.store import CommitPlan

    plan = CommitPlan(ttl=60)
    for by in (1, 2, -1, 5):
        plan.incr("c:hospital-month:h1:2025-03", "settled", by)
    plan.incr("c:hospital-month:h1:2025-03", "fund_fen", 1234)
    plan.incr("c:hospital-month:h2:2025-03", "settled", 1)
    counters = msgpack.unpackb(plan.packed(), raw=False)[6]
    assert sorted(map(tuple, counters)) == [
        ("c:hospital-month:h1:2025-03", "fund_fen", 1234),
        ("c:hospital-month:h1:2025-03", "settled", 7),
        ("c:hospital-month:h2:2025-03", "settled", 1),
    ]
