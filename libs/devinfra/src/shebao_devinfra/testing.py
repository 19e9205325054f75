"""Test helpers shared by every service's integration tests and the end-to-end suite.

A service under test runs as a real process (its console entry point) against real Kafka and
Redis; tests talk to it only through topics and its HTTP endpoints, as a user would.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shebao_common.kafka_security import client_options
from shebao_common.onboard import grant_service, operator
from shebao_common.settings import KafkaConnection
from shebao_contracts import access
from shebao_contracts.catalog import CONTRACTS
from shebao_contracts.topics import ServiceContract

from .issuer import LocalIssuer
from .local import free_port, write_secret

DEFAULT = object()
TEST_PURPOSE = "automated test"


class _Reachable:
    """What a test reads of a service, whoever started it: its log, its /metrics and its read
    side at `url` (with a token of `issuer`, when the service trusts one)."""

    issuer: LocalIssuer | None = None
    _operator_token: str | None = None
    _minted_at = 0.0

    @property
    def url(self) -> str:
        raise NotImplementedError

    def log_text(self) -> str:
        raise NotImplementedError

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    async def metric(self, name: str, **labels: str) -> float:
        """Sum of a Prometheus metric's samples whose labels include the given ones."""
        return (await self.metrics()).sum(name, **labels)

    async def metrics(self) -> Metrics:
        """One scrape of /metrics, to read several values from the same moment."""
        _, body = await http_get(f"{self.url}/metrics")
        return Metrics(body.decode())

    def operator_token(self) -> str | None:
        """A province-wide token of the service's issuer (valid for an hour, minted again after
        half of it, so a long test never sends an expired one)."""
        if self.issuer is None:
            return self._operator_token  # one given (RunningService's `token`), or none
        if self._operator_token is None or time.monotonic() - self._minted_at > 1800:
            self._operator_token = self.issuer.operator_token(ttl=3600)
            self._minted_at = time.monotonic()
        return self._operator_token

    async def get_json(
        self, path: str, *, token: Any = DEFAULT, purpose: str | None = TEST_PURPOSE
    ) -> tuple[int, Any]:
        """GET a read route, by default as an operator with a stated purpose; `token=None`
        sends no Authorization header, `purpose=None` no X-Shebao-Purpose."""
        import json

        bearer = self.operator_token() if token is DEFAULT else token
        headers = {}
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        if purpose is not None:
            headers["X-Shebao-Purpose"] = purpose
        status, body = await http_get(self.url + path, headers)
        return status, json.loads(body) if body else None


_GRANTED: dict[tuple[str, str], str] = {}


def service_principal(bootstrap: str, contract: ServiceContract) -> tuple[str, str] | None:
    """The service's own Kafka principal on this broker: (user, password), created with exactly
    its contract's ACLs the first time it is asked for. None when this process does not act as
    the broker's operator (no SASL identity in the environment: an open broker)."""
    conn = KafkaConnection()
    if not conn.kafka_security_protocol.startswith("SASL") or not conn.kafka_username:
        return None
    user = access.service_user(contract.service)
    key = (bootstrap, user)
    if key not in _GRANTED:
        admin_pw = conn.kafka_password_value() or ""
        password = hmac.new(admin_pw.encode(), user.encode(), hashlib.sha256).hexdigest()

        async def give() -> None:
            async with operator(bootstrap) as admin:
                await grant_service(admin, contract, password)

        # a thread of its own: the caller may be inside an event loop (an async test)
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, give()).result()
        _GRANTED[key] = password
    return user, _GRANTED[key]


