"""A container engine for the images, compose and testcontainers: Docker where one answers, else
podman, configured from the project's cache and never from /etc.

`SHEBAO_CONTAINER_ENGINE` picks one (`docker`, `podman` or `none`); unset, a Docker engine that
answers wins, then podman when it is installed and runs a container.

podman is set up the way this kind of machine needs it, and the way a rootful podman on a
developer's machine takes without harm: the `runc` runtime, the `cgroupfs` manager, events to a
file, and default ulimits low enough that podman need not raise them (a sandbox without
`CAP_SYS_RESOURCE` refuses "setrlimit"). Its configuration and image storage live in the
project's `.infra/containers` (ignored by git and by the image builds' context), its run-time
state in a folder of /tmp, named to podman by `CONTAINERS_CONF` and `CONTAINERS_STORAGE_CONF`:
nothing is written outside the project but that temporary folder (not /etc, not
/var/lib/containers), and built images are kept between runs of the checkout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .docker import docker_engine_answers
from .local import cache_home


class EngineError(RuntimeError):
    """The container engine refused: the message names the command and what it printed."""


def _project() -> Path | None:
    """The checkout this module runs from (where `uv.lock` and the Dockerfile are), if any."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "uv.lock").exists() and (parent / "Dockerfile").exists():
            return parent
    return None


def _podman_dirs() -> tuple[Path, Path]:
    """The configuration and storage folder (kept: the project's .infra/containers, or the
    cache outside a checkout), and the run-time state folder (in /tmp, one per storage)."""
    project = _project()
    conf = project / ".infra" / "containers" if project else cache_home() / "containers"
    tag = hashlib.sha256(str(conf).encode()).hexdigest()[:8]
    return conf, Path(tempfile.gettempdir()) / f"shebao-podman-{os.getuid()}-{tag}"


def podman_env() -> dict[str, str]:
    """Writes the project's podman configuration (if it changed) and returns the variables that
    point podman at it."""
    conf, run = _podman_dirs()
    conf.mkdir(parents=True, exist_ok=True)
    containers_conf = conf / "containers.conf"
    storage_conf = conf / "storage.conf"
    wanted = {
        containers_conf: (
            "# written by shebao_devinfra.containers: podman for shebao's images and tests\n"
            "[containers]\n"
            'default_ulimits = ["nofile=16384:16384", "nproc=4096:4096"]\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{run / "events.log"}"\n'
            f'tmp_dir = "{run / "libpod"}"\n'
            f'static_dir = "{conf / "libpod"}"\n'
            f'volume_path = "{conf / "volumes"}"\n'
            "[network]\n"
            f'network_config_dir = "{conf / "networks"}"\n'
        ),
        storage_conf: (
            "# written by shebao_devinfra.containers\n"
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{conf / "storage"}"\n'
            f'runroot = "{run / "storage"}"\n'
            # the overlay driver would bind-mount its folder onto itself, and a mount inside
            # the checkout keeps `rm -rf` of the checkout from working
            "[storage.options.overlay]\n"
            'skip_mount_home = "true"\n'
        ),
    }
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    return {
        "CONTAINERS_CONF": str(containers_conf),
        "CONTAINERS_STORAGE_CONF": str(storage_conf),
    }


@dataclass(frozen=True)
class Engine:
    """A container engine's command line, with the environment it needs."""

    name: str
    """"docker" or "podman"."""
    cli: str
    env: Mapping[str, str] = field(default_factory=dict)

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float | None = 600,
        stdin: bytes | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [self.cli, *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            env={**os.environ, **self.env},
            check=False,
        )
        if check and proc.returncode != 0:
            said = (proc.stderr or proc.stdout).decode(errors="replace")[-3000:]
            what = " ".join(args[:3])
            raise EngineError(f"{self.name} {what} … failed ({proc.returncode}):\n{said}")
        return proc

    def has_image(self, tag: str) -> bool:
        return self.run("image", "inspect", tag, check=False, timeout=60).returncode == 0

    def build(
        self,
        context: Path,
        tag: str,
        *,
        file: Path | None = None,
        build_args: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        args = ["build", "-t", tag]
        if self.name == "podman":
            # the build's RUN steps reach the package mirrors the host reaches
            args += ["--network", "host"]
        if file is not None:
            args += ["-f", str(file)]
        for k, v in (build_args or {}).items():
            args += ["--build-arg", f"{k}={v}"]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        self.run(*args, str(context), timeout=1800)

    def label(self, tag: str, key: str) -> str | None:
        proc = self.run(
            "image", "inspect", "--format", f'{{{{index .Labels "{key}"}}}}', tag, check=False
        )
        value = proc.stdout.decode().strip()
        return value if proc.returncode == 0 and value not in ("", "<no value>") else None

    @contextmanager
    def docker_api(self) -> Iterator[dict[str, str]]:
        """The variables that make the Docker SDK (and testcontainers) use this engine: none for
        Docker; for podman, its Docker-compatible API on a socket in a temporary folder, started
        here and stopped by pid when the block ends."""
        if self.name == "docker":
            yield {}
            return
        folder = Path(tempfile.mkdtemp(prefix="shebao-podman-api-"))
        sock = folder / "podman.sock"
        proc = subprocess.Popen(
            [self.cli, "system", "service", "--time=0", f"unix://{sock}"],
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=open(folder / "service.log", "wb"),  # noqa: SIM115 - closed with the process
        )
        try:
            deadline = time.monotonic() + 30
            while not sock.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise EngineError(
                        "podman system service did not open its socket: "
                        + (folder / "service.log").read_text(errors="replace")[-2000:]
                    )
                time.sleep(0.1)
            yield {
                "DOCKER_HOST": f"unix://{sock}",
                "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
                "TC_HOST": "127.0.0.1",
                "TESTCONTAINERS_RYUK_DISABLED": "true",
            }
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(folder, ignore_errors=True)


def _podman() -> Engine | None:
    cli = shutil.which("podman")
    if cli is None:
        return None
    engine = Engine("podman", cli, podman_env())
    try:
        ok = engine.run("info", "--format", "{{.Host.OCIRuntime.Name}}", check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return engine if ok.returncode == 0 else None


def find_engine() -> Engine | None:
    """The engine to use, or None when there is none (the reason is `no_engine_reason()`)."""
    chosen = os.environ.get("SHEBAO_CONTAINER_ENGINE", "").strip().lower()
    if chosen == "none":
        return None
    if chosen in ("", "docker") and docker_engine_answers():
        return Engine("docker", shutil.which("docker") or "docker")
    if chosen in ("", "podman"):
        return _podman()
    return None


def no_engine_reason() -> str:
    if os.environ.get("SHEBAO_CONTAINER_ENGINE", "").strip().lower() == "none":
        return "SHEBAO_CONTAINER_ENGINE=none"
    if shutil.which("podman") is None and shutil.which("docker") is None:
        return (
            "no container engine: neither Docker nor podman is installed "
            "(scripts/bootstrap.sh --containers installs podman, as root)"
        )
    return "no container engine answers: `docker info` fails and `podman info` fails"
