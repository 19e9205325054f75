"""Enrollment with its state partitioned, as on a Redis Cluster (`STATE_LAYOUT`).

A person is kept with his reference's partition, an employer with its code's, a card number's
holder with the number's (`domain/model.py`). A command keyed by citizen ID is handed to its
person's partition on the work topic; a card takes a round trip to the number's partition. The
rules' scenarios run partitioned too (the `d` fixture of test_enrollment_rules.py); here, the
paths themselves and the races a round trip opens.
"""

from __future__ import annotations

from datetime import date

import pytest
from enrollment_harness import Domain, citizen_id, rejection, types

from shebao_common.runtime.store import default_partition
from shebao_common.runtime.testing import key_elsewhere
from shebao_contracts import enrollment as c
from shebao_enrollment.domain.model import CARD, PERSON
from shebao_enrollment.handlers import NotKeptHere

N = 3
NJ = "320100"
EMP = "91320100MA1XXXXX0Y"


def _number(d: Domain, cid: str, *, same: bool, start: int = 0) -> str:
    """A card number kept on the person's partition (`same`) or on another."""
    home = default_partition(d.ref(cid), N)
    for i in range(start, start + 1000):
        number = f"A{i:08d}"
        if (default_partition(number, N) == home) == same:
            return number
    raise AssertionError("no such number")


def _person(d: Domain, n: int, name: str = "测试") -> str:
    cid = citizen_id(date(1990, 3, 7), male=False, n=n)
    registered = c.RegisterPerson(
        citizen_id=cid,
        name=name,
        hukou_region=NJ,
        residence=c.Residence.URBAN,
        registered_on=date(2020, 1, 1),
    )
    assert types(d.send(registered)) == ["PersonRegistered"]
    return cid


def _issue(cid: str, number: str) -> c.IssueCard:
    return c.IssueCard(citizen_id=cid, card_number=number, issued_on=date(2024, 5, 1))


@pytest.fixture
def d() -> Domain:
    return Domain(partitions=N)


def test_a_command_keyed_by_citizen_id_is_decided_where_the_person_is_kept(d: Domain) -> None:
    """Forwarded unless the ID's partition happens to keep him; either way his state is on
    his reference's partition and nowhere else, and the forward carries no ID or name."""
    cids = [_person(d, n, name=f"姓名{n}") for n in range(12)]
    forwarded = [m for m in d.handed if isinstance(m, c.CommandForwarded)]
    elsewhere = [
        cid for cid in cids if default_partition(cid, N) != default_partition(d.ref(cid), N)
    ]
    assert elsewhere and len(forwarded) == len(elsewhere)
    for cid in cids:
        assert d.person(cid).citizen_id == cid
        assert PERSON.key(d.ref(cid)).name in d.store
    text = " ".join(m.model_dump_json() for m in d.handed)
    assert not any(cid in text for cid in cids)
    assert "姓名" not in text  # the name is sealed too


def test_an_employer_command_keyed_otherwise_is_handed_to_its_code(d: Domain) -> None:
    register = c.RegisterEmployer(
        employer=EMP,
        name="示例单位",
        region=NJ,
        ownership=c.Ownership.PRIVATE,
        risk_class=3,
        registered_on=date(2020, 1, 1),
    )
    other = key_elsewhere(EMP, N)
    assert types(d.send(register, key=other)) == ["EmployerRegistered"]
    assert [type(m).__name__ for m in d.handed] == ["CommandForwarded"]


@pytest.mark.parametrize("same", [True, False], ids=["number-kept-with-him", "number-elsewhere"])
def test_a_card_is_issued_once_its_number_is_held_for_him(d: Domain, same: bool) -> None:
    """At once where the number is kept with him, else by the round trip; the holder is on the
    work topic either way (a rebuild folds it from there, by the number's owner)."""
    cid = _person(d, 1)
    number = _number(d, cid, same=same)
    d.handed.clear()
    assert types(d.send(_issue(cid, number))) == ["CardIssued"]
    card = d.person(cid).card
    assert card is not None and card.number == number
    assert d.store[CARD.key(number).name].person == d.ref(cid)
    trip = [type(m).__name__ for m in d.handed if not isinstance(m, c.CommandForwarded)]
    assert trip == (["CardNumberHeld"] if same else ["CardNumberClaimed", "CardNumberGranted"])


