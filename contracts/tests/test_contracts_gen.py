"""The published contract files: they match the code, and `write` refuses to break them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import ConfigDict

from shebao_contracts import gen
from shebao_contracts.catalog import CONTRACTS, all_topics
from shebao_contracts.envelope import REQUIRED_HEADERS, Message
from shebao_contracts.topics import Direction, ServiceContract, Topic
from shebao_contracts.types import CitizenId, Money, PersonRef, RegionCode

CONTRACTS_ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# The committed files against the code (the real catalog).


def test_contract_files_match_code(tmp_path: Path) -> None:
    assert gen.write(tmp_path) == 0
    generated = gen.read_files(tmp_path)
    committed = gen.read_files(CONTRACTS_ROOT)
    assert gen.drift(committed, generated) == [], "run: python -m shebao_contracts.gen write"
    # An AsyncAPI document per service and per kind of partner, and REASONS.md.
    documents = len(CONTRACTS) + len(gen.PARTNER_VIEWS) + 1
    assert len(generated) == sum(len(t.messages) for t in all_topics()) + documents


def test_no_breaking_change_on_published_topics() -> None:
    committed = gen.read_files(CONTRACTS_ROOT)
    assert gen.breaking_changes_between(committed, gen.generate().files) == []


def test_every_partner_message_has_an_example() -> None:
    assert gen.generate().problems == []


# ---------------------------------------------------------------------------------------------
# A small test catalog.


class PersonRegistered(Message):
    """A person joined the scheme in a pooling region."""

    TYPE = "test.enrollment.PersonRegistered"
    person: PersonRef
    region: RegionCode
    monthly_base: Money


class PersonRegisteredWithoutRegion(Message):
    """The same type, with a field dropped: breaking."""

    TYPE = "test.enrollment.PersonRegistered"
    person: PersonRef
    monthly_base: Money


class PersonRegisteredGrown(Message):
    """The same type with an optional field added: compatible."""

    TYPE = "test.enrollment.PersonRegistered"
    person: PersonRef
    region: RegionCode
    monthly_base: Money
    employer: str | None = None


class PersonLeft(Message):
    TYPE = "test.enrollment.PersonLeft"
    person: PersonRef


class ClaimSubmitted(Message):
    """A hospital asks for a claim to be settled."""

    TYPE = "test.hospital.ClaimSubmitted"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "claim": "c-1",
        "citizen_id": "11010519491231002X",
        "total": "12.30",
    }
    claim: str
    citizen_id: CitizenId
    total: Money
    rate: Decimal = Decimal("0.9")


class ClaimSettled(Message):
    """The platform paid a claim."""

    TYPE = "test.hospital.ClaimSettled"
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"claim": "c-1", "paid": "10.00", "rate": "0.8"}]}
    )
    claim: str
    paid: Money
    rate: Decimal = Decimal("0.9")


class ClaimSettledNoExample(Message):
    TYPE = "test.hospital.ClaimSettled"
    claim: str
    paid: Money
    rate: Decimal = Decimal("0.9")


class ClaimSubmittedBadExample(Message):
    TYPE = "test.hospital.ClaimSubmitted"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "claim": "c-1",
        "citizen_id": "11010519491231002X",
        "total": 12.3,  # a float: money_not_string
    }
    claim: str
    citizen_id: CitizenId
    total: Money


def events(*messages: type[Message], name: str = "test.enrollment.events.v1") -> Topic:
    return Topic(
        name,
        owner="enrollment",
        key="person reference",
        messages=messages,
        description="Enrollment events",
        partitions=6,
    )


def claims_in(*messages: type[Message]) -> Topic:
    return Topic(
        "partner.hospital.{code}.claims.v1",
        owner="claims",
        key="claim id",
        messages=messages,
        description="Claims from one hospital",
        direction=Direction.PARTNER_IN,
    )


def results_out(*messages: type[Message]) -> Topic:
    return Topic(
        "partner.hospital.{code}.results.v1",
        owner="claims",
        key="claim id",
        messages=messages,
        description="Settlements to one hospital",
        direction=Direction.PARTNER_OUT,
    )


def catalog(
    enrollment: Topic | None = None,
    claims: Topic | None = None,
    results: Topic | None = None,
) -> list[ServiceContract]:
    enrollment = enrollment or events(PersonRegistered, PersonLeft)
    claims = claims or claims_in(ClaimSubmitted)
    results = results or results_out(ClaimSettled)
    return [
        ServiceContract("enrollment", "Enrollment", "Registers people.", (), (enrollment,)),
        ServiceContract("claims", "Claims", "Settles claims.", (claims, enrollment), (results,)),
    ]


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def load(root: Path, path: str) -> Any:
    return json.loads((root / path).read_text(encoding="utf-8"))


REGISTERED = "schemas/test.enrollment.events.v1/test.enrollment.PersonRegistered.json"
SUBMITTED = "schemas/partner.hospital.{code}.claims.v1/test.hospital.ClaimSubmitted.json"
SETTLED = "schemas/partner.hospital.{code}.results.v1/test.hospital.ClaimSettled.json"


# ---------------------------------------------------------------------------------------------
# write / check


def test_write_then_check_round_trip(tmp_path: Path) -> None:
    assert gen.main(["write", "--root", str(tmp_path)], catalog()) == 0
    assert sorted(gen.read_files(tmp_path)) == [
        "asyncapi/claims.json",
        "asyncapi/enrollment.json",
        SUBMITTED,
        SETTLED,
        "schemas/test.enrollment.events.v1/test.enrollment.PersonLeft.json",
        REGISTERED,
    ]
    assert gen.main(["check", "--root", str(tmp_path)], catalog()) == 0
    before = snapshot(tmp_path)
    assert gen.main(["write", "--root", str(tmp_path)], catalog()) == 0
    assert snapshot(tmp_path) == before  # unchanged files are not even rewritten


def test_write_refuses_a_breaking_change_and_leaves_the_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gen.write(tmp_path, catalog()) == 0
    before = snapshot(tmp_path)
    capsys.readouterr()

    breaking = catalog(enrollment=events(PersonRegisteredWithoutRegion, PersonLeft))
    assert gen.main(["write", "--root", str(tmp_path)], breaking) == 1

    err = capsys.readouterr().err
    assert "refusing to write" in err
    assert (
        "test.enrollment.events.v1: test.enrollment.PersonRegistered: property 'region' removed"
        in err
    )
    assert snapshot(tmp_path) == before
    assert gen.check(tmp_path, breaking) == 1


def test_write_refuses_removing_a_message_type_or_a_topic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gen.write(tmp_path, catalog()) == 0
    before = snapshot(tmp_path)
    assert gen.write(tmp_path, catalog(enrollment=events(PersonRegistered))) == 1
    assert "message type test.enrollment.PersonLeft removed from the topic" in (
        capsys.readouterr().err
    )
    renamed = events(PersonRegistered, PersonLeft, name="test.enrollment.people.v1")
    assert gen.write(tmp_path, catalog(enrollment=renamed)) == 1
    assert snapshot(tmp_path) == before


def test_write_accepts_a_compatible_change(tmp_path: Path) -> None:
    assert gen.write(tmp_path, catalog()) == 0
    grown = catalog(enrollment=events(PersonRegisteredGrown, PersonLeft))
    assert gen.write(tmp_path, grown) == 0
    assert "employer" in load(tmp_path, REGISTERED)["properties"]
    assert gen.check(tmp_path, grown) == 0


def test_unpublished_topic_may_change_freely(tmp_path: Path) -> None:
    draft = "test.enrollment.draft"
    assert gen.write(tmp_path, catalog(enrollment=events(PersonRegistered, name=draft))) == 0
    changed = catalog(enrollment=events(PersonRegisteredWithoutRegion, name=draft))
    assert gen.write(tmp_path, changed) == 0
    assert gen.check(tmp_path, changed) == 0


def test_write_deletes_stale_files(tmp_path: Path) -> None:
    assert gen.write(tmp_path, catalog(enrollment=events(PersonRegistered, name="t.draft"))) == 0
    stale = tmp_path / "schemas" / "t.draft" / "test.enrollment.PersonRegistered.json"
    assert stale.exists()
    assert gen.write(tmp_path, catalog()) == 0
    assert not stale.exists()
    assert not stale.parent.exists()
    assert gen.check(tmp_path, catalog()) == 0


def test_check_fails_on_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gen.write(tmp_path, catalog()) == 0
    capsys.readouterr()
    path = tmp_path / "asyncapi" / "claims.json"
    path.write_text(path.read_text(encoding="utf-8").replace("Settles", "Pays"), encoding="utf-8")
    (tmp_path / "asyncapi" / "ghost.json").write_text("{}\n", encoding="utf-8")
    assert gen.check(tmp_path, catalog()) == 1
    err = capsys.readouterr().err
    assert "out of date: asyncapi/claims.json" in err
    assert "stale: asyncapi/ghost.json" in err
    (tmp_path / SUBMITTED).unlink()
    assert gen.check(tmp_path, catalog()) == 1
    assert f"missing: {SUBMITTED}" in capsys.readouterr().err


def test_check_against_a_baseline_catches_a_forced_rewrite(tmp_path: Path) -> None:
    published, work = tmp_path / "main", tmp_path / "branch"
    published.mkdir()
    work.mkdir()
    assert gen.write(published, catalog()) == 0
    breaking = catalog(enrollment=events(PersonRegisteredWithoutRegion, PersonLeft))
    assert gen.write(work, breaking) == 0  # a fresh folder has nothing to break
    assert gen.check(work, breaking) == 0
    assert gen.main(["check", "--root", str(work), "--baseline", str(published)], breaking) == 1


def test_partner_message_without_example_fails_check_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contracts = catalog(results=results_out(ClaimSettledNoExample))
    assert gen.write(tmp_path, contracts) == 0
    assert "test.hospital.ClaimSettled has no example" in capsys.readouterr().err
    assert gen.check(tmp_path, contracts) == 1
    assert "ClaimSettledNoExample.EXAMPLE" in capsys.readouterr().err
    # An internal topic needs none.
    internal = events(PersonRegistered, ClaimSettledNoExample)
    contract = ServiceContract("enrollment", "Enrollment", "", (), (internal,))
    assert gen.generate([contract]).problems == []


def test_two_classes_with_one_type_in_a_service_are_refused() -> None:
    contracts = catalog(enrollment=events(PersonRegistered, ClaimSettledNoExample))
    with pytest.raises(gen.ContractError, match="two different schemas"):
        gen.generate(contracts)


def test_invalid_example_is_a_contract_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    contracts = catalog(claims=claims_in(ClaimSubmittedBadExample))
    with pytest.raises(gen.ContractError, match="money_not_string"):
        gen.generate(contracts)
    assert gen.main(["write", "--root", str(tmp_path)], contracts) == 2
    assert "example 1 is not a valid message" in capsys.readouterr().err
    assert gen.read_files(tmp_path) == {}


def test_conflicting_topic_definitions_are_refused() -> None:
    a = events(PersonRegistered)
    b = events(PersonLeft)
    contracts = [
        ServiceContract("one", "One", "", (), (a,)),
        ServiceContract("two", "Two", "", (b,), ()),
    ]
    with pytest.raises(ValueError, match="defined twice"):
        all_topics(contracts)
    with pytest.raises(gen.ContractError):
        gen.generate(contracts)


def test_all_topics_lists_each_topic_once() -> None:
    names = [t.name for t in all_topics(catalog())]
    assert names == sorted(set(names))
    assert len(names) == 3


# ---------------------------------------------------------------------------------------------
# What is in the files


def test_generation_is_deterministic_and_canonical() -> None:
    first, second = gen.generate(catalog()), gen.generate(catalog())
    assert first.files == second.files
    for path, text in first.files.items():
        canonical = json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False)
        assert text == canonical + "\n", path


def test_json_schema_header_fields(tmp_path: Path) -> None:
    gen.write(tmp_path, catalog())
    schema = load(tmp_path, REGISTERED)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == gen.SCHEMA_BASE_URI + REGISTERED
    assert schema["title"] == "PersonRegistered"
    assert schema["description"] == "A person joined the scheme in a pooling region."
    assert schema["x-cloudevents-type"] == "test.enrollment.PersonRegistered"
    assert schema["properties"]["monthly_base"]["type"] == "string"
    assert "description" not in load(
        tmp_path, "schemas/test.enrollment.events.v1/test.enrollment.PersonLeft.json"
    )
    templated = load(tmp_path, SUBMITTED)
    assert "%7Bcode%7D" in templated["$id"]


def test_partner_in_publishes_what_is_accepted_and_outbound_what_is_sent(tmp_path: Path) -> None:
    """A Decimal is accepted as a number or a string, but always sent as a string."""
    gen.write(tmp_path, catalog())
    accepted = load(tmp_path, SUBMITTED)["properties"]["rate"]
    sent = load(tmp_path, SETTLED)["properties"]["rate"]
    assert {b["type"] for b in accepted["anyOf"]} == {"number", "string"}
    assert sent["type"] == "string"
    # Examples: as written for the partner's input, as serialised for our output.
    assert load(tmp_path, SUBMITTED)["examples"] == [ClaimSubmitted.EXAMPLE]
    assert load(tmp_path, SETTLED)["examples"] == [{"claim": "c-1", "paid": "10.00", "rate": "0.8"}]


def test_model_instance_example() -> None:
    class Left(Message):
        TYPE = "test.enrollment.PersonLeft"
        person: PersonRef

    Left.EXAMPLE = Left(person="9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f")
    topic = results_out(Left)
    assert gen.message_schema(topic, Left)["examples"] == [
        {"person": "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f"}
    ]


def _resolve(document: Any, ref: str) -> Any:
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_asyncapi_document(tmp_path: Path) -> None:
    gen.write(tmp_path, catalog())
    doc = load(tmp_path, "asyncapi/claims.json")
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] == "Claims"
    assert doc["defaultContentType"] == "application/json"

    for ref in _refs(doc):
        assert ref.startswith("#/"), ref
        _resolve(doc, ref)  # every reference resolves inside the document

    claims = doc["channels"]["partner.hospital.code.claims.v1"]
    assert claims["address"] == "partner.hospital.{code}.claims.v1"
    assert set(claims["parameters"]) == {"code"}
    assert claims["bindings"]["kafka"]["partitions"] == 12
    assert claims["x-direction"] == "partner-in"

    ops = doc["operations"]
    assert {name: op["action"] for name, op in ops.items()} == {
        "partner.hospital.code.claims.v1.receive": "receive",
        "test.enrollment.events.v1.receive": "receive",
        "partner.hospital.code.results.v1.send": "send",
    }
    send = ops["partner.hospital.code.results.v1.send"]
    assert _resolve(doc, send["channel"]["$ref"])["address"] == "partner.hospital.{code}.results.v1"

    msg = claims["messages"]["test.hospital.ClaimSubmitted"]
    assert msg["bindings"]["kafka"]["key"]["description"] == "Record key: claim id"
    payload = _resolve(doc, msg["payload"]["$ref"])
    assert payload["x-cloudevents-type"] == "test.hospital.ClaimSubmitted"
    assert "$id" not in payload
    assert msg["examples"][0]["payload"] == ClaimSubmitted.EXAMPLE
    headers = _resolve(doc, msg["headers"]["allOf"][0]["$ref"])
    assert set(REQUIRED_HEADERS) <= set(headers["required"])
    for name in (*REQUIRED_HEADERS, "content-type", "correlation-id", "causation-id"):
        assert name in headers["properties"]
    assert "traceparent" in headers["properties"]
    assert msg["headers"]["allOf"][1]["properties"]["ce_type"]["const"] == msg["title"]
    assert set(REQUIRED_HEADERS) <= set(msg["examples"][0]["headers"])

    events_doc = load(tmp_path, "asyncapi/enrollment.json")
    assert list(events_doc["operations"]) == ["test.enrollment.events.v1.send"]
    channel = events_doc["channels"]["test.enrollment.events.v1"]
    assert "examples" not in channel["messages"]["test.enrollment.PersonRegistered"]


def test_cli_requires_an_existing_root(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        gen.main(["check", "--root", str(tmp_path / "nope")], catalog())
    assert exc.value.code == 2


def test_one_message_in_both_schema_modes_gets_two_component_schemas() -> None:
    """Read from a partner and re-published internally: accepted and sent shapes differ."""
    contract = ServiceContract(
        "claims", "Claims", "", (claims_in(ClaimSubmitted),), (events(ClaimSubmitted),)
    )
    doc = json.loads(gen.generate([contract]).files["asyncapi/claims.json"])
    schemas = doc["components"]["schemas"]
    accepted = schemas["test.hospital.ClaimSubmitted.validation"]["properties"]["rate"]
    sent = schemas["test.hospital.ClaimSubmitted.serialization"]["properties"]["rate"]
    assert "anyOf" in accepted
    assert sent["type"] == "string"
    for ref in _refs(doc):
        _resolve(doc, ref)
