"""pytest fixtures for real Kafka and Redis, shared by every test session of the workspace.

`infra` gives one broker and one Redis for the whole session (started lazily, only when an
integration test asks). `restartable_redis` gives a Redis owned by this session that a test may
restart, for crash-recovery tests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .docker import DockerRedis
from .infra import Infra, choose_mode, provision
from .local import InfraError, LocalRedis


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    try:
        handle = provision()
    except InfraError as exc:
        pytest.fail(f"real Kafka/Redis could not be started: {exc}")
    try:
        yield handle
    finally:
        handle.stop()


class RestartableRedis:
    def __init__(self, server: LocalRedis | DockerRedis) -> None:
        self._server = server

    @property
    def url(self) -> str:
        return self._server.url

    def restart(self) -> None:
        self._server.restart()

    def kill(self) -> None:
        """SIGKILL the server and start it again: only what reached the AOF survives."""
        if isinstance(self._server, LocalRedis):
            import signal

            from .local import stop_pid

            if self._server.pid is not None:
                stop_pid(self._server.pid, sig=signal.SIGKILL)
                self._server.pid = None
            self._server._spawn(30.0)
        else:
            self._server.container.get_wrapped_container().kill()
            self._server.container.get_wrapped_container().start()


@pytest.fixture
def restartable_redis() -> Iterator[RestartableRedis]:
    server: LocalRedis | DockerRedis
    if choose_mode() == "docker":
        server = DockerRedis().start()
    else:
        server = LocalRedis(Path(tempfile.mkdtemp(prefix="shebao-redis-"))).start()
    try:
        yield RestartableRedis(server)
    finally:
        server.stop()
