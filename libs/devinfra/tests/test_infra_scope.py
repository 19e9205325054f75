"""`with provision() as infra:` stops the broker and Redis it started, however the block ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from shebao_devinfra.infra import Infra


def test_a_with_block_stops_what_it_started_even_when_it_fails(tmp_path: Path) -> None:
    stopped: list[str] = []
    data = tmp_path / "data"
    data.mkdir()
    infra = Infra(
        "127.0.0.1:9092",
        "redis://127.0.0.1:6379/0",
        "local",
        None,
        [lambda: stopped.append("kafka"), lambda: stopped.append("redis")],
        data,
    )

    def script() -> None:
        with infra as used:
            assert used is infra
            raise RuntimeError("a script's own failure")

    with pytest.raises(RuntimeError, match="a script's own failure"):
        script()
    assert stopped == ["redis", "kafka"]  # the reverse of their start
    assert not data.exists()
    infra.stop()  # stopping again does nothing more
    assert stopped == ["redis", "kafka"]
