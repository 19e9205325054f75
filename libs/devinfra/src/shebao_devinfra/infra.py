"""One switch for real infrastructure: environment, else Docker, else local processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .docker import DockerKafka, DockerRedis, docker_engine_answers
from .local import LocalKafka, LocalRedis


class RestartUnsupported(RuntimeError):
    """The Redis in use was given by REDIS_URL, so this process cannot restart it."""


@dataclass
class Infra:
    kafka_bootstrap: str
    redis_url: str
    mode: str  # "env", "docker" or "local"
    _restart_redis: Callable[[], None] | None = None
    _stops: list[Callable[[], None]] = field(default_factory=list)
    _tmp: Path | None = None

    @property
    def can_restart_redis(self) -> bool:
        return self._restart_redis is not None

    def restart_redis(self) -> None:
        if self._restart_redis is None:
            raise RestartUnsupported("REDIS_URL points at a Redis this process did not start")
        self._restart_redis()

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap, "REDIS_URL": self.redis_url}

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def choose_mode() -> str:
    forced = os.environ.get("SHEBAO_INFRA")  # "docker" or "local" to override the detection
    if forced in ("docker", "local"):
        return forced
    return "docker" if docker_engine_answers() else "local"


def provision(data_dir: Path | None = None) -> Infra:
    """Kafka and Redis for a test session or a demo, stopped by Infra.stop()."""
    kafka_env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    redis_env = os.environ.get("REDIS_URL")
    mode = choose_mode()
    stops: list[Callable[[], None]] = []
    tmp: Path | None = None
    restart: Callable[[], None] | None = None
    try:
        if kafka_env:
            bootstrap = kafka_env
        elif mode == "docker":
            dk = DockerKafka().start()
            stops.append(dk.stop)
            bootstrap = dk.bootstrap
        else:
            if data_dir is None:
                tmp = data_dir = Path(tempfile.mkdtemp(prefix="shebao-infra-"))
            lk = LocalKafka(data_dir / "kafka").start()
            stops.append(lk.stop)
            bootstrap = lk.bootstrap
        if redis_env:
            redis_url = redis_env
        elif mode == "docker":
            dr = DockerRedis().start()
            stops.append(dr.stop)
            redis_url, restart = dr.url, dr.restart
        else:
            if data_dir is None:
                tmp = data_dir = Path(tempfile.mkdtemp(prefix="shebao-infra-"))
            lr = LocalRedis(data_dir / "redis").start()
            stops.append(lr.stop)
            redis_url, restart = lr.url, lr.restart
    except BaseException:
        for stop in reversed(stops):
            stop()
        raise
    used = "env" if kafka_env and redis_env else mode
    return Infra(bootstrap, redis_url, used, restart, stops, tmp)