class ServiceProcess(_Reachable):
    """A service started as `python -m <module>`, with its log in a file of its own, connected
    to Kafka as its own principal (`service_principal`) where the broker has them."""

    def __init__(
        self,
        name: str,
        module: str,
        *,
        kafka: str,
        redis_url: str,
        log_dir: Path,
        env: Mapping[str, str] | None = None,
        contract: ServiceContract | None = None,
        issuer: LocalIssuer | None = None,
        keys_of: str | None = None,
    ) -> None:
        """The service trusts `issuer` (by default a local one kept in `log_dir/auth`, shared by
        every service of the test) for its read side. `keys_of`: the runtime's name when it is
        not `name` (a test's service whose runtime is named per test): its Redis user gets that
        name's keys."""
        self.name = name
        self.contract = contract or next((c for c in CONTRACTS if c.service == name), None)
        self.keys_of = keys_of or name
        self.module = module
        self.issuer = issuer or LocalIssuer(log_dir / "auth")
        self.kafka = kafka
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = log_dir / f"{name}-{self.port}-0.log"

    @property
    def prefix(self) -> str:
        return "SHEBAO_" + self.name.upper().replace("-", "_") + "_"

    def redis_environment(self) -> dict[str, str]:
        """REDIS_URL, and where `redis_url` is an admin's (it carries a password, as
        `Infra.redis_url` does) the service's own user: created through that connection with
        the service's rules (`shebao_common.redis_acl`), its password in a file of its own."""
        from .redis_users import service_credentials, without_credentials

        creds = service_credentials(self.redis_url, self.keys_of)
        if creds is None:
            return {"REDIS_URL": self.redis_url}
        user, password = creds
        secret = self.log_dir / f".{user}.redis-password"
        write_secret(secret, password)
        return {
            "REDIS_URL": without_credentials(self.redis_url),
            "REDIS_USERNAME": user,
            "REDIS_PASSWORD_FILE": str(secret),
        }

    def environment(self, *, operator: bool = False) -> dict[str, str]:
        """The process environment the service runs with; with `operator`, as the operator's
        Kafka identity (this process's) instead of the service's own principal."""
        identity: dict[str, str] = {}
        if self.contract is not None and not operator:
            principal = service_principal(self.kafka, self.contract)
            if principal is not None:
                identity = {
                    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                    "KAFKA_USERNAME": principal[0],
                    "KAFKA_PASSWORD": principal[1],
                }
        inherited = dict(os.environ)
        if identity:
            inherited.pop("KAFKA_PASSWORD_FILE", None)  # the operator's, not the service's
        return {
            **inherited,
            **identity,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            **self.redis_environment(),
            "SHEBAO_ENVIRONMENT": "test",
            f"{self.prefix}HTTP_PORT": str(self.port),
            f"{self.prefix}HTTP_HOST": "127.0.0.1",
            f"{self.prefix}TOPIC_PARTITIONS": "4",
            f"{self.prefix}SESSION_TIMEOUT_MS": "6000",
            f"{self.prefix}HEARTBEAT_INTERVAL_MS": "1000",
            f"{self.prefix}METADATA_MAX_AGE_MS": "3000",
            **(self.issuer.env() if self.issuer is not None else {}),
            **self.env,
        }

    def start(self) -> None:
        self.starts += 1
        env = self.environment()
        self.log_path = self.log_dir / f"{self.name}-{self.port}-{self.starts}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def command(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """`python -m <module> <args>` run to its end with the service's environment (a
        one-off job such as `rebuild`), its output captured. It runs as the operator: a rebuild
        reads the dead-letter topics, which only operators may read."""
        return subprocess.run(
            [sys.executable, "-m", self.module, *args],
            env=self.environment(operator=True),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                code = self.proc.returncode if self.proc else None
                raise RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")
            status, _ = await http_get(f"{self.url}/readyz")
            if status == 200:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready:\n{self.log_tail()}")

    def log_text(self) -> str:
        return "".join(
            p.read_text(errors="replace")
            for p in sorted(self.log_dir.glob(f"{self.name}-{self.port}-*.log"))
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60.0) -> float:
        """SIGTERM; the seconds until the process was gone after a graceful shutdown."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        seconds = time.monotonic() - started
        # uvicorn re-raises the signal it handled once shutdown is complete, hence -SIGTERM.
        assert rc in (0, -signal.SIGTERM), f"exit status {rc}"
        log = self.log_path.read_text()
        assert "batches finished and outbox flushed" in log, log[-2000:]
        assert "service stopped" in log, log[-2000:]
        return seconds

    def stop(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


class RunningService(_Reachable):
    """A service someone else started (compose, a cluster): its read side and its log, as a
    test reads a ServiceProcess's; starting and stopping it is not the test's business."""

    def __init__(
        self,
        name: str,
        url: str,
        logs: Callable[[], str] | None = None,
        issuer: LocalIssuer | None = None,
        token: str | None = None,
    ) -> None:
        """`issuer`: the one the service trusts, when the test holds its key (compose); else
        `token`, one minted for the caller by whoever holds it (the partners' container)."""
        self.name, self._url, self._logs = name, url, logs
        self.issuer = issuer
        if token is not None:
            self._operator_token = token
        self.log_path = f"{name}'s own (its container's, its pod's)"

    @property
    def url(self) -> str:
        return self._url

    @property
    def alive(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    async def wait_ready(self, timeout: float = 60.0) -> None:
        async def ready() -> bool:
            status, _ = await http_get(self.url + "/readyz")
            return status == 200

        await wait_until(ready, timeout=timeout)

    def log_text(self) -> str:
        return self._logs() if self._logs is not None else ""


Service = ServiceProcess | RunningService
"""A service a test or the demo talks to: started by it, or running already."""


class Metrics:
    """A scrape of a service's Prometheus exposition."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def sum(self, name: str, **labels: str) -> float:
        """Sum of the metric's samples whose labels include the given ones."""
        total = 0.0
        for line in self.lines:
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total


def _stat_seconds(pid: int) -> tuple[float, float, float, float] | None:
    """A process's utime, stime, cutime and cstime in seconds (Linux /proc/PID/stat); None once
    it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, system, c_user, c_system = (int(f) / tick for f in fields[11:15])
    return user, system, c_user, c_system


def cpu_times(pid: int) -> tuple[float, float] | None:
    """User + system CPU seconds a process has used so far (Linux /proc), and those of the
    children it has waited for (cutime, cstime); None once it is gone."""
    times = _stat_seconds(pid)
    if times is None:
        return None
    user, system, c_user, c_system = times
    return user + system, c_user + c_system


def system_seconds(pid: int) -> float | None:
    """Of `cpu_times(pid)`'s own, the kernel's (system time: page faults, system calls)."""
    times = _stat_seconds(pid)
    return None if times is None else times[1]


def cpu_seconds(pid: int, children: bool = False) -> float | None:
    """User + system CPU a process has used so far (Linux /proc); None once it is gone. With
    `children`, also that of the children it has waited for (cutime, cstime)."""
    times = cpu_times(pid)
    if times is None:
        return None
    own, reaped = times
    return own + reaped if children else own


async def http_get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    def call() -> tuple[int, bytes]:
        request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as r:  # noqa: S310 - loopback URL
                return int(r.status), r.read()
        except urllib.error.HTTPError as e:
            return int(e.code), e.read()
        except OSError:
            return 0, b""

    return await asyncio.to_thread(call)


def platform_topics() -> list[str]:
    """Every topic of the catalog that is not a partner's, and its dead-letter topic."""
    from shebao_contracts.catalog import all_topics

    literal = [t.name for t in all_topics() if not t.is_template]
    return [*literal, *(name + ".dlq" for name in literal)]


async def recreate_topics(bootstrap: str, names: Iterable[str], partitions: int = 4) -> None:
    """Delete the topics if they exist and create them empty, so a test starts from nothing:
    the given ones and every internal topic of the platform, which a service started by the
    test may read even when the test never writes to it (another test's records left there
    would be read as this test's)."""
    names = sorted({*names, *platform_topics()})
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
            deadline = time.monotonic() + 30
            while set(await admin.list_topics()) & set(doomed):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"topics not deleted: {doomed}")
                await asyncio.sleep(0.2)
        for _ in range(50):
            try:
                await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
                break
            except Exception as exc:  # deletion can still be settling
                if "TopicAlreadyExists" not in type(exc).__name__ and "exists" not in str(exc):
                    raise
                await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 4) -> None:
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


