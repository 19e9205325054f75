"""The Docker path: the same Apache Kafka 3.9 (KRaft) and Redis 7 (AOF), via testcontainers."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .local import (
    BROKER_SESSION_MINIMUM_MS,
    admin_credentials,
    free_port,
    secured_properties,
    server_jaas,
)
from .probe import wait_for_kafka, wait_for_redis

KAFKA_IMAGE = "apache/kafka:3.9.1"
REDIS_IMAGE = "redis:7.4"


def docker_engine_answers() -> bool:
    """True when a Docker engine runs, not merely when the client is installed."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        proc = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and bool(proc.stdout.strip())


def kafka_env_name(prop: str) -> str:
    """The KAFKA_* variable the official image (and `images`' local one) turns into the
    server.properties entry `prop`: `_` is written `__`, `-` is `___`, `.` is `_`, upper case
    (listener.name.client.scram-sha-512.sasl.jaas.config is
    KAFKA_LISTENER_NAME_CLIENT_SCRAM___SHA___512_SASL_JAAS_CONFIG)."""
    return "KAFKA_" + prop.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def kafka_env(properties: dict[str, str]) -> dict[str, str]:
    """The KAFKA_* variables of `properties`. The official image renders only variables whose
    value holds no `=` (it splits each `NAME=value` of the environment at every `=` and keeps
    those of two parts): any other would be dropped without a word, so it is refused here."""
    dropped = sorted(k for k, v in properties.items() if "=" in v)
    if dropped:
        raise ValueError(f"the official Kafka image would drop {dropped}: a value holds '='")
    return {kafka_env_name(k): v for k, v in properties.items()}


JAAS_IN_CONTAINER = "/etc/shebao/kafka_server_jaas.conf"


def admin_client_options(bootstrap: str) -> dict[str, object]:
    """aiokafka options of the operator's connection (`admin_credentials`) to a broker started
    with `secured_properties`: SASL PLAIN as the super user."""
    user, password = admin_credentials()
    return {
        "bootstrap_servers": bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
    }


@dataclass
class DockerKafka:
    container: Any = None
    port: int = 0
    image: str = KAFKA_IMAGE
    """The official image, or one with its conventions (`images.kafka_image`)."""
    properties: dict[str, str] = field(default_factory=dict)
    """Extra server.properties entries, passed as the image's KAFKA_* variables."""
    _secrets: Path | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DockerKafka:
        from testcontainers.core.container import DockerContainer

        # The advertised listener must name the host port, so the port is chosen before start.
        self.port = free_port()
        # SASL and ACLs as the local broker (`secured_properties`): SCRAM for every principal,
        # PLAIN for the process's operator (`admin_credentials`), on the listener CLIENT. The
        # login modules, with the operator's password, go in a JAAS file (`server_jaas`).
        user, password = admin_credentials()
        secured = {
            k: v
            for k, v in secured_properties(user, password).items()
            if not k.endswith(".sasl.jaas.config")
        }
        self._secrets = Path(tempfile.mkdtemp(prefix="shebao-kafka-jaas-"))
        jaas = self._secrets / "kafka_server_jaas.conf"
        jaas.write_text(server_jaas(user, password))
        jaas.chmod(0o644)  # the image's user is not this one; the folder is ours alone
        env = {
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_LISTENERS": "CLIENT://:9092,CONTROLLER://:9093",
            "KAFKA_ADVERTISED_LISTENERS": f"CLIENT://127.0.0.1:{self.port}",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_INTER_BROKER_LISTENER_NAME": "CLIENT",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
                "CONTROLLER:SASL_PLAINTEXT,CLIENT:SASL_PLAINTEXT"
            ),
            **kafka_env(secured),
            "KAFKA_OPTS": f"-Djava.security.auth.login.config={JAAS_IN_CONTAINER}",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
            "KAFKA_GROUP_MIN_SESSION_TIMEOUT_MS": str(BROKER_SESSION_MINIMUM_MS),
            "KAFKA_NUM_PARTITIONS": "4",
            **kafka_env(self.properties),
        }
        c = (
            DockerContainer(self.image)
            .with_bind_ports(9092, self.port)
            .with_volume_mapping(jaas, JAAS_IN_CONTAINER, "ro")
        )
        for k, v in env.items():
            c = c.with_env(k, v)
        self.container = c.start()
        wait_for_kafka(self.bootstrap, timeout=120, options=self.client_options())
        return self

    def client_options(self) -> dict[str, object]:
        """aiokafka options of the operator's connection to this broker."""
        return admin_client_options(self.bootstrap)

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None
        if self._secrets is not None:
            shutil.rmtree(self._secrets, ignore_errors=True)
            self._secrets = None

    # outages, for tests of how clients ride them out ------------------------------------------

    def down(self, *, kill: bool = False) -> None:
        """Stop the container (SIGTERM, or SIGKILL with `kill`) without removing it: its port
        binding and its data (the container's file system) are kept for `up()`."""
        wrapped = self.container.get_wrapped_container()
        if kill:
            wrapped.kill()
        else:
            wrapped.stop(timeout=30)

    def up(self, timeout: float = 120.0) -> DockerKafka:
        """Start the stopped container again; the image skips formatting already formatted
        storage, so the broker comes back with its topics and offsets."""
        self.container.get_wrapped_container().start()
        wait_for_kafka(self.bootstrap, timeout=timeout, options=self.client_options())
        return self

    def restart(self, *, kill: bool = False, timeout: float = 120.0) -> None:
        self.down(kill=kill)
        self.up(timeout=timeout)


@dataclass
class DockerRedis:
    """Redis 7 with the append-only file on and, as LocalRedis, ACL users: `default` off, an
    admin whose password is generated at start (`url` carries it), one user per catalog
    service. The ACL file is written inside the container by its command (`boot_script`), from
    an environment variable holding it (password hashes only)."""

    container: Any = None
    port: int = 0
    image: str = REDIS_IMAGE
    open_access: bool = False
    admin_password: str = ""

    @property
    def url(self) -> str:
        plain = f"redis://127.0.0.1:{self.port}/0"
        if self.open_access:
            return plain
        from .redis_users import ADMIN_USER, with_credentials

        return with_credentials(plain, ADMIN_USER, self.admin_password)

    def start(self) -> DockerRedis:
        import base64

        from testcontainers.core.container import DockerContainer

        from .redis_users import ACL_ENV, boot_script, derived_acl_file, new_password

        self.port = free_port()
        server_args = "--appendonly yes --appendfsync everysec --save ''"
        container = DockerContainer(self.image).with_bind_ports(6379, self.port)
        if self.open_access:
            container = container.with_command(f"redis-server {server_args}")
        else:
            self.admin_password = new_password()
            acl = base64.b64encode(derived_acl_file(self.admin_password).encode()).decode()
            container = container.with_env(ACL_ENV, acl).with_command(
                ["sh", "-c", boot_script("/data", server_args)]
            )
        self.container = container.start()
        wait_for_redis(self.url, timeout=60)
        return self

    def restart(self) -> None:
        wrapped = self.container.get_wrapped_container()
        wrapped.restart(timeout=20)
        wait_for_redis(self.url, timeout=60)

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None
