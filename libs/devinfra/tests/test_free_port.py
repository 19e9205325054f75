"""free_port: a port handed out is never handed out again by the same process."""

from __future__ import annotations

import random
import socket

import pytest

from shebao_devinfra import local


class _Draws(random.Random):
    """A generator that draws the given ports in order."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__()
        self.ports = list(ports)

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:  # type: ignore[override]
        return self.ports.pop(0)


def test_a_port_not_yet_listened_on_is_not_given_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    # The benchmark picks every service's port before it starts them: the first port is still
    # free to bind when the second is picked, and drawing it again gave two services one port.
    monkeypatch.setattr(local, "ephemeral_low", lambda: 32768)
    monkeypatch.setattr(local, "_GIVEN", set())
    first = local.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        other = int(s.getsockname()[1])  # free to bind once this socket is closed
    monkeypatch.setattr(local, "_PORTS", _Draws([first, first, other]))
    second = local.free_port()
    assert second == other
    assert {first, other} == local._GIVEN
