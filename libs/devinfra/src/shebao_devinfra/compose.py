"""The whole platform under compose (`make up`, `make down`): Kafka, Redis and every service as
containers, on Docker (`docker compose`) or podman (`podman-compose`, from the lock).

`up` builds what compose runs first (`images`: the services' images, and Kafka's and Redis's
where no registry answers), names them to compose.yaml by its `SHEBAO_*_IMAGE` variables, then
starts Kafka and Redis, waits for their health checks, starts the services and waits for theirs
(`/readyz`). Docker runs the health checks and honours `depends_on: service_healthy` itself;
podman before 4.6 cannot wait on a health condition and, without systemd, never runs a health
check on its own, so here the checks are run (`podman healthcheck run`) until they pass, in the
order `depends_on` gives: the same guarantee, kept by this driver.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

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

PROJECT = "shebao"
"""compose.yaml's project; a test brings up one of its own beside it (`Platform.project`)."""
INFRA = ("kafka", "redis")


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


def compose_command(engine: Engine) -> list[str]:
    if engine.name == "docker":
        return [engine.cli, "compose"]
    if shutil.which("podman-compose") is None:
        # the workspace's own (uv.lock), run by this interpreter
        return [sys.executable, "-m", "podman_compose", "--podman-path", engine.cli]
    return ["podman-compose", "--podman-path", engine.cli]


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
            **compose_env(self.redis_folder),
            **self.settings,
        }
        Engine(self.engine.name, cmd[0], env).run(*cmd[1:], *args, timeout=timeout)

    def build(self) -> None:
        """Every image compose.yaml names, so that `up` builds and pulls nothing."""
        self.images = {
            "SHEBAO_KAFKA_IMAGE": kafka_image(self.engine),
            "SHEBAO_REDIS_IMAGE": redis_image(self.engine),
            "SHEBAO_PYTHON_IMAGE": python_base(self.engine),
        }
        build_services(self.engine)

    def up(self, timeout: float = 300, before_apps: Callable[[], None] | None = None) -> None:
        """Kafka and Redis, healthy; then `before_apps` (e.g. a partner's topics created, as
        the platform team does when a hospital joins); then the services, healthy."""
        if not self.images:
            self.build()
        wait = ["--wait"] if self.engine.name == "docker" else []
        self._compose("up", "-d", "--no-build", *wait, *INFRA)
        self.wait_healthy(INFRA, timeout)
        if before_apps is not None:
            before_apps()
        # (Kafka and Redis as they are: podman-compose would otherwise recreate them)
        self._compose("--profile", "apps", "up", "-d", "--no-build", "--no-recreate", *wait)
        self.wait_healthy(tuple(self.ports.services), timeout)

    def partners(self, *, follow: bool = True, people: int = 1000, months: int = 3) -> Ran:
        """The partners' simulator (profile `partners`) against the platform that is up, until
        it exits: its exit code and its log (followed here as it runs, with `follow`)."""
        build_simulator(self.engine)
        profiles = ("--profile", "apps", "--profile", "partners")
        self.settings.update(
            {"SHEBAO_PARTNERS_PEOPLE": str(people), "SHEBAO_PARTNERS_MONTHS": str(months)}
        )
        self._compose(*profiles, "up", "-d", "--no-build", "--no-recreate", "partners")
        (cid,) = self.containers("partners")
        if follow:
            env = {**os.environ, **self.engine.env}
            subprocess.run([self.engine.cli, "logs", "-f", cid], env=env, check=False)
        code = self.engine.run("wait", cid, timeout=3600).stdout.decode().strip()
        logs = self.engine.run("logs", cid, check=False)
        self.engine.run("rm", cid, check=False)
        return Ran(int(code or 1), (logs.stdout + logs.stderr).decode(errors="replace"))

    def down(self) -> None:
        self._compose("--profile", "apps", "down", "-v", "-t", "40")

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
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            for name in list(pending):
                ids = self.containers(name)
                if ids and all(self._healthy(c) for c in ids):
                    pending.remove(name)
            if not pending:
                return
            if time.monotonic() > deadline:
                logs = {
                    n: self.engine.run("logs", "--tail", "30", c, check=False).stderr.decode(
                        errors="replace"
                    )
                    for n in pending
                    for c in self.containers(n)
                }
                raise EngineError(f"not healthy after {timeout:.0f} s: {pending}\n{logs}")
            time.sleep(2)

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
