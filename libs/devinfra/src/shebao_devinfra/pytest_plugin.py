"""pytest fixtures for real Kafka and Redis, shared by every test session of the workspace.

`infra` gives one broker and one Redis for the whole session (started lazily, only when an
integration test asks). `restartable_redis` gives a Redis owned by this session that a test may
restart, for crash-recovery tests; `restartable_kafka` likewise a broker of the test's own that
it may take down and bring back on the same port with the same data, for broker-outage tests.
`redis_cluster` gives one local Redis Cluster for the session (redis+cluster://), and
`own_redis_cluster` one of the test's own, whose nodes it may kill.

`container_engine` is the session's Docker or podman (a test asking for it is skipped, with the
reason, where neither answers); `service_images` every service's image, built once for the
session (the image tests start them, the compose tests run them); `compose_images` the rest of
what compose.yaml names (Kafka, Redis, the Python base), for a `compose.Platform` that then builds
nothing again; `partners_image` the partners' simulator (compose's profile `partners`).

The images are built in a thread from the end of collection on, when a collected test asks for
any of them: a build waits on the engine, the network and the disk (about three minutes from an
empty image store, half a minute to find every layer cached) while the tests before the image
tests run. A test asking for an image waits for its build, and a failed build fails it as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

from .docker import DockerKafka, DockerRedis
from .infra import Infra, choose_mode, provision
from .local import InfraError, LocalKafka, LocalRedis
from .redis_cluster import LocalRedisCluster

if TYPE_CHECKING:
    from .containers import Engine


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
    data: Path | None = None
    if choose_mode() == "docker":
        server = DockerRedis().start()
    else:
        data = Path(tempfile.mkdtemp(prefix="shebao-redis-"))
        server = LocalRedis(data).start()
    try:
        yield RestartableRedis(server)
    finally:
        server.stop()
        if data is not None:
            shutil.rmtree(data, ignore_errors=True)


class RestartableKafka:
    """A single-node broker owned by one test: `down()` takes it away (SIGTERM, or SIGKILL with
    `kill=True`), `up()` brings it back on the same port with the same data, so clients that
    keep the bootstrap address reconnect to the same cluster, topics and offsets."""

    def __init__(self, server: LocalKafka | DockerKafka, mode: str) -> None:
        self._server = server
        self.mode = mode  # "local" or "docker"

    @property
    def bootstrap(self) -> str:
        return self._server.bootstrap

    def down(self, *, kill: bool = False) -> None:
        self._server.down(kill=kill)

    def up(self) -> None:
        self._server.up()

    def restart(self, *, kill: bool = False) -> None:
        self._server.restart(kill=kill)


_QUICK_BROKER_SESSION = {
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    # (consumers' sessions may be as short as 1 s on every broker devinfra starts:
    # local.BROKER_SESSION_MINIMUM_MS; test_chaos.py asks for 3 s)
}


@contextlib.contextmanager
def _own_kafka(properties: dict[str, str]) -> Iterator[RestartableKafka]:
    """A broker of the calling test's own, with extra server properties."""
    server: LocalKafka | DockerKafka
    mode = choose_mode()
    tmp: Path | None = None
    try:
        if mode == "docker":
            server = DockerKafka(properties=properties).start()
        else:
            tmp = Path(tempfile.mkdtemp(prefix="shebao-kafka-"))
            server = LocalKafka(tmp, properties=properties).start()
    except InfraError as exc:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            pytest.skip(
                "needs a Kafka broker of its own (a Docker engine, or Java and Maven for a local "
                f"broker); KAFKA_BOOTSTRAP_SERVERS names a shared one: {exc}"
            )
        pytest.fail(f"a Kafka broker of the test's own could not be started: {exc}")
    try:
        yield RestartableKafka(server, mode)
    finally:
        server.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def own_kafka(
    properties: dict[str, str] | None = None,
) -> contextlib.AbstractContextManager[RestartableKafka]:
    """A broker of the caller's own (for a module-scoped fixture): nothing another test left on
    the session's broker reaches it, e.g. a partner topic that a service's pattern would read."""
    return _own_kafka(properties or {})


@pytest.fixture
def restartable_kafka() -> Iterator[RestartableKafka]:
    """A broker of the test's own (Docker container or local process, as `infra` would choose)
    that the test may take down and bring back."""
    # After a SIGKILL the controller accepts the broker's new incarnation only once the old
    # one's session expired (broker.session.timeout.ms, 9 s by default): a shorter session
    # brings a killed broker back ~6 s sooner.
    with _own_kafka(_QUICK_BROKER_SESSION) as kafka:
        yield kafka


@pytest.fixture
def kafka_without_auto_create() -> Iterator[RestartableKafka]:
    """A broker of the test's own that creates no topic on first use, as production brokers."""
    with _own_kafka({"auto.create.topics.enable": "false"}) as kafka:
        yield kafka


