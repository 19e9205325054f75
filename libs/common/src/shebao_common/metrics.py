"""Prometheus metrics of the runtime, in a registry per service so tests can run several at once."""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .logging import mask_ids


class RuntimeMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.service = service
        r = self.registry
        self.records = Counter(
            "shebao_records_total",
            "Records consumed, by outcome: applied, dead_lettered, duplicate, ignored, stale",
            ["subscription", "outcome"],
            registry=r,
        )
        self.dead_letters = Counter(
            "shebao_dead_letters_total",
            "Records sent to a DLQ, by reason",
            ["topic", "reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "shebao_batch_seconds",
            "Time to process and commit one batch",
            ["subscription"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_records = Histogram(
            "shebao_batch_records",
            "Records per batch",
            ["subscription"],
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2000),
            registry=r,
        )
        self.phase_seconds = Counter(
            "shebao_batch_phase_seconds_total",
            "Time spent per phase of batch processing: decode, load, plan, commit, handover",
            ["subscription", "phase"],
            registry=r,
        )
        self.batch_parts = Counter(
            "shebao_batch_parts_total",
            "Commits of a batch after its first: its outputs passed commit_max_output_bytes",
            ["subscription"],
            registry=r,
        )
        self.commit_retries = Counter(
            "shebao_commit_retries_total",
            "Batch commits retried, by reason: fenced, duplicate, conflict, transient",
            ["subscription", "reason"],
            registry=r,
        )
        self.unreplicated = Counter(
            "shebao_commits_unreplicated_total",
            "Batch commits a replica did not confirm (WAIT) in time; their outputs went on",
            ["subscription"],
            registry=r,
        )
        self.published = Counter(
            "shebao_outbox_published_total", "Outbox entries acknowledged by the broker", registry=r
        )
        self.publish_failures = Counter(
            "shebao_outbox_publish_failures_total", "Relay publish failures (retried)", registry=r
        )
        self.parked = Counter(
            "shebao_outbox_parked_total",
            "Outbox entries the broker can never take (too large, topic missing, not authorised),"
            " set aside in the parked stream for an operator to replay",
            ["topic", "reason"],
            registry=r,
        )
        self.parked_now = Gauge(
            "shebao_outbox_parked_entries",
            "Entries waiting in the parked stream (python -m shebao_common.parked list)",
            registry=r,
        )
        self.outbox_pending = Gauge(
            "shebao_outbox_pending", "Outbox entries committed but not yet acknowledged", registry=r
        )
        self.assigned_partitions = Gauge(
            "shebao_assigned_partitions",
            "Partitions this process owns",
            ["subscription"],
            registry=r,
        )

        self.gc_pause_seconds = Histogram(
            "shebao_gc_pause_seconds",
            "Pauses of the cyclic garbage collector, by generation (a collection stops the loop)",
            ["generation"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
            registry=r,
        )
        self._gc_started = 0.0
        self._gc_pause = [self.gc_pause_seconds.labels(str(g)) for g in range(3)]

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self._gc_pause[info["generation"]].observe(time.perf_counter() - self._gc_started)

    def watch_gc(self) -> None:
        """Time every garbage collection of this process until `unwatch_gc`."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)

    def unwatch_gc(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    def exposition(self) -> bytes:
        """The Prometheus page, citizen IDs in label values masked: a label comes from what a
        partner sent or named (a topic, a reason), and a scrape is read far from the platform.
        Sample values are left as they are (the 18 decimals of a float are no ID)."""
        page = generate_latest(self.registry).decode()
        return "".join(map(_masked_sample, page.splitlines(keepends=True))).encode()


def _masked_sample(line: str) -> str:
    """One line of the exposition with the IDs in its labels masked, its value untouched (the
    HELP and TYPE lines are the platform's own text)."""
    labels_end = line.rfind("}")
    if line.startswith("#") or labels_end < 0:
        return line
    return mask_ids(line[: labels_end + 1]) + line[labels_end + 1 :]
