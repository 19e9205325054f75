import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Test helpers (ledger_app, ledger_harness) are imported as plain modules from this folder.
sys.path.insert(0, str(Path(__file__).parent))

from ledger_harness import LEDGER_PARTITIONS

from shebao_common.runtime.store import Layout

REDIS_KINDS = ["single", "cluster"]
"""The runtime's fault tests run on one Redis node and on a Redis Cluster (3 masters, each
with a replica): the same layout, one slot per commit."""


class FaultyRedis:
    """A Redis of the test's own: `url`, and `fault()`, the worst that happens to it while a
    service commits. One node: SIGTERM and start again from the append-only file. A cluster:
    SIGKILL the master of a slot the ledger commits to, let its replica take over, and bring the
    killed node back (as the new master's replica)."""

    def __init__(self, kind: str, handle: Any) -> None:
        self.kind, self.handle = kind, handle

    @property
    def url(self) -> str:
        return str(self.handle.url)

    def fault(self, service: str) -> str:
        if self.kind == "single":
            self.handle.restart()
            return "Redis restarted from its append-only file"
        tag = Layout(service, LEDGER_PARTITIONS).tag(0)
        port, now = self.handle.cluster.fail_over(tag)
        return f"master {port} of {tag} SIGKILLed; its replica {now} took over"


@pytest.fixture(params=REDIS_KINDS)
def faulty_redis(request: pytest.FixtureRequest) -> Iterator[FaultyRedis]:
    if request.param == "single":
        yield FaultyRedis("single", request.getfixturevalue("restartable_redis"))
    else:
        yield FaultyRedis("cluster", request.getfixturevalue("own_redis_cluster"))


@pytest.fixture(params=REDIS_KINDS)
def any_redis_url(request: pytest.FixtureRequest) -> str:
    """The session's Redis: its one node (`infra`) or its cluster (`redis_cluster`)."""
    if request.param == "single":
        return str(request.getfixturevalue("infra").redis_url)
    return str(request.getfixturevalue("redis_cluster").url)