def test_in_one_slot_a_card_is_issued_at_once_and_its_holder_published() -> None:
    one = Domain()
    cid = _person(one, 1)
    assert types(one.send(_issue(cid, "A00000001"))) == ["CardIssued"]
    assert [type(m).__name__ for m in one.handed] == ["CardNumberHeld"]


def test_a_number_held_for_another_is_refused_before_and_after_the_claim(d: Domain) -> None:
    alice, bob = _person(d, 1), _person(d, 2)
    number = _number(d, alice, same=False)
    assert types(d.send(_issue(alice, number))) == ["CardIssued"]
    # Bob's partition reads the holder where it is kept, and refuses at once
    d.handed.clear()
    assert rejection(d.send(_issue(bob, number))) == "card_number_in_use"
    assert not any(isinstance(m, c.CardNumberClaimed) for m in d.handed)
    # a claim that read the holder before Alice's grant, arriving after it, is refused there
    late = c.CardNumberClaimed(
        card_number=number,
        person=d.ref(bob),
        command_id="late-claim",
        command_type=c.IssueCard.TYPE,
        issued_on=date(2024, 5, 1),
    )
    answer = d.work.send(late, topic=c.WORK.name, key=number)
    assert [type(e.message).__name__ for e in answer] == ["CardNumberRefused"]
    refused = d.work.send(answer[0].message, topic=c.WORK.name, key=answer[0].key)
    (told,) = [e.message for e in refused]
    assert isinstance(told, c.CommandRejected)
    assert (told.command_id, told.reason, told.person) == (
        "late-claim",
        "card_number_in_use",
        d.ref(bob),
    )
    assert d.person(bob).card is None
    assert d.store[CARD.key(number).name].person == d.ref(alice)


def test_a_grant_to_a_person_who_changed_meanwhile_refuses_and_the_number_stays_his(
    d: Domain,
) -> None:
    """He died between the claim and the grant: the card is refused, and the number, held for
    him, is issued to no one else (a number is held once; docs/CAPACITY.md)."""
    alice, bob = _person(d, 1), _person(d, 2)
    number = _number(d, alice, same=False)
    claim = c.CardNumberClaimed(
        card_number=number,
        person=d.ref(alice),
        command_id="claim-before-death",
        command_type=c.IssueCard.TYPE,
        issued_on=date(2024, 5, 1),
    )
    (granted,) = d.work.send(claim, topic=c.WORK.name, key=number)
    assert isinstance(granted.message, c.CardNumberGranted)
    died = d.send(c.RecordDeath(citizen_id=alice, date_of_death=date(2024, 5, 2)))
    assert "PersonDeceased" in types(died)
    (told,) = [e.message for e in d.work.send(granted.message, topic=c.WORK.name, key=granted.key)]
    assert isinstance(told, c.CommandRejected) and told.reason == "person_deceased"
    assert d.person(alice).card is None
    assert rejection(d.send(_issue(bob, number))) == "card_number_in_use"


def test_a_forward_that_reaches_a_partition_not_keeping_its_person_is_refused(
    d: Domain,
) -> None:
    cid = _person(d, 1)
    ref = d.ref(cid)
    death = c.RecordDeath(citizen_id=cid, date_of_death=date(2024, 5, 2))
    forward = c.CommandForwarded(
        command_id="misrouted",
        command_type=death.TYPE,
        person=ref,
        sealed_citizen_id=d.env.ids.seal(cid),
        command=death.model_dump(mode="json", exclude={"citizen_id"}),
    )
    wrong = key_elsewhere(ref, N)
    with pytest.raises(NotKeptHere):
        d.work.send(forward, topic=c.WORK.name, key=wrong)
    assert d.person(cid).deceased_on is None