async def producer(bootstrap: str, **kw: Any) -> AIOKafkaProducer:
    p = AIOKafkaProducer(
        **client_options(bootstrap=bootstrap), acks="all", enable_idempotence=True, **kw
    )
    await p.start()
    return p


def source_of(topic: str | None) -> str:
    """The `ce_source` a sender uses: on a partner's topic the partner's own, which the
    platform checks; elsewhere a test's."""
    from shebao_partners import partner_source_of

    return partner_source_of(topic or "") or "/test"


def message_record(
    message: Any,
    *,
    message_id: str,
    time: datetime,
    source: str | None = None,
    key: str | None = None,
    topic: str | None = None,
) -> tuple[bytes | None, bytes, list[tuple[str, bytes]]]:
    """(key, value, headers) of a contract message in CloudEvents binary mode, as sent to
    `topic` (which gives the default source)."""
    from shebao_partners import partner_headers

    headers = partner_headers(
        message.TYPE, message_id=message_id, time=time, source=source or source_of(topic)
    )
    return (key.encode() if key else None, message.model_dump_json().encode(), headers)


def fetches_asked(consumer: AIOKafkaConsumer) -> list[tuple[int, int]]:
    """From now on, (min bytes, max wait ms) of each fetch the consumer sends, in order: how the
    broker was asked to wait (`shebao_common.runtime.fetching`). Reads aiokafka's private client
    and request attributes, as the feature itself does."""
    asked: list[tuple[int, int]] = []
    send = consumer._client.send

    async def noting(node_id: Any, request: Any, *a: Any, **kw: Any) -> Any:
        if type(request).__name__ == "FetchRequest":
            asked.append((request._min_bytes, request._max_wait_ms))
        return await send(node_id, request, *a, **kw)

    consumer._client.send = noting
    return asked


