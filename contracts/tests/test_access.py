"""The ACLs derived from the registry: least privilege by construction, checked on every grant."""

from __future__ import annotations

from pathlib import Path

import pytest

from shebao_contracts import access
from shebao_contracts.access import Acl, Operation, PatternType, ResourceType
from shebao_contracts.catalog import CONTRACTS, all_topics
from shebao_contracts.topics import Direction

REGISTRY = all_topics()
PARTNERS = [access.Partner(k, f"{k[0]}320100") for k in access.partner_kinds(REGISTRY)]
ALL = access.all_acls(CONTRACTS, PARTNERS, REGISTRY)


def test_every_partner_kind_of_the_registry_is_known() -> None:
    assert access.partner_kinds(REGISTRY) == ["hospital", "stats", "tax"]


def test_a_partner_is_granted_only_its_own_topics_by_literal_name() -> None:
    for p in PARTNERS:
        acls = ALL[p.user]
        topics = {a.name for a in acls if a.resource is ResourceType.TOPIC}
        assert topics == {name for _, name in access.partner_topics(p, REGISTRY)}
        assert all(f".{p.code}." in name for name in topics)
        assert all(
            a.pattern is PatternType.LITERAL for a in acls if a.resource is ResourceType.TOPIC
        )
        groups = {(a.name, a.pattern) for a in acls if a.resource is ResourceType.GROUP}
        assert groups == {(f"partner.{p.kind}.{p.code}.", PatternType.PREFIXED)}
        for t, name in access.partner_topics(p, REGISTRY):
            ops = {a.operation for a in acls if a.name == name}
            if t.direction is Direction.PARTNER_IN:
                assert ops == {Operation.WRITE, Operation.DESCRIBE}
            else:
                assert ops == {Operation.READ, Operation.DESCRIBE}
        assert not any(a.resource is ResourceType.CLUSTER for a in acls)


def _covers(acl: Acl, topic: str) -> bool:
    if acl.resource is not ResourceType.TOPIC:
        return False
    if acl.pattern is PatternType.LITERAL:
        return acl.name == topic
    return topic.startswith(acl.name)


def test_no_principal_reads_a_literal_dead_letter_topic() -> None:
    """Dead letters hold partners' raw messages: only the operator (a super user) reads them.
    (A service that reads a partner kind's topics by prefix is the one exception the prefix
    cannot avoid: its own partners' dead letters.)"""
    for t in REGISTRY:
        if t.is_template:
            continue
        for user, acls in ALL.items():
            readers = [a for a in acls if a.operation is Operation.READ and _covers(a, t.dlq)]
            assert not readers, (user, t.dlq)


def test_a_service_reads_what_it_consumes_and_writes_only_what_it_produces() -> None:
    for c in CONTRACTS:
        acls = ALL[access.service_user(c.service)]
        writable = [a for a in acls if a.operation is Operation.WRITE]
        for t in c.produces:
            name = t.named(code="x320100")
            assert any(_covers(a, name) for a in writable), (c.service, name)
        for t in c.consumes:
            name = t.named(code="x320100")
            assert any(a.operation is Operation.READ and _covers(a, name) for a in acls)
        produced = {t.named(code="x320100") for t in c.produces}
        # every topic of the registry it may write is its own output or a dead letter
        for t in REGISTRY:
            name = t.named(code="x320100")
            if any(_covers(a, name) for a in writable):
                assert name in produced or _same_prefix(t.name, c), (c.service, name)
        groups = {a.name for a in acls if a.resource is ResourceType.GROUP}
        assert groups == {f"shebao.{c.service}."}


def _same_prefix(template: str, contract: access.ServiceContract) -> bool:
    """A partner topic of a kind the service reads or writes by prefix."""
    prefix = template.split("{", 1)[0]
    return "{" in template and any(
        t.name.startswith(prefix) for t in (*contract.consumes, *contract.produces)
    )


def test_a_service_may_not_write_another_partner_kind() -> None:
    medical = ALL["shebao-medical-settlement"]
    assert not any(
        a.operation is Operation.WRITE and _covers(a, "partner.tax.t320100.assessments.v1")
        for a in medical
    )


def test_the_partner_list_is_read_from_toml(tmp_path: Path) -> None:
    listed = tmp_path / "partners.toml"
    listed.write_text('hospital = ["h320102001", "h320105002"]\ntax = ["t320100"]\n')
    assert access.load_partners(listed) == [
        access.Partner("hospital", "h320102001"),
        access.Partner("hospital", "h320105002"),
        access.Partner("tax", "t320100"),
    ]
    listed.write_text('hospital = ["h1", "h1"]\n')
    with pytest.raises(ValueError, match="twice"):
        access.load_partners(listed)
    with pytest.raises(ValueError, match="not a partner"):
        access.Partner("hospital", "H1; DROP")


def test_strimzi_users_carry_the_same_grants() -> None:
    user = access.service_user("welfare")
    doc = access.strimzi_user(user, ALL[user], "shebao")
    assert doc["kind"] == "KafkaUser"
    assert doc["spec"]["authentication"] == {"type": "scram-sha-512"}
    rules = doc["spec"]["authorization"]["acls"]
    assert sum(len(r["operations"]) for r in rules) == len(ALL[user])
    assert {"type": "cluster"} in [r["resource"] for r in rules]
