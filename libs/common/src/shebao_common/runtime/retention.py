"""Dead-letter topics keep their records as long as the topics they mirror (issue 18).

A dead letter holds a partner's record as it came, citizen ID included: it must not outlive the
record it copies (a partner topic's broker default), and a dead letter of a log of record must
not vanish before it (a rebuild reads the dead letters too, `rebuild.py`). So each `<topic>.dlq`
the runtime creates gets the mirrored topic's `retention.ms`: its own setting if the topic
exists, else the one the runtime gives the topic; and an existing dead-letter topic whose
retention differs is brought into line at start-up.

A topic's retention is its own setting (`retention.ms` set on the topic) or None: the broker's
default, which the dead-letter topic then follows too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

log = logging.getLogger("shebao.runtime")

RETENTION = "retention.ms"
_DYNAMIC_TOPIC_CONFIG = 1  # DescribeConfigs v1+: the value is the topic's own setting


def _own(entry: tuple[Any, ...], version: int) -> bool:
    """Whether a described config entry is the topic's own setting, not a default."""
    if version == 0:
        return not entry[3]  # is_default
    return bool(entry[3] == _DYNAMIC_TOPIC_CONFIG)  # config_source


async def topic_configs(
    admin: AIOKafkaAdminClient, topics: Iterable[str]
) -> dict[str, dict[str, str]]:
    """Each topic's own settings (what `kafka-configs --describe` lists as set on the topic)."""
    names = sorted(set(topics))
    if not names:
        return {}
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
    out: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        version = response.API_VERSION
        for error_code, error_message, _, name, entries in response.resources:
            if error_code:
                raise RuntimeError(f"describing {name}: error {error_code} {error_message}")
            out[name] = {e[0]: e[1] for e in entries if _own(e, version) and e[1] is not None}
    return out


def dead_letter_retention(
    mirrored: Mapping[str, str],
    own: Mapping[str, Mapping[str, str]],
    planned: Mapping[str, str | None],
) -> dict[str, str | None]:
    """The retention each dead-letter topic must have (by its name; None: the broker's
    default): `mirrored` maps it to its topic, `own` holds the settings of the topics that exist
    and `planned` the retention the runtime creates a missing topic with."""
    return {
        dlq: own[topic].get(RETENTION) if topic in own else planned.get(topic)
        for dlq, topic in mirrored.items()
    }


async def align_dead_letters(
    admin: AIOKafkaAdminClient,
    wanted: Mapping[str, str | None],
    own: Mapping[str, Mapping[str, str]],
) -> list[str]:
    """Set the retention of existing dead-letter topics (in `own`, with their settings) that
    differ from `wanted`; the names of those changed. Kafka's AlterConfigs replaces a topic's
    whole set of settings, so the others it has are sent along unchanged."""
    changed = []
    for dlq, retention in sorted(wanted.items()):
        if dlq not in own or own[dlq].get(RETENTION) == retention:
            continue
        configs = {k: v for k, v in own[dlq].items() if k != RETENTION}
        if retention is not None:
            configs[RETENTION] = retention
        (response,) = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, dlq, configs=configs)]
        )
        for error_code, error_message, *_ in response.resources:
            if error_code:
                raise RuntimeError(
                    f"setting {RETENTION} of {dlq}: error {error_code} {error_message}"
                )
        log.info(
            "dead-letter retention aligned with its topic",
            extra={"topic": dlq, "retention_ms": retention or "broker default"},
        )
        changed.append(dlq)
    return changed