async def read_all(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record of a topic, from the beginning to its end offsets as of the call."""
    c = AIOKafkaConsumer(
        **client_options(bootstrap=bootstrap), enable_auto_commit=False, group_id=None
    )
    await c.start()
    try:
        deadline = time.monotonic() + timeout
        parts = c.partitions_for_topic(topic)
        while not parts and time.monotonic() < deadline:
            await c._client.force_metadata_update()
            parts = c.partitions_for_topic(topic)
            if not parts:
                await asyncio.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        if not tps:
            return []
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        end = await c.end_offsets(tps)
        out: list[Any] = []
        while time.monotonic() < deadline:
            if all([await c.position(tp) >= end[tp] for tp in tps]):
                return out
            batch = await c.getmany(timeout_ms=500, max_records=10_000)
            for recs in batch.values():
                out.extend(recs)
        raise TimeoutError(f"could not read {topic} to its end")
    finally:
        await c.stop()


def redis_for(url: str, **options: Any) -> Any:
    """An asyncio client for `url` as the services build theirs (`shebao_common.redis_client`):
    a cluster client for a redis+cluster:// URL, with the URL's own user and password."""
    from shebao_common.redis_client import redis_client
    from shebao_common.settings import RedisConnection

    conn = RedisConnection(  # the URL alone: nothing from the environment
        REDIS_URL=url, REDIS_USERNAME=None, REDIS_PASSWORD=None, REDIS_PASSWORD_FILE=None
    )
    return redis_client(conn, **options)


async def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.2) -> None:
    """Await an async predicate until it holds; fail with a timeout otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(interval)
    raise TimeoutError("condition not met in time")


Partitions = int | Mapping[str, int]
"""Every topic's partition count, or each topic's (`partition_counts`)."""


def partitions_of(partitions: Partitions, topic: str) -> int:
    return partitions if isinstance(partitions, int) else partitions[topic]


async def partition_counts(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """Each topic's partition count, as the broker has it (the topics must exist)."""
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap))
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(list(topics))}
    finally:
        await admin.close()


class Follower:
    """Reads `topics` from their beginning in the background, as a partner or an office that
    keeps its consumer open would, and hands each record to `on_record`; a broker restarted
    under it is waited out. `partitions` is the topics' partition count (or each one's)."""

    def __init__(
        self,
        bootstrap: str,
        topics: Iterable[str],
        on_record: Callable[[Any], None],
        *,
        partitions: Partitions = 4,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.on_record = on_record
        self.partitions = partitions
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        c = AIOKafkaConsumer(
            **client_options(bootstrap=self.bootstrap), group_id=None, enable_auto_commit=False
        )
        await c.start()
        tps = [
            TopicPartition(t, p)
            for t in self.topics
            for p in range(partitions_of(self.partitions, t))
        ]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        self._consumer = c
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            except Exception:  # the broker is being restarted: the consumer reconnects
                await asyncio.sleep(0.5)
                continue
            for records in batch.values():
                for r in records:
                    self.on_record(r)

    def check(self) -> None:
        """Raise what stopped the reader, if it stopped (`on_record` failed)."""
        if self._task is not None and self._task.done():
            self._task.result()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