class RedisClusterHandle:
    """A running local Redis Cluster: `url` (redis+cluster://, the admin's), `admin_password`,
    `seeds`, and `cluster`, the `LocalRedisCluster` itself (kill, failover, revive)."""

    def __init__(self, cluster: LocalRedisCluster) -> None:
        self.cluster = cluster

    @property
    def url(self) -> str:
        return self.cluster.url

    @property
    def admin_password(self) -> str:
        return self.cluster.admin_password

    @property
    def seeds(self) -> list[tuple[str, int]]:
        return list(self.cluster.seeds)


@contextlib.contextmanager
def _local_cluster() -> Iterator[RedisClusterHandle]:
    """A cluster of redis-server processes in a folder of its own, removed at the end. Also in
    Docker mode: there is no cluster image here, and the installed redis-server is the same
    server (make bootstrap installs it)."""
    tmp = Path(tempfile.mkdtemp(prefix="shebao-rcluster-"))
    cluster = LocalRedisCluster(tmp)
    try:
        try:
            cluster.start()
        except InfraError as exc:
            mode = choose_mode()
            pytest.fail(
                f"a local Redis Cluster could not be started ({mode} mode: the cluster always "
                f"runs on the installed redis-server): {exc}"
            )
        yield RedisClusterHandle(cluster)
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterHandle]:
    """One local Redis Cluster (3 masters, 1 replica each) for the session, started when a test
    first asks for it. Tests must not kill its nodes: `own_redis_cluster` is for that."""
    with _local_cluster() as handle:
        yield handle


@pytest.fixture
def own_redis_cluster() -> Iterator[RedisClusterHandle]:
    """A Redis Cluster of the test's own, which it may kill nodes of and revive."""
    with _local_cluster() as handle:
        yield handle


_IMAGE_FIXTURES = ("service_images", "compose_images", "partners_image")
_builds: dict[str, Future[Any]] = {}
_pool: ThreadPoolExecutor | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start building the images the collected tests ask for, in order, in one thread."""
    global _pool
    if session.config.option.collectonly:
        return
    wanted = {
        name
        for item in session.items
        for name in getattr(item, "fixturenames", ())
        if name in _IMAGE_FIXTURES
    }
    if not wanted:
        return
    from .compose import infra_images
    from .containers import find_engine
    from .images import build_services, build_simulator

    _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shebao-images")
    engine = _pool.submit(find_engine)
    _builds["container_engine"] = engine

    def with_engine(build: Callable[[Engine], Any]) -> Callable[[], Any]:
        def run() -> Any:
            found = engine.result()
            return None if found is None else build(found)

        return run

    # what every one of the three fixtures needs first (compose_images asks for service_images)
    _builds["service_images"] = _pool.submit(with_engine(build_services))
    if "compose_images" in wanted:
        _builds["compose_images"] = _pool.submit(with_engine(infra_images))
    if "partners_image" in wanted:
        _builds["partners_image"] = _pool.submit(with_engine(build_simulator))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A session that ends before its image tests (-x, ^C) waits for the build under way only."""
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)


T = TypeVar("T")


def _built(name: str, build: Callable[[], T]) -> T:
    """The background build's result (`pytest_collection_finish`), or `build()` now where
    there was none."""
    started = _builds.get(name)
    return build() if started is None else cast("T", started.result())


@pytest.fixture(scope="session")
def container_engine() -> Engine:
    """Docker or podman (`containers.find_engine`); skipped, with the reason, where neither is
    installed or answers."""
    from .containers import find_engine, no_engine_reason

    found = _built("container_engine", find_engine)
    if found is None:
        pytest.skip(no_engine_reason())
    return found


@pytest.fixture(scope="session")
def service_images(container_engine: Engine) -> dict[str, str]:
    """Every service's image (`images.build_services`), built once for the session: each build
    of the same sources again only checked the engine's cache, about 6 s an image, and the image
    test and both compose tests built all five."""
    from .images import build_services

    return _built("service_images", lambda: build_services(container_engine))


@pytest.fixture(scope="session")
def compose_images(container_engine: Engine, service_images: dict[str, str]) -> dict[str, str]:
    """compose.yaml's image variables (`compose.infra_images`), once the services' images are
    built: a `compose.Platform` given them as its `images` builds nothing on `up`."""
    from .compose import infra_images

    return _built("compose_images", lambda: infra_images(container_engine))


@pytest.fixture(scope="session")
def partners_image(container_engine: Engine) -> str:
    """The partners' simulator's image (`images.build_simulator`): `Platform.partners(build=
    False)` then runs it as it is."""
    from .images import build_simulator

    return _built("partners_image", lambda: build_simulator(container_engine))
