"""The partners' made-up people, random claims and bureaus' reports: valid as the platform
checks them, and the same for the same seed."""

from __future__ import annotations

import json
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

from shebao_contracts import contributions as cc
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts.envelope import Message
from shebao_contracts.types import citizen_id_birth_date, validate_citizen_id
from shebao_partners import (
    CATEGORIES,
    citizen_id_in_region,
    cpi_release,
    employer_code,
    employer_collected,
    partner_source_of,
    person_citizen_id,
    person_collected,
    random_claim,
    random_claims,
    random_lines,
)
from shebao_partners.schemas import find, problems

SCHEMAS = Path(__file__).resolve().parents[3] / "contracts" / "schemas"


def test_a_population_without_days_gives_every_person_an_id_of_their_own_in_order() -> None:
    ids = [person_citizen_id(n) for n in range(5000)]
    assert len(set(ids)) == 5000
    assert ids == sorted(ids)
    assert all(validate_citizen_id(cid) == cid for cid in ids)
    assert citizen_id_birth_date(ids[0]) == date(1980, 1, 1)
    assert citizen_id_birth_date(ids[4999]) == date(1980, 1, 5)  # a thousand a day
    assert person_citizen_id(7, "320500").startswith("320500")


def test_a_scattered_population_has_all_ages_and_repeats_after_lcm_of_days_and_1000() -> None:
    def scattered(n: int) -> str:
        return person_citizen_id(n, first_born=date(1960, 1, 1), days=16000)

    ids = [scattered(n) for n in range(16000)]
    assert len(set(ids)) == 16000
    assert all(validate_citizen_id(cid) == cid for cid in ids[:2000])
    born = [citizen_id_birth_date(cid) for cid in ids]
    assert min(born) == date(1960, 1, 1)
    assert max(born) == date.fromordinal(date(1960, 1, 1).toordinal() + 15999)
    assert citizen_id_birth_date(ids[1]) == date.fromordinal(date(1960, 1, 1).toordinal() + 7919)
    assert scattered(16000 + 12) == scattered(12)


def test_ids_in_a_region_are_distinct_for_99000_persons_of_a_birth_date() -> None:
    born = date(1975, 6, 1)
    ids = [citizen_id_in_region("320500", born, n) for n in range(99_000)]
    assert len(set(ids)) == 99_000
    assert ids[0].startswith("32050119750601000")
    assert ids[98_999].startswith("32059919750601999")
    assert citizen_id_in_region("320500", born, 99_000) == ids[0]
    assert all(validate_citizen_id(cid) == cid for cid in ids[::997])


def test_random_lines_add_up_and_stay_within_their_ranges() -> None:
    rng = random.Random(3)
    for _ in range(200):
        lines = random_lines(rng)
        assert 3 <= len(lines) <= 6
        for line in lines:
            assert line["category"] in CATEGORIES
            qty, unit = int(line["quantity"]), Decimal(line["unit_price"])
            assert 1 <= qty <= 10
            assert Decimal("1.00") <= unit <= Decimal("3000.00")
            assert Decimal(line["amount"]) == unit * qty


def test_a_random_claim_is_what_the_published_schema_and_the_contract_accept() -> None:
    rng = random.Random(5)
    (schema,) = find(SCHEMAS, m.ClaimSubmitted.TYPE, m.CLAIMS.named(code="h320102001"))
    patient = person_citizen_id(1)
    inpatient = random_claim(rng, "h320102001", "C-1", patient)
    outpatient = random_claim(rng, "h320102001", "C-2", patient, visit="outpatient")
    for body in (inpatient, outpatient):
        assert problems(schema, body) == []
        claim = m.ClaimSubmitted.model_validate(body)
        assert claim.total == sum(x.amount for x in claim.lines)
    assert (inpatient["admission_date"], inpatient["discharge_date"]) == (
        "2025-01-08",
        "2025-01-15",
    )
    assert outpatient["discharge_date"] is None


def test_random_claims_take_hospitals_in_turn_and_are_the_same_for_one_seed() -> None:
    def claims(seed: int) -> list[dict[str, object]]:
        rng = random.Random(seed)
        ids = [f"C-{i}" for i in range(10)]
        # a patient drawn from the same generator, as the benchmark draws them
        return list(
            random_claims(
                rng,
                ids,
                ["h1", "h2", "h3"],
                lambda _: person_citizen_id(rng.randrange(100)),
                admitted="2025-03-02",
                discharged="2025-03-09",
            )
        )

    first = claims(11)
    assert first == claims(11)
    assert first != claims(12)
    assert [c["hospital"] for c in first[:4]] == ["h1", "h2", "h3", "h1"]
    assert [c["claim_id"] for c in first[:2]] == ["C-0", "C-1"]
    # the patient is drawn before the claim's lines
    rng = random.Random(11)
    patient = person_citizen_id(rng.randrange(100))
    assert first[0] == random_claim(
        rng, "h1", "C-0", patient, admitted="2025-03-02", discharged="2025-03-09"
    )


def published_problems(topic: str, message: Message) -> list[str]:
    (schema,) = find(SCHEMAS, message.TYPE, topic)
    return problems(schema, json.loads(message.model_dump_json()))


def test_the_bureaus_reports_are_what_the_published_schemas_accept() -> None:
    collections = cc.COLLECTIONS.named(code="t320100")
    by_employer = employer_collected(
        "T-1", employer_code("320100", 7), "2025-03", Decimal("4301.25")
    )
    by_person = person_collected("T-2", person_citizen_id(3), "2025", Decimal("820.00"))
    release = cpi_release("320100", "2025-03", "3.2", "-0.5")
    assert published_problems(collections, by_employer) == []
    assert published_problems(collections, by_person) == []
    assert published_problems(u.CPI.named(code="s320100"), release) == []
    assert json.loads(by_person.model_dump_json()) == {
        "collection_id": "T-2",
        "citizen_id": person_citizen_id(3),
        "period": "2025",
        "amount": "820.00",
    }
    assert (release.cpi_yoy, release.food_cpi_yoy) == ("3.2", "-0.5")


def test_a_partner_writes_its_own_topic_as_itself() -> None:
    assert partner_source_of(m.CLAIMS.named(code="h320102001")) == "/partners/h320102001"
    assert partner_source_of(u.CPI.named(code="s320100")) == "/partners/s320100"
    assert partner_source_of(cc.EVENTS.name) is None
