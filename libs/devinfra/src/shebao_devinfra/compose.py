"""The whole platform under compose (`make up`, `make down`): Kafka, Redis and every service as
containers, on Docker (`docker compose`) or podman (`podman-compose`, from the lock).

`up` builds what compose runs first (`images`: the services' images, and Kafka's and Redis's
where no registry answers), names them to compose.yaml by its `SHEBAO_*_IMAGE` variables, then
starts Kafka and Redis, waits for their health checks, starts the services and waits for theirs
(`/readyz`). Docker runs the health checks and honours `depends_on: service_healthy` itself;
podman before 4.6 cannot wait on a health condition and, without systemd, never runs a health
check on its own, so here the checks are run (`podman healthcheck run`) until they pass, in the
order `depends_on` gives: the same guarantee, kept by this driver.

Kafka runs with SASL and ACLs as everywhere else (`local.secured_properties`), and with TLS on
the compose network: `up` writes the secrets compose.yaml mounts into `.infra/secrets/<project>/`
(never committed): the operator's password (the broker's super user `admin`, PLAIN) and the
broker's JAAS file with it, the admin client's properties for the health check, a throwaway CA and
the broker's keystore (`tls`), and a password per service (`shebao-<service>`, SCRAM) and per
partner of deploy/partners.toml. The one-shot `kafka-init` gives each its credential and
ACLs (`python -m shebao_common.onboard apply`) before the services start; the partners'
simulator connects as the operator, since it also reads the platform's own event topics and
dead-letter topics to check its figures, which no partner may. The operator's password is the
one this process already acts with (`local.admin_credentials`), so a test's clients and the
platform agree.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from shebao_contracts import access

from .containers import Engine, EngineError
from .images import (
    build_services,
    build_simulator,
    kafka_image,
    python_base,
    redis_image,
    repo_root,
    services,
)
from .issuer import LocalIssuer, dev_issuer
from .local import ADMIN_USER, admin_credentials, server_jaas
from .tls import broker_tls

PROJECT = "shebao"
"""compose.yaml's project; a test brings up one of its own beside it (`Platform.project`)."""
INFRA = ("kafka", "redis")
INIT = "kafka-init"
"""The one-shot that gives every service and partner its Kafka credential and ACLs."""


def _port_var(name: str) -> str:
    return f"SHEBAO_{name.upper().replace('-', '_')}_PORT"


@dataclass(frozen=True)
class Ports:
    """The host ports compose.yaml binds on 127.0.0.1 (its defaults unless told)."""

    kafka: int = 9092
    redis: int = 6379
    services: Mapping[str, int] = field(
        default_factory=lambda: {s: 8081 + i for i, s in enumerate(_in_compose_order())}
    )

    def env(self) -> dict[str, str]:
        out = {"SHEBAO_KAFKA_PORT": str(self.kafka), "SHEBAO_REDIS_PORT": str(self.redis)}
        out.update({_port_var(s): str(p) for s, p in self.services.items()})
        return out

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis}/0"


def _in_compose_order() -> list[str]:
    """compose.yaml's services in its order (host ports 8081 onwards), those of the catalog."""
    import yaml  # type: ignore[import-untyped]

    entries = yaml.safe_load((repo_root() / "compose.yaml").read_text())["services"]
    return [name for name in entries if name in services()]


def secrets_dir(root: Path, project: str) -> Path:
    return root / ".infra" / "secrets" / project


def partners_file(root: Path) -> Path:
    return root / "deploy" / "partners.toml"


def admin_properties(user: str, password: str) -> str:
    """The operator's client properties on the compose network's listener (SASL_SSL), for
    Kafka's command-line tools (`--command-config`) in the broker's container."""
    return (
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{user}" password="{password}";\n'
        "ssl.truststore.type=PEM\n"
        "ssl.truststore.location=/run/secrets/kafka-ca\n"
    )


