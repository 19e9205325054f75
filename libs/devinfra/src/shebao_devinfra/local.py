"""The no-Docker path: a real Apache Kafka broker from Maven Central jars and a real redis-server.

Both run as plain processes on loopback, on free ports, with their data in a folder of their own,
and are stopped by their own pid. Nothing here is a stand-in: it is the broker and the server a
user runs in production, started without a container engine.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .probe import wait_for_kafka, wait_for_redis

BROKER_SESSION_MINIMUM_MS = 1000
"""`group.min.session.timeout.ms` of every broker devinfra starts (Kafka's default: 6,000):
the services keep their own sessions (30 s, 6 s in tests), and a test that SIGKILLs consumers
may ask for shorter ones, so that their partitions move sooner (`Infra.short_sessions`)."""

KAFKA_VERSION = "3.9.2"


class InfraError(RuntimeError):
    """Kafka or Redis could not be provided; the message says what to install or set."""


def cache_home() -> Path:
    base = os.environ.get("SHEBAO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "shebao"
    )
    return Path(base)


_PORTS = random.Random()  # its own generator: a test seeding `random` must not make two
# processes draw the same ports
_GIVEN: set[int] = set()  # every port handed out by this process: it may not listen there yet


def ephemeral_low() -> int:
    """The lowest port the kernel hands out to outgoing connections (Linux's
    ip_local_port_range; IANA's 49152 elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def free_port() -> int:
    """A port nothing listens on, below the kernel's ephemeral range. A process restarted on its
    port (a service, the broker or Redis in the crash and chaos tests) must find it free: a port
    from the ephemeral range can be given meanwhile to an outgoing connection, and the restart
    fails with EADDRINUSE (the chaos run of 33e7b3a lost a restarted welfare that way).

    Never the same port twice in one process: a port handed out is free until its process
    starts, and a second caller in between (the benchmark picks every service's port before
    starting them) would be given it too, and one of the two would fail with EADDRINUSE."""
    low = ephemeral_low()
    if low > 11_000:
        for _ in range(200):
            port = _PORTS.randrange(10_000, low)
            if port in _GIVEN:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _GIVEN.add(port)
            return port
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def _log(msg: str) -> None:
    print(f"[shebao-infra] {msg}", file=sys.stderr, flush=True)


def ensure_kafka_jars() -> Path:
    """Resolve the broker's runtime jars with Maven into the cache, once."""
    target = cache_home() / f"kafka-{KAFKA_VERSION}" / "libs"
    marker = target / ".complete"
    if marker.exists():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError(
            "Maven (mvn) is needed to fetch Kafka's jars from Maven Central; "
            "install it (apt-get install maven) or set KAFKA_BOOTSTRAP_SERVERS"
        )
    if shutil.which("java") is None:
        raise InfraError(
            "Java 17 is needed to run the Kafka broker (apt-get install openjdk-17-jre)"
        )
    target.mkdir(parents=True, exist_ok=True)
    pom = resources.files("shebao_devinfra") / "kafka" / "pom.xml"
    with resources.as_file(pom) as pom_path:
        _log(f"resolving Apache Kafka {KAFKA_VERSION} jars from Maven Central into {target}")
        proc = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-f",
                str(pom_path),
                f"-Dkafka.version={KAFKA_VERSION}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={target}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise InfraError(
            f"mvn could not resolve Kafka {KAFKA_VERSION}:\n{proc.stdout}\n{proc.stderr}"
        )
    if not any(target.glob(f"kafka_2.13-{KAFKA_VERSION}.jar")):
        raise InfraError(f"mvn finished but kafka_2.13-{KAFKA_VERSION}.jar is not in {target}")
    marker.touch()
    return target


ADMIN_USER = "admin"


def admin_credentials() -> tuple[str, str]:
    """The operators' principal of every broker this process starts: (user, password).

    Kafka here runs with SASL/SCRAM and ACLs, as in production. The environment names the
    identity every client of this process connects with (KAFKA_SECURITY_PROTOCOL,
    KAFKA_USERNAME, KAFKA_PASSWORD); when it names none, an admin password is drawn once and put
    there, so this process's tools and tests act as the operator, and services started from it
    are given principals of their own (`testing.ServiceProcess`).
    """
    from pydantic import ValidationError

    from shebao_common.settings import KafkaConnection

    try:
        conn = KafkaConnection()  # the settings every client of this process reads
    except ValidationError as exc:
        raise InfraError(str(exc)) from exc
    warn_plain_once()
    if conn.kafka_security_protocol.startswith("SASL"):
        return conn.kafka_username or ADMIN_USER, conn.kafka_password_value() or ""
    password = secrets.token_urlsafe(24)
    os.environ.update(operator_environment(KAFKA_PASSWORD=password))
    return ADMIN_USER, password


PLAIN_WARNING = "Sending username and password in the clear"


class _SaidOnce(logging.Filter):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message, self.said = message, False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != self.message:
            return True
        said, self.said = self.said, True
        return not said


def warn_plain_once() -> None:
    """aiokafka warns on every connection it authenticates with SASL PLAIN over plaintext. The
    operator of a broker started here is PLAIN (its password is in the broker's configuration),
    and the benchmark and the demo open dozens of connections as the operator: the same line
    dozens of times among their results. It is said once a process, as true as before."""
    conn = logging.getLogger("aiokafka.conn")
    if not any(isinstance(f, _SaidOnce) for f in conn.filters):
        conn.addFilter(_SaidOnce(PLAIN_WARNING))


def operator_environment(**password: str) -> dict[str, str]:
    """The operator's Kafka identity on a broker started here, as environment variables;
    `password` is KAFKA_PASSWORD=... or KAFKA_PASSWORD_FILE=...."""
    return {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_USERNAME": ADMIN_USER,
        **password,
    }


def write_secret(path: Path, text: str) -> None:
    """`text` into `path`, readable by its owner only (0600) before anything is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def secured_properties(user: str, password: str) -> dict[str, str]:
    """server.properties entries for SASL on the client listener (named CLIENT): SCRAM-SHA-512
    for every principal, PLAIN for `user` alone, the broker's own super user, whose password is
    in the broker's configuration (SCRAM credentials live in the cluster's metadata, so the first
    one must be created by someone who can log in without one: Strimzi does the same with its
    own operator user). Broker and controller speak PLAIN as `user`; the StandardAuthorizer
    refuses whatever no ACL allows. Shared by the local broker and the broker containers."""
    plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{user}" password="{password}" user_{user}="{password}";'
    )
    return {
        "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
        "listener.name.client.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "listener.name.client.plain.sasl.jaas.config": plain,
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": plain,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{user}",
    }


def server_jaas(user: str, password: str) -> str:
    """`secured_properties`' login modules as a JAAS file (`KafkaServer`, every listener): PLAIN
    for `user`, whose password is here (also the one the broker logs in to its controller with),
    SCRAM for every other principal. For brokers configured by environment variables: the official
    image drops a KAFKA_* variable whose value holds a `=`, as every JAAS line with a password
    does, so the file is mounted and named by KAFKA_OPTS instead."""
    return (
        "KafkaServer {\n"
        "  org.apache.kafka.common.security.plain.PlainLoginModule required\n"
        f'    username="{user}" password="{password}" user_{user}="{password}";\n'
        "  org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
        "};\n"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_pid(pid: int, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
    """Stop a process we started (by its own pid), escalating to SIGKILL after timeout."""
    if not _pid_alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Reap it if it is our child, so it does not linger as a zombie that still "exists".
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        if not _pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@dataclass
class LocalKafka:
    """Apache Kafka in KRaft combined mode (broker + controller, one node) on loopback."""

    data_dir: Path
    port: int = 0
    controller_port: int = 0
    partitions: int = 4
    pid: int | None = None
    heap: str = "768m"
    jit: tuple[str, ...] = ("-XX:TieredStopAtLevel=1",)
    """JIT flags. Only the quick compiler (C1) by default: a broker that lives for a test session
    or a benchmark spent 0.2-0.5 of a core in C2 compiler threads for its first minutes, taken
    from the services under test on a 2-core machine (measured by thread in `make bench`
    runs: broker 0.65-0.72 cores at 1,000 claims/s with C2, 0.37-0.42 with C1 only).
    SHEBAO_KAFKA_JVM_OPTS adds flags after these (e.g. -XX:TieredStopAtLevel=4 for C2)."""
    properties: dict[str, str] = field(default_factory=dict)
    """Extra server.properties entries; they come last, so they override the defaults."""
    secure: bool = True
    """SASL/SCRAM and ACLs with the process's admin principal (`admin_credentials`); False
    gives an open PLAINTEXT broker, for nothing but a check that the open one is refused."""

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> LocalKafka:
        libs = ensure_kafka_jars()
        self.port = self.port or free_port()
        self.controller_port = self.controller_port or free_port()
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        props = self.data_dir / "server.properties"
        protocol = "SASL_PLAINTEXT" if self.secure else "PLAINTEXT"
        user, password = admin_credentials() if self.secure else ("", "")
        secured = secured_properties(user, password) if self.secure else {}
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=CLIENT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=CLIENT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=CLIENT",
                    f"listener.security.protocol.map=CLIENT:{protocol},CONTROLLER:{protocol}",
                    *(f"{k}={v}" for k, v in secured.items()),
                    f"log.dirs={self.data_dir / 'data'}",
                    f"num.partitions={self.partitions}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=8",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    f"group.min.session.timeout.ms={BROKER_SESSION_MINIMUM_MS}",
                    "auto.create.topics.enable=true",
                    "log.retention.hours=168",
                    *(f"{k}={v}" for k, v in self.properties.items()),
                    "",
                ]
            )
        )
        java = shutil.which("java") or "java"
        cp = f"{libs}/*"
        log4j = resources.files("shebao_devinfra") / "kafka" / "log4j.properties"
        log4j_path = self.data_dir / "log4j.properties"
        log4j_path.write_text(log4j.read_text())
        jvm = [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            *self.jit,
            *os.environ.get("SHEBAO_KAFKA_JVM_OPTS", "").split(),
            f"-Dlog4j.configuration=file:{log4j_path}",
            f"-Dkafka.logs.dir={logs}",
            "-cp",
            cp,
        ]
        if not (self.data_dir / "data" / "meta.properties").exists():
            fmt = subprocess.run(
                [
                    *jvm,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    _cluster_id(),
                    "-c",
                    str(props),
                    "--ignore-formatted",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise InfraError(f"kafka storage format failed:\n{fmt.stdout}\n{fmt.stderr}")
        out = open(logs / "stdout.log", "ab")  # noqa: SIM115 - handed to the child process
        proc = subprocess.Popen(
            [*jvm, "kafka.Kafka", str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self.pid = proc.pid
        try:
            wait_for_kafka(
                self.bootstrap,
                timeout=timeout,
                alive=lambda: proc.poll() is None,
                options=self.client_options(),
            )
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C while waiting: do not leave it running
                self.stop()
                raise
            self.stop()
            tail = _tail(logs / "server.log") + _tail(logs / "stdout.log")
            raise InfraError(f"Kafka did not come up on {self.bootstrap}: {exc}\n{tail}") from exc
        return self

    def client_options(self) -> dict[str, object]:
        """aiokafka options of the operator's connection to this broker."""
        if not self.secure:
            return {"bootstrap_servers": self.bootstrap, "security_protocol": "PLAINTEXT"}
        user, password = admin_credentials()
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }

    def stop(self) -> None:
        if self.pid is not None:
            stop_pid(self.pid, timeout=30.0)
            self.pid = None

    # outages, for tests of how clients ride them out ------------------------------------------

    def down(self, *, kill: bool = False) -> None:
        """Take the broker away and keep its ports and data directory for `up()`.

        SIGTERM is a controlled shutdown (logs flushed, clean-shutdown marker written); `kill`
        sends SIGKILL instead, so the next start recovers its logs and producer state from disk.
        """
        if self.pid is not None:
            stop_pid(self.pid, timeout=30.0, sig=signal.SIGKILL if kill else signal.SIGTERM)
            self.pid = None

    def up(self, timeout: float = 90.0) -> LocalKafka:
        """Start the broker again after `down()`: same ports, same data (no re-format)."""
        if not self.port or not self.controller_port:
            raise InfraError("LocalKafka.up() needs a broker started before (its ports)")
        return self.start(timeout=timeout)

    def restart(self, *, kill: bool = False, timeout: float = 90.0) -> None:
        """`down()` then `up()`: the same broker on the same ports with the same data."""
        self.down(kill=kill)
        self.up(timeout=timeout)


