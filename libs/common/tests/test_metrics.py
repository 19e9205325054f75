"""Runtime metrics that need no broker: garbage-collection pauses."""

from __future__ import annotations

import gc

from shebao_common.metrics import RuntimeMetrics


def sample(m: RuntimeMetrics, name: str, generation: str) -> float:
    value = m.registry.get_sample_value(name, {"generation": generation})
    return value or 0.0


def test_every_collection_is_timed_until_unwatched() -> None:
    m = RuntimeMetrics("test")
    m.watch_gc()
    m.watch_gc()  # twice is once
    try:
        gc.collect()
        assert sample(m, "shebao_gc_pause_seconds_count", "2") == 1
        assert sample(m, "shebao_gc_pause_seconds_sum", "2") > 0
    finally:
        m.unwatch_gc()
    gc.collect()
    assert sample(m, "shebao_gc_pause_seconds_count", "2") == 1
    assert m._on_gc not in gc.callbacks


def test_ids_are_masked_even_right_after_a_letter() -> None:
    from shebao_common.logging import mask_ids

    assert mask_ids("X320102198204090034") == "X320102********0034"
    assert mask_ids("claim ZY11010519491231002X.") == "claim ZY110105********002X."
    assert mask_ids("offset 12345678901234567890") == "offset 12345678901234567890"
