"""The hospitals' flow on Kafka and Redis started by testcontainers on the container engine
(Docker, or podman through its Docker API): the same test, the same exact amounts, as on the
local processes the rest of the suite uses. Skipped, with the reason, only where no container
engine is installed or answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import test_medical_settlement_hospitals as hospitals

from shebao_devinfra.containers import find_engine, no_engine_reason
from shebao_devinfra.infra import Infra, on_containers

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def container_infra() -> Iterator[Infra]:
    engine = find_engine()
    if engine is None:
        pytest.skip(no_engine_reason())
    with on_containers(engine) as infra:
        yield infra


async def test_three_hospitals_two_regions_on_containers(
    container_infra: Infra, tmp_path: Path
) -> None:
    assert container_infra.mode.startswith("containers")
    await hospitals.test_three_hospitals_two_regions(container_infra, tmp_path)