def _cluster_id() -> str:
    # A KRaft cluster id: 16 random bytes, base64url, no padding (as StorageTool random-uuid).
    # One in 64 starts with "-", which StorageTool's parser takes for an option ("argument
    # --cluster-id/-t: expected one argument") and the broker never starts; Kafka's own
    # Uuid.randomUuid() draws again in that case, and so do we.
    import base64

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def ensure_redis_server() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        raise InfraError(
            "redis-server is not installed; `make bootstrap` installs it "
            "(apt-get install redis-server), or set REDIS_URL"
        )
    return exe


@dataclass
class LocalRedis:
    """redis-server with the append-only file on, so a restart keeps every acknowledged write,
    and with ACL users (`users.acl` in its data folder): the `default` user off, an admin whose
    password is generated at each start (`url` carries it), one user per catalog service
    (`redis_users`). `open_access=True` leaves it without users, for a throwaway instance."""

    data_dir: Path
    port: int = 0
    pid: int | None = None
    open_access: bool = False
    admin_password: str = ""
    _argv: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The admin's URL (redis://shebao-admin:<password>@127.0.0.1:<port>/0)."""
        plain = f"redis://127.0.0.1:{self.port}/0"
        if self.open_access:
            return plain
        from .redis_users import ADMIN_USER, with_credentials

        return with_credentials(plain, ADMIN_USER, self.admin_password)

    def start(self, timeout: float = 30.0) -> LocalRedis:
        exe = ensure_redis_server()
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        users: list[str] = []
        if not self.open_access:
            from .redis_users import new_password, write_acl_file

            self.admin_password = new_password()
            write_acl_file(self.data_dir / "users.acl", self.admin_password)
            users = ["--aclfile", str(self.data_dir / "users.acl")]
        self._argv = [
            exe,
            *users,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        self._spawn(timeout)
        return self

    def _spawn(self, timeout: float) -> None:
        proc = subprocess.Popen(
            self._argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = proc.pid
        try:
            wait_for_redis(self.url, timeout=timeout, alive=lambda: proc.poll() is None)
        except BaseException as exc:
            if not isinstance(exc, Exception):  # Ctrl-C while waiting: do not leave it running
                self.stop()
                raise
            self.stop()
            raise InfraError(
                f"redis-server did not come up on {self.url}: {exc}\n"
                f"{_tail(self.data_dir / 'redis.log')}"
            ) from exc

    def restart(self, timeout: float = 30.0) -> None:
        """Stop (SIGTERM: the AOF is fsynced) and start again on the same port and data."""
        self.stop()
        self._spawn(timeout)

    def stop(self) -> None:
        if self.pid is not None:
            stop_pid(self.pid, timeout=20.0)
            self.pid = None
