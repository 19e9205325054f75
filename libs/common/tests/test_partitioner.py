"""`default_partition` puts a key where Kafka's default partitioner does: its murmur2 is Java's
`Utils.murmur2` (Kafka's own test vectors) and aiokafka's, for any bytes."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from shebao_common.runtime.store import default_partition, murmur2

# org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed Java ints)
JAVA = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


def test_murmur2_is_javas_on_kafkas_own_vectors() -> None:
    for data, signed in JAVA.items():
        assert murmur2(data) == signed & 0xFFFFFFFF, data


@settings(max_examples=2000)
@given(st.binary(max_size=200))
def test_murmur2_equals_aiokafkas_for_any_bytes(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.text(max_size=80), st.integers(min_value=1, max_value=64))
def test_default_partition_is_the_producers(key: str, partitions: int) -> None:
    raw = key.encode()
    expected = (aiokafka_murmur2(raw) & 0x7FFFFFFF) % partitions
    assert default_partition(key, partitions) == default_partition(raw, partitions) == expected
