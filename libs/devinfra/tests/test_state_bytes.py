"""The key kinds `bench.state` weighs Redis's state by (docs/CAPACITY.md's per-kind figures)."""

from shebao_devinfra.bench.state import Kind, kind_of, report


def test_kinds_follow_the_store_layout() -> None:
    assert kind_of("s:claim:h3201:ZY1") == "s:claim"
    assert kind_of("s:coverage:abc") == "s:coverage"
    assert kind_of("dd:0f3a") == "dd"
    assert kind_of("off:adjudicate") == "off"
    assert (
        kind_of("ob:ingest:partner.hospital.h1.claims.v1:3")
        == "ob:ingest:partner.hospital.h1.claims.v1"
    )
    assert kind_of("c:hospital-month:h1:2025-03") == "c:hospital-month"
    assert kind_of("parked") == "parked"
    # the same behind a slot's hash tag (one slot per service, or one per partition)
    assert kind_of("{medical-settlement}:s:claim:h3201:ZY1") == "s:claim"
    assert kind_of("{ledger-x/3}:c:ledger") == "c:ledger"
    assert kind_of("{welfare}:parked") == "parked"
    assert kind_of("layout") == "layout"


def test_a_kind_is_its_mean_sampled_size_times_its_count() -> None:
    k = Kind(count=1000, sampled=[100, 300], types={"string"}, ttl=2)
    assert k.mean == 200
    assert k.total == 200_000
    text = report({"medical-settlement": {"s:claim": k}}, {"used_memory": 1_000_000, "keys": 1000})
    assert "s:claim" in text and "0.20" in text and "2/2" in text
    assert "used_memory 1.00 MB" in text and "keys 1,000" in text
