"""Kubernetes' Kafka principals (deploy/k8s/components/kafka-users/) are exactly what the topic
registry and deploy/partners.toml give: regenerated here and compared, like the contracts check,
so they can never drift. `python -m shebao_devinfra.k8s_users` (make k8s-users) rewrites them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from shebao_contracts import access
from shebao_contracts.catalog import CONTRACTS
from shebao_devinfra import k8s_users

ROOT = Path(__file__).resolve().parents[1]


def rendered_users() -> dict[str, dict[str, Any]]:
    text = (ROOT / k8s_users.COMPONENT / k8s_users.USERS_FILE).read_text()
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(text) if d}


def test_the_component_is_what_the_registry_gives() -> None:
    assert k8s_users.differences(ROOT) == [], "run `python -m shebao_devinfra.k8s_users`"


def test_one_user_per_service_and_per_listed_partner() -> None:
    partners = access.load_partners(ROOT / "deploy" / "partners.toml")
    expected = {access.service_user(c.service) for c in CONTRACTS} | {p.user for p in partners}
    users = rendered_users()
    assert set(users) == expected
    for user in users.values():
        assert user["kind"] == "KafkaUser"
        assert user["metadata"]["labels"] == {"strimzi.io/cluster": k8s_users.CLUSTER}
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}


def test_no_rendered_user_reads_a_dead_letter_topic_by_name() -> None:
    for name, user in rendered_users().items():
        for rule in user["spec"]["authorization"]["acls"]:
            target = rule["resource"]
            if target.get("name", "").endswith(".dlq"):
                assert "Read" not in rule["operations"], (name, target)


def test_a_partner_is_granted_its_own_topics_by_literal_name_only() -> None:
    user = rendered_users()["hospital-h320102001"]
    topics = {
        r["resource"]["name"]: (r["resource"]["patternType"], r["operations"])
        for r in user["spec"]["authorization"]["acls"]
        if r["resource"]["type"] == "topic"
    }
    assert topics == {
        "partner.hospital.h320102001.claims.v1": ("literal", ["Write", "Describe"]),
        "partner.hospital.h320102001.settlements.v1": ("literal", ["Read", "Describe"]),
    }


def test_a_partner_added_to_the_list_without_regenerating_is_caught(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    partners = tmp_path / "deploy" / "partners.toml"
    partners.write_text(
        partners.read_text().replace('"h320102001",', '"h320102001", "h329999009",')
    )
    assert k8s_users.differences(tmp_path) == [
        "deploy/k8s/components/kafka-users/kafka-users.yaml: "
        "differs from the registry and the partner list"
    ]
    # regenerated, they agree again
    for name, text in k8s_users.render(tmp_path).items():
        (tmp_path / k8s_users.COMPONENT / name).write_text(text)
    assert k8s_users.differences(tmp_path) == []
    assert (
        "hospital-h329999009" in (tmp_path / k8s_users.COMPONENT / "kafka-users.yaml").read_text()
    )
