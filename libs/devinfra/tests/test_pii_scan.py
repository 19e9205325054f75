"""The citizen-ID scanner of issue 18 (`shebao_devinfra.pii`): what it counts as an ID, and
which topics it holds to the rule."""

from __future__ import annotations

from datetime import date

from shebao_contracts.catalog import CONTRACTS, all_topics
from shebao_contracts.types import mask_citizen_id
from shebao_devinfra.pii import citizen_ids, id_allowed, internal_topics, scan_text
from shebao_partners import citizen_id, wrong_check

ID = citizen_id("110105", date(1949, 12, 31), 2)  # 11010519491231002X
ZERO_AREA = citizen_id("010105", date(1980, 1, 1), 5)


def test_valid_ids_are_found_wherever_they_stand() -> None:
    text = f'{{"k":"{ID}"}} X{ID.lower()} {ZERO_AREA}; {ID}a'
    assert citizen_ids(text) == [ID, ID, ZERO_AREA, ID]
    assert citizen_ids(text.encode()) == [ID, ID, ZERO_AREA, ID]


def test_numbers_that_are_not_ids_are_not_found() -> None:
    not_ids = [
        wrong_check(ID),  # the check character is wrong
        "110105194913310027",  # no 31st of the 13th month (check character right)
        "1" + ID,  # inside a longer run of digits: a number, not an ID
        ID[:17],  # too short
        "1764547200123456789",  # a timestamp in nanoseconds
        "320102********0034",  # masked
        "0." + ID[:17] + "8",  # the decimals of a measured duration
    ]
    assert citizen_ids(" ".join(not_ids)) == []


def test_the_scan_counts_lines_and_names_what_it_found_masked() -> None:
    scan = scan_text("logs", {"svc": f"one\n\nrefused {ID}\nthree"})
    assert scan.read == 3
    assert [(f.where, f.citizen_id) for f in scan.findings] == [("svc:3", mask_citizen_id(ID))]
    assert ID not in str(scan) and mask_citizen_id(ID) in str(scan)


def test_the_rule_of_the_topics() -> None:
    registry = all_topics()
    # partners' topics, dead letters and the offices' commands that name persons by ID
    for allowed in (
        "partner.hospital.h320102001.claims.v1",
        "partner.tax.t320100.assessments.v1",
        "partner.tax.t320100.collections.v1",
        "shebao.enrollment.commands.v1",
        "shebao.unemployment-subsidies.commands.v1",
        "shebao.welfare.commands.v1",
        "shebao.enrollment.events.v1.dlq",
    ):
        assert id_allowed(registry, allowed), allowed
    names = [t.name for t in registry if not t.is_template]
    internal = internal_topics(registry, [*names, *(n + ".dlq" for n in names), "shebao.new.v1"])
    assert internal == sorted(
        [
            *(f"shebao.{c.service}.audit.v1" for c in CONTRACTS),  # pseudonyms only
            "shebao.contributions.commands.v1",
            "shebao.contributions.events.v1",
            "shebao.contributions.work.v1",
            "shebao.enrollment.events.v1",
            "shebao.enrollment.work.v1",  # a forwarded command's ID travels sealed
            "shebao.medical-settlement.commands.v1",
            "shebao.medical-settlement.events.v1",
            "shebao.new.v1",  # a topic no contract names is the platform's own
            "shebao.unemployment-subsidies.events.v1",
            "shebao.unemployment-subsidies.work.v1",
            "shebao.welfare.events.v1",
            "shebao.welfare.work.v1",
        ]
    )