def write_secrets(directory: Path, root: Path) -> dict[str, str]:
    """The files compose.yaml mounts (see the module's docstring), drawn afresh but for the
    operator's password (this process's, `admin_credentials`); compose's variable naming them.

    On the host, the folder above `directory` is the owner's alone (0700). `directory` (0755) and
    its files (0644) are readable by all, because compose mounts them into containers whose users
    (Kafka's 1000, the services' 10001) are not the owner: each file as a secret, and the whole
    folder into `kafka-init` (a bind mount makes the mounted folder's own mode the one that
    counts; with 0700 kafka-init was refused its files)."""
    user, password = admin_credentials()
    if user != ADMIN_USER:
        raise EngineError(
            f"this process acts as Kafka user {user!r}; compose's broker has the operator "
            f"{ADMIN_USER!r} as super user (unset KAFKA_USERNAME and KAFKA_PASSWORD)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    directory.parent.chmod(0o700)
    directory.chmod(0o755)
    # the broker's names on the compose network and on the host's loopback
    tls = broker_tls(["kafka", "localhost"], ["127.0.0.1"])
    files: dict[str, str | bytes] = {
        "kafka-admin.password": password + "\n",
        "kafka-jaas.conf": server_jaas(user, password),
        "kafka-admin.properties": admin_properties(user, password),
        "kafka-ca.pem": tls.ca_pem,
        "kafka-keystore.p12": tls.keystore,
        "kafka-tls.properties": f"password={tls.password}\n",
    }
    users = [access.service_user(s) for s in services()]
    users += [p.user for p in access.load_partners(partners_file(root))]
    files.update({f"{u}.password": secrets.token_urlsafe(24) + "\n" for u in users})
    for name, content in files.items():
        path = directory / name
        path.unlink(missing_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        path.chmod(0o644)
    return {"SHEBAO_SECRETS": str(directory)}


def compose_command(engine: Engine) -> list[str]:
    if engine.name == "docker":
        return [engine.cli, "compose"]
    if shutil.which("podman-compose") is None:
        # the workspace's own (uv.lock), run by this interpreter
        return [sys.executable, "-m", "podman_compose", "--podman-path", engine.cli]
    return ["podman-compose", "--podman-path", engine.cli]


def infra_images(engine: Engine) -> dict[str, str]:
    """What compose.yaml names besides the services' images, built or pulled where missing:
    Kafka, Redis and the services' Python base, by compose.yaml's variables. A `Platform` given
    these (`images`) and the services' images built does not build again on `up`."""
    return {
        "SHEBAO_KAFKA_IMAGE": kafka_image(engine),
        "SHEBAO_REDIS_IMAGE": redis_image(engine),
        "SHEBAO_PYTHON_IMAGE": python_base(engine),
    }


@dataclass(frozen=True)
class Ran:
    code: int
    log: str


@dataclass
class Platform:
    """compose.yaml's project, driven on one engine."""

    engine: Engine
    ports: Ports = field(default_factory=Ports)
    root: Path = field(default_factory=repo_root)
    images: dict[str, str] = field(default_factory=dict)
    """compose.yaml's image variables (`infra_images`); empty, `up` builds every image first."""
    project: str = PROJECT
    settings: dict[str, str] = field(default_factory=dict)
    """More of compose.yaml's variables (the simulator's size)."""

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports.services[service]}"

    @cached_property
    def issuer(self) -> LocalIssuer:
        """The development token issuer whose JWKS compose mounts into every service."""
        return dev_issuer(self.root)

    def logs(self, service: str) -> str:
        return "".join(
            (p.stdout + p.stderr).decode(errors="replace")
            for c in self.containers(service)
            for p in [self.engine.run("logs", c, check=False)]
        )

    @property
    def secrets(self) -> Path:
        return secrets_dir(self.root, self.project)

    @property
    def redis_folder(self) -> Path:
        """The Redis users' passwords and ACL file (`shebao-infra redis-acl`), kept across runs."""
        return self.root / ".infra" / "redis"

    @property
    def redis_url(self) -> str:
        """The admin's URL of compose's Redis (tests, operators); services have users of their
        own."""
        from .redis_users import ADMIN_USER, password_files, with_credentials

        admin = password_files(self.redis_folder)[ADMIN_USER]
        return with_credentials(self.ports.redis_url, ADMIN_USER, admin)

    def _compose(self, *args: str, timeout: float = 900) -> None:
        from .redis_users import compose_env

        compose_yaml = str(self.root / "compose.yaml")
        cmd = [*compose_command(self.engine), "-p", self.project, "-f", compose_yaml]
        env = {
            **self.engine.env,
            "SHEBAO_AUTH_DIR": str(self.issuer.jwks_path.parent),
            **self.images,
            **self.ports.env(),
            "SHEBAO_SECRETS": str(self.secrets),
            **compose_env(self.redis_folder),
            **self.settings,
        }
        Engine(self.engine.name, cmd[0], env).run(*cmd[1:], *args, timeout=timeout)

    def build(self) -> None:
        """Every image compose.yaml names, so that `up` builds and pulls nothing."""
        self.images = infra_images(self.engine)
        build_services(self.engine)

    def up(self, timeout: float = 300, before_apps: Callable[[], None] | None = None) -> None:
        """Kafka and Redis, healthy; then `before_apps` (e.g. a partner's topics created, as
        the platform team does when a hospital joins); then the services, healthy."""
        if not self.images:
            self.build()
        write_secrets(self.secrets, self.root)
        wait = ["--wait"] if self.engine.name == "docker" else []
        self._compose("up", "-d", "--no-build", *wait, *INFRA)
        self.wait_healthy(INFRA, timeout)
        if before_apps is not None:
            before_apps()
        # kafka-init on its own first, its exit code checked; (Kafka and Redis as they are:
        # podman-compose would otherwise recreate them)
        apps = ("--profile", "apps", "up", "-d", "--no-build", "--no-recreate")
        self._compose(*apps, INIT)
        self.check_init()
        # Then the services, without their dependencies, all up and kafka-init done: podman
        # starts a container's --requires first, so kafka-init would run again for each service,
        # and podman 4.3 cannot start a container whose dependency has one of its own
        # ("generating dependency graph ... not found in input list").
        self._compose(*apps, "--no-deps", *wait, *self.ports.services)
        self.wait_healthy(tuple(self.ports.services), timeout)

    def check_init(self, timeout: float = 300) -> None:
        """`kafka-init` ran to its end and exited 0 (compose.yaml's `depends_on:
        service_completed_successfully`, which podman-compose reads as "stopped", whatever the
        exit code): a failure is caught here rather than as services that never get ready."""
        ids = self.containers(INIT)
        if not ids:
            raise EngineError(f"compose ran no {INIT}")
        for cid in ids:
            code = self.exit_code(cid, timeout)
            if code != 0:
                log = self.engine.run("logs", cid, check=False)
                raise EngineError(
                    f"{INIT} exited {code}:\n"
                    + (log.stdout + log.stderr).decode(errors="replace")[-3000:]
                )

    def partners(
        self, *, follow: bool = True, people: int = 1000, months: int = 3, build: bool = True
    ) -> Ran:
        """The partners' simulator (profile `partners`) against the platform that is up, until
        it exits: its exit code and its log (followed here as it runs, with `follow`). Its image
        is built first unless `build` is False (built already: the tests' `partners_image`)."""
        if build:
            build_simulator(self.engine)
        profiles = ("--profile", "apps", "--profile", "partners")
        self.settings.update(
            {
                "SHEBAO_PARTNERS_PEOPLE": str(people),
                "SHEBAO_PARTNERS_MONTHS": str(months),
                # the simulator reads the read side as an operator; the issuer's key stays here
                "SHEBAO_PARTNERS_READ_TOKEN": self.issuer.operator_token(ttl=6 * 3600),
            }
        )
        # (the services it depends on are up and healthy: see `up`, and `--no-deps` there)
        self._compose(*profiles, "up", "-d", "--no-build", "--no-recreate", "--no-deps", "partners")
        (cid,) = self.containers("partners")
        if follow:
            env = {**os.environ, **self.engine.env}
            subprocess.run([self.engine.cli, "logs", "-f", cid], env=env, check=False)
        code = self.exit_code(cid, 3600)
        logs = self.engine.run("logs", cid, check=False)
        self.engine.run("rm", cid, check=False)
        return Ran(code, (logs.stdout + logs.stderr).decode(errors="replace"))

    def exit_code(self, container: str, timeout: float) -> int:
        """The container's exit code once it has exited. Read from `inspect` rather than
        `wait`: without systemd, podman (4.3) leaves an exited container "stopped" until its
        clean-up, and `podman wait` answered only about 20 s after the exit."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self.engine.run(
                "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container
            )
            state, _, code = proc.stdout.decode().strip().partition(" ")
            if state in ("exited", "stopped", "dead"):
                return int(code or 1)
            if time.monotonic() > deadline:
                raise EngineError(f"{container} still {state} after {timeout:.0f} s")
            time.sleep(0.5)

    def down(self) -> None:
        # The services first, while Kafka and Redis still answer: each then finishes its batch,
        # flushes and leaves its groups in about a second. podman-compose's `down` stops every
        # container at once, and a service whose broker went away with it waited for it until
        # the stop timeout killed it (Docker stops in depends_on order by itself).
        running = [c for s in (*self.ports.services, "partners") for c in self.containers(s)]
        if running:
            self.engine.run("stop", "-t", "40", *running, check=False, timeout=120)
        self._compose("--profile", "apps", "down", "-v", "-t", "40")
        shutil.rmtree(self.secrets, ignore_errors=True)

    def containers(self, service: str) -> list[str]:
        out = self.engine.run(
            "ps", "-a", "-q",
            "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", f"label=com.docker.compose.service={service}",
        ).stdout.decode()  # fmt: skip
        return out.split()

    def health(self, container: str) -> str:
        proc = self.engine.run(
            "inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", container
        )
        state, _, health = proc.stdout.decode().strip().partition(" ")
        return health if state == "running" else state

    def wait_healthy(self, names: Sequence[str], timeout: float) -> None:
        """Every container of `names` healthy. The pending ones are asked at once, each in a
        thread, half a second after the last round: a health check (podman runs it when asked)
        starts a JVM for Kafka and a Python for a service, a second or more each, and asked one
        after another, then two seconds apart, they held `up` ~15 s past the last one ready."""
        deadline = time.monotonic() + timeout
        pending = list(names)

        def healthy(name: str) -> bool:
            ids = self.containers(name)
            return bool(ids) and all(self._healthy(c) for c in ids)

        with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
            while pending:
                answers = list(pool.map(healthy, pending))
                pending = [n for n, ok in zip(pending, answers, strict=True) if not ok]
                if not pending:
                    return
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        if not pending:
            return
        logs = {
            n: self.engine.run("logs", "--tail", "30", c, check=False).stderr.decode(
                errors="replace"
            )
            for n in pending
            for c in self.containers(n)
        }
        raise EngineError(f"not healthy after {timeout:.0f} s: {pending}\n{logs}")

    def _healthy(self, container: str) -> bool:
        status = self.health(container)
        if status == "healthy":
            return True
        if self.engine.name == "podman" and status in ("starting", "unhealthy", ""):
            # podman runs a health check only when asked, here: see the module's docstring
            return self.engine.run("healthcheck", "run", container, check=False).returncode == 0
        return False


def main(argv: Sequence[str], engine: Engine) -> int:
    platform = Platform(engine)
    cmd = argv[0] if argv else "up"
    if cmd == "up":
        platform.up()
        print(f"the platform is up on {engine.name}:")
        print(f"  Kafka  {platform.ports.bootstrap}\n  Redis  {platform.ports.redis_url}")
        print("  as the operator (SASL, the broker's super user):")
        print("    export KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT KAFKA_SASL_MECHANISM=PLAIN")
        print(f"    export KAFKA_USERNAME={ADMIN_USER}")
        print(f"    export KAFKA_PASSWORD_FILE={platform.secrets / 'kafka-admin.password'}")
        print(f"         (users: shebao-infra redis-acl; passwords in {platform.redis_folder})")
        for s, p in platform.ports.services.items():
            print(f"  {s:<24} http://127.0.0.1:{p}  (/readyz, /metrics, its read side)")
        return 0
    if cmd == "partners":
        people = int(os.environ.get("SHEBAO_PARTNERS_PEOPLE", "1000"))
        months = int(os.environ.get("SHEBAO_PARTNERS_MONTHS", "3"))
        return platform.partners(people=people, months=months).code
    if cmd == "down":
        platform.down()
        print("the platform is down; its data dropped")
        return 0
    print(f"unknown: {cmd} (up, partners or down)", file=sys.stderr)
    return 2
