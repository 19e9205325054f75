"""Every service's image builds with the project's Dockerfile and starts as it will in a cluster:
as user 10001, on a read-only root filesystem, answering /healthz.

Runs on Docker or podman (`shebao_devinfra.containers`); skipped, with the reason, only where
neither is installed or answers.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import pytest

from shebao_devinfra.containers import Engine
from shebao_devinfra.images import services
from shebao_devinfra.local import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine(container_engine: Engine) -> Engine:
    return container_engine


@pytest.fixture(scope="module")
def images(service_images: dict[str, str]) -> dict[str, str]:
    """`images.build_services`, run once for the session (the compose tests run these images)."""
    return service_images


def _healthz(port: int) -> dict[str, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return dict(json.loads(resp.read())) if resp.status == 200 else None
    except OSError:
        return None


@pytest.fixture(scope="module")
def running(engine: Engine, images: dict[str, str]) -> Iterator[dict[str, tuple[str, int]]]:
    """Each image started detached, with nothing to connect to: a service is alive (/healthz)
    while it waits for Kafka, and not ready."""
    started: dict[str, tuple[str, int]] = {}
    try:
        for service, tag in images.items():
            port = free_port()
            cid = engine.run(
                "run", "-d", "--read-only", "--tmpfs", "/tmp", "-p", f"127.0.0.1:{port}:8080",
                "-e", "KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:1",
                "-e", "REDIS_URL=redis://127.0.0.1:1/0",
                tag,
            ).stdout.decode().strip()  # fmt: skip
            started[service] = (cid, port)
        yield started
    finally:
        for cid, _ in started.values():
            engine.run("rm", "-f", cid, check=False)


def test_the_catalog_has_an_image_per_service(images: dict[str, str]) -> None:
    assert sorted(images) == sorted(services())
    assert all(tag == f"shebao/{s}:dev" for s, tag in images.items())


def test_each_image_answers_healthz_as_a_non_root_user_on_a_read_only_root(
    engine: Engine, running: dict[str, tuple[str, int]]
) -> None:
    deadline = time.monotonic() + 90
    answered: dict[str, dict[str, str]] = {}
    while len(answered) < len(running) and time.monotonic() < deadline:
        for service, (_, port) in running.items():
            if service not in answered and (body := _healthz(port)) is not None:
                answered[service] = body
        time.sleep(0.5)
    logs = {
        s: engine.run("logs", cid, check=False).stderr.decode(errors="replace")[-1500:]
        for s, (cid, _) in running.items()
        if s not in answered
    }
    assert answered == {s: {"status": "alive", "service": s} for s in running}, logs

    for service, (cid, _) in running.items():
        uid = engine.run("exec", cid, "id", "-u").stdout.decode().strip()
        assert uid == "10001", service
        wrote = engine.run("exec", cid, "sh", "-c", "touch /app/x", check=False)
        assert wrote.returncode != 0 and b"Read-only file system" in wrote.stderr, service
        # /tmp is the one writable place, in memory
        assert engine.run("exec", cid, "sh", "-c", "touch /tmp/x").returncode == 0
