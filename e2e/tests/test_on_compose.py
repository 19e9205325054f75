"""The whole platform brought up by compose (compose.yaml, as `make up` does, on Docker or
podman) and the hospitals' flow run against it: the same test, the same exact amounts, as with
the services as local processes. The project is one of the test's own, on free ports, so a
developer's `make up` beside it is not touched. Skipped, with the reason, only where no
container engine is installed or answers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import test_medical_settlement_hospitals as hospitals

from shebao_devinfra.compose import Platform, Ports
from shebao_devinfra.containers import Engine
from shebao_devinfra.images import services
from shebao_devinfra.local import free_port
from shebao_devinfra.testing import RunningService, create_topics

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def composed(container_engine: Engine, compose_images: dict[str, str]) -> Iterator[Platform]:
    """The platform of the hospitals' test, from the session's images. Its own test's only: it
    is down before the partners' simulator brings up its platform, so that two platforms never
    share the machine's two cores."""
    ports = Ports(free_port(), free_port(), {s: free_port() for s in services()})
    platform = Platform(container_engine, ports, project="shebao-e2e", images=dict(compose_images))
    platform.down()  # what an interrupted run left
    try:
        # the platform team creates a hospital's topics when it joins, before it sends
        platform.up(
            before_apps=lambda: asyncio.run(
                create_topics(ports.bootstrap, hospitals.hospital_topics())
            )
        )
        yield platform
    finally:
        platform.down()


async def test_three_hospitals_two_regions_on_compose(composed: Platform, tmp_path: Path) -> None:
    running = {
        s: RunningService(s, composed.url(s), lambda s=s: composed.logs(s), composed.issuer)
        for s in services()
    }
    for svc in running.values():
        await svc.wait_ready()
    infra = SimpleNamespace(kafka_bootstrap=composed.ports.bootstrap, redis_url=composed.redis_url)
    await hospitals.three_hospitals_two_regions(infra, tmp_path, running=running)


def test_the_partners_simulator_against_a_fresh_platform(
    container_engine: Engine, compose_images: dict[str, str], partners_image: str, tmp_path: Path
) -> None:
    """compose's profile `partners` (`make partners`): the demo's city as a container against a
    platform of its own, fresh from `up`; every figure the platform gives agrees with what the
    city's partners sent."""
    ports = Ports(free_port(), free_port(), {s: free_port() for s in services()})
    platform = Platform(
        container_engine, ports, project="shebao-e2e-partners", images=dict(compose_images)
    )
    platform.down()
    try:
        platform.up()
        ran = platform.partners(follow=False, people=200, months=1, build=False)
        (tmp_path / "partners.log").write_text(ran.log)
        if ran.code != 0:  # what the services said, beside what the simulator did
            tails = {s: platform.logs(s)[-1500:] for s in ("enrollment", "kafka-init")}
            pytest.fail(f"{ran.log[-3000:]}\n{tails}")
        verdicts = [line.split()[0] for line in ran.log.splitlines() if "  agrees  " in line]
        assert len(verdicts) == 4, ran.log[-3000:]
        assert "DIFFERS" not in ran.log
    finally:
        platform.down()
