"""One switch for real infrastructure: environment, else Docker, else local processes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .containers import Engine, find_engine, no_engine_reason
from .docker import KAFKA_IMAGE, REDIS_IMAGE, DockerKafka, DockerRedis, docker_engine_answers
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
    short_sessions: bool = False
    """The broker is one this process started (`local.BROKER_SESSION_MINIMUM_MS`): its
    consumers may ask for sessions shorter than Kafka's default minimum of 6 s (a test that
    SIGKILLs consumers then waits less for their partitions to move). False for a broker given
    by address, whose minimum is its operator's."""

    @property
    def redis_address(self) -> str:
        """`redis_url` without the admin's credentials, to print."""
        from .redis_users import without_credentials

        return without_credentials(self.redis_url)

    @property
    def can_restart_redis(self) -> bool:
        return self._restart_redis is not None

    def restart_redis(self) -> None:
        if self._restart_redis is None:
            raise RestartUnsupported("REDIS_URL points at a Redis this process did not start")
        self._restart_redis()

    def env(self) -> dict[str, str]:
        return {"KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap, "REDIS_URL": self.redis_url}

    def __enter__(self) -> Infra:
        """`with provision() as infra:` stops what it started however the block ends. A local
        broker and Redis run in sessions of their own (Ctrl-C is held back while they start, and
        `make infra-up` keeps them after it exits), so a script that never stops them leaves them
        running."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        for stop in reversed(self._stops):
            stop()
        self._stops.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _docker_host_socket() -> bool:
    """DOCKER_HOST names a socket that exists: a Docker engine, or podman's Docker API."""
    host = os.environ.get("DOCKER_HOST", "")
    return host.startswith("unix://") and Path(host.removeprefix("unix://")).is_socket()


def choose_mode() -> str:
    """Given addresses aside (KAFKA_BOOTSTRAP_SERVERS, REDIS_URL): containers where an engine is
    found by its socket (a Docker engine that answers, or DOCKER_HOST naming podman's API), else
    local processes. SHEBAO_INFRA=docker|containers|local forces one; `containers` also starts
    podman's API when no socket is given."""
    forced = os.environ.get("SHEBAO_INFRA")
    if forced == "containers":
        return "docker"
    if forced in ("docker", "local"):
        return forced
    return "docker" if docker_engine_answers() or _docker_host_socket() else "local"


def _container_images(stops: list[Callable[[], None]]) -> tuple[str, str]:
    """The engine's Kafka and Redis images; with podman and no DOCKER_HOST, its Docker API is
    started for testcontainers and stopped with the rest."""
    from .images import kafka_image, redis_image

    engine = find_engine()
    if engine is None:
        raise RuntimeError(f"SHEBAO_INFRA asks for containers: {no_engine_reason()}")
    if engine.name == "podman" and not _docker_host_socket():
        stack = ExitStack()
        os.environ.update(stack.enter_context(engine.docker_api()))
        stops.append(stack.close)
    return kafka_image(engine), redis_image(engine)


def provision(data_dir: Path | None = None) -> Infra:
    """Kafka and Redis for a test session or a demo, stopped by Infra.stop() (or at the end of a
    `with provision() as infra:` block)."""
    kafka_env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    redis_env = os.environ.get("REDIS_URL")
    mode = choose_mode()
    stops: list[Callable[[], None]] = []
    tmp: Path | None = None
    restart: Callable[[], None] | None = None
    kafka_tag, redis_tag = KAFKA_IMAGE, REDIS_IMAGE
    try:
        if mode == "docker" and not (kafka_env and redis_env):
            kafka_tag, redis_tag = _container_images(stops)
        if kafka_env:
            bootstrap = kafka_env
        elif mode == "docker":
            dk = DockerKafka(image=kafka_tag).start()
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
            dr = DockerRedis(image=redis_tag).start()
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
    return Infra(bootstrap, redis_url, used, restart, stops, tmp, short_sessions=not kafka_env)


@contextmanager
def on_containers(engine: Engine) -> Iterator[Infra]:
    """Kafka and Redis as containers started by testcontainers on `engine` (podman through its
    Docker API, on a socket of its own), with the images `images` chose; removed at the end."""
    from .images import kafka_image, redis_image

    kafka_tag, redis_tag = kafka_image(engine), redis_image(engine)
    with engine.docker_api() as api:
        saved = {k: os.environ.get(k) for k in api}
        os.environ.update(api)
        stops: list[Callable[[], None]] = []
        try:
            dk = DockerKafka(image=kafka_tag).start()
            stops.append(dk.stop)
            dr = DockerRedis(image=redis_tag).start()
            stops.append(dr.stop)
            yield Infra(dk.bootstrap, dr.url, f"containers ({engine.name})", dr.restart, stops)
        finally:
            for stop in reversed(stops):
                stop()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
