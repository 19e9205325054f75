"""Welfare with its state partitioned, as on a Redis Cluster (`STATE_LAYOUT`).

Each record reads and writes only what its partition keeps (`Entity.owner`, domain/model.py): a
household's case with its id, a 特困 person's support and every person with the person's
reference, a region with its code, a directory shard with "region:shard". A household's members
kept on other partitions are claimed from theirs (`ApplicationClaim`, `ReviewClaim`: held one
after the other, then decided at the household's); a support command keyed by citizen ID is
handed to the person's partition; a command keyed otherwise than its topic says is refused by
name. The rules' scenarios run here again, partitioned, and must hold and publish what they
publish in one slot.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import test_welfare_rules as rules
from welfare_harness import NJ, Service, cid, of_type, reason, ref

from shebao_common.runtime.store import default_partition
from shebao_common.runtime.testing import key_elsewhere, made_partitioned, scenarios, unnumbered
from shebao_contracts import welfare as w
from shebao_welfare.handlers import NotKeptHere

N = 3
JUNE = date(2019, 6, 10)
HANDED = (w.ApplicationClaim, w.ReviewClaim, w.SupportForwarded, w.SupportStopForwarded)


def _said(scenario: Any, partitions: int | None) -> Any:
    """Run a scenario (its own assertions hold or it fails); what each Service it made
    published on the events topic, as multisets, and what it handed on."""
    with made_partitioned(Service, partitions) as made:
        scenario()
    said = [
        Counter(
            unnumbered(f"{t} {msg.model_dump_json()}") for t, _, msg, _ in s.log if t != w.WORK.name
        )
        for s in made
    ]
    handed = Counter(
        type(msg).__name__ for s in made for _, _, msg, _ in s.log if isinstance(msg, HANDED)
    )
    return said, handed


SEEN: Counter[str] = Counter()


@pytest.mark.parametrize("partitions", [N, 12])
@pytest.mark.parametrize("scenario", [pytest.param(f, id=n) for n, f in scenarios(rules)])
def test_every_rules_scenario_holds_and_says_the_same_with_the_state_partitioned(
    scenario: Any, partitions: int
) -> None:
    """The scenario's assertions hold partitioned, and it publishes the same events, record
    for record (a command id is the runner's, renumbered)."""
    one_slot, none = _said(scenario, None)
    partitioned, handed = _said(scenario, partitions)
    assert not none, "one slot keeps everything: nothing is handed on"
    assert partitioned == one_slot
    SEEN.update(handed)


def test_the_scenarios_took_the_partitioned_paths() -> None:
    """The scenarios above did claim members and hand support on (this runs after them)."""
    assert SEEN["ApplicationClaim"] > 10
    assert SEEN["ReviewClaim"] > 0
    assert SEEN["SupportForwarded"] > 0


def _away(household: str, n: int, start: int = 1) -> list[str]:
    """`n` citizen IDs of persons kept on other partitions than the household."""
    home = default_partition(household, N)
    found = [c for i in range(start, 400) if default_partition(ref(c := cid(i)), N) != home]
    return found[:n]


def _elsewhere(owner: str) -> str:
    return key_elsewhere(owner, N)


def test_members_kept_elsewhere_are_claimed_and_the_household_decided_at_its_partition() -> None:
    s = Service(partitions=N)
    a, b = _away("H1", 2)
    out = s.apply("H1", [a, b], "0.00", JUNE)
    assert of_type(out, w.AllowanceDecided)
    assert s.person(a).case == s.person(b).case == "H1"
    claims = [m for t, _, m, _ in s.log if isinstance(m, w.ApplicationClaim)]
    # to a, then to b, then back to the household with both held
    assert [m.claim for m in claims] == [[ref(a), ref(b)], [ref(b)], []]
    assert claims[-1].held == [ref(a), ref(b)]
    assert not any(a in m.model_dump_json() or b in m.model_dump_json() for m in claims)
    # one of them is in H1 now: another household applying with him is refused at once
    assert reason(s.apply("H2", [b], "0.00", JUNE)) == "member_in_another_household"


def test_a_member_found_in_another_household_on_the_way_refuses_and_releases_those_held() -> None:
    """Two households claim the same person at once (the first household's read of him came
    before the second held him): the claim that finds him taken goes back refused, and the
    member it held already is released."""
    s = Service(partitions=N)
    a, b = _away("H1", 2)
    s.apply("H0", [b], "0.00", JUNE)
    assert s.person(b).case == "H0"
    claim = w.ApplicationClaim(
        command_id="office-cmd-1",
        household_id="H1",
        region=NJ,
        residence=w.Residence.URBAN,
        members=[ref(a), ref(b)],
        claim=[ref(a), ref(b)],
        monthly_income=Decimal("0.00"),
        assets_within_limit=True,
        applied_on=JUNE,
    )
    out = s.send(w.WORK.name, claim, JUNE)
    (refused,) = of_type(out, w.CommandRejected)
    assert (refused.command_id, refused.command_type, refused.reason) == (
        "office-cmd-1",
        w.ApplyForAllowance.TYPE,
        "member_in_another_household",
    )
    assert refused.household_id == "H1"
    assert s.person(a).case is None, "a, held for H1 on the way, is released"
    assert s.person(b).case == "H0"
    assert not of_type(out, w.AllowanceDecided)
    # H1 applies again without b: decided
    assert of_type(s.apply("H1", [a], "0.00", JUNE), w.AllowanceDecided)


def test_a_review_claims_the_members_it_keeps_and_adds_and_ends_every_hold() -> None:
    s = Service(partitions=N)
    a, b, c = _away("H1", 3)
    s.apply("H1", [a, b], "0.00", JUNE)
    out = s.command(
        w.ReviewHousehold(
            household_id="H1", members=[a, c], monthly_income=Decimal("0"), on=date(2019, 7, 1)
        ),
        date(2019, 7, 1),
    )
    assert of_type(out, w.AllowanceDecided)
    claims = [m for t, _, m, _ in s.log if isinstance(m, w.ReviewClaim)]
    assert [m.claim for m in claims] == [[ref(a), ref(c)], [ref(c)], []]
    assert claims[-1].held == [ref(a), ref(c)]
    assert (s.person(a).case, s.person(b).case, s.person(c).case) == ("H1", None, "H1")
    assert all(s.person(x).held == () and ref(x) in s.case("H1").members for x in (a, c))


def _review(cmd: str, members: list[str], on: date, claim: list[str]) -> w.ReviewClaim:
    return w.ReviewClaim(
        command_id=cmd,
        household_id="H1",
        members=[ref(m) for m in members],
        claim=[ref(m) for m in claim],
        monthly_income=Decimal("0"),
        on=on,
    )


def test_a_refused_claims_release_crossing_a_later_claim_keeps_the_member_held() -> None:
    """Two reviews of H1 claim b in turn; the first is refused at the household (its date is in
    the future) and its release reaches b after the second has held him: b stays held for
    H1, and the second's decision makes him its member. (Released by the first alone, b was
    free for another household while H1 counted him.)"""
    s = Service(partitions=N)
    a, b = _away("H1", 2)
    s.apply("H1", [a], "0.00", JUNE)
    work = s.runners[w.WORK.name]
    later = date(2019, 9, 1)  # in the future of the review's day: refused at the household
    (first,) = work.send(_review("c1", [a, b], later, [b]), topic=w.WORK.name, key=ref(b))
    (second,) = work.send(
        _review("c2", [a, b], date(2019, 7, 1), [b]), topic=w.WORK.name, key=ref(b)
    )
    assert s.person(b).held == ("c1", "c2") and ref(b) not in s.case("H1").members
    refused = work.send(first.message, topic=w.WORK.name, key="H1", when=date(2019, 7, 1))
    (release,) = [e.message for e in refused if isinstance(e.message, w.MemberSet)]
    assert (release.left, release.command_id) == ("H1", "c1")
    work.send(release, topic=w.WORK.name, key=ref(b))
    assert (s.person(b).case, s.person(b).held) == ("H1", ("c2",))
    assert reason(s.apply("H2", [b], "0.00", JUNE)) == "member_in_another_household"
    out = s.send(w.WORK.name, second.message, date(2019, 7, 1), key="H1")
    assert of_type(out, w.AllowanceDecided)
    assert (s.person(b).case, s.person(b).held) == ("H1", ()) and ref(b) in s.case("H1").members


def test_a_claims_decision_reaching_a_member_after_the_households_stop_clears_him() -> None:
    s = Service(partitions=N)
    (a,) = _away("H1", 1)
    work = s.runners[w.WORK.name]
    apply = w.ApplyForAllowance(
        household_id="H1",
        region=NJ,
        residence=w.Residence.URBAN,
        members=[a],
        monthly_income=Decimal("0.00"),
        assets_within_limit=True,
        applied_on=JUNE,
    )
    (claim,) = s.runners[w.COMMANDS.name].send(apply, topic=w.COMMANDS.name, key="H1", when=JUNE)
    (back,) = work.send(claim.message, topic=w.WORK.name, key=ref(a), when=JUNE)
    decided = work.send(back.message, topic=w.WORK.name, key="H1", when=JUNE)
    (confirm,) = [e.message for e in decided if isinstance(e.message, w.MemberSet)]
    assert (confirm.case, confirm.command_id) == ("H1", claim.message.command_id)
    # the household stops, and its leave reaches a before the application's decision does
    stop = w.StopAllowance(household_id="H1", on=date(2019, 7, 31), reason=w.StopReason.MOVED_AWAY)
    stopped = s.runners[w.COMMANDS.name].send(
        stop, topic=w.COMMANDS.name, key="H1", when=date(2019, 8, 1)
    )
    (leave,) = [e.message for e in stopped if isinstance(e.message, w.MemberSet)]
    work.send(leave, topic=w.WORK.name, key=ref(a))
    assert not s.case("H1").active
    held = (claim.message.command_id,)
    assert (s.person(a).case, s.person(a).held) == ("H1", held)  # still held by the claim
    work.send(confirm, topic=w.WORK.name, key=ref(a))
    assert (s.person(a).case, s.person(a).held) == (None, ())


def test_support_is_decided_where_the_person_is_kept_and_names_the_command() -> None:
    s = Service(partitions=N)
    c = next(
        c
        for i in range(1, 100)
        if default_partition(c := cid(i), N) != default_partition(ref(c), N)
    )
    apply = w.ApplyForSupport(
        citizen_id=c,
        region=NJ,
        residence=w.Residence.RURAL,
        unable_to_work=True,
        no_income=True,
        no_supporter=True,
        self_care=w.SelfCare.PARTIAL,
        applied_on=JUNE,
    )
    assert of_type(s.command(apply, JUNE), w.SupportDecided)
    (handed,) = [m for _, _, m, _ in s.log if isinstance(m, w.SupportForwarded)]
    assert handed.person == ref(c) and c not in handed.model_dump_json()
    again = s.command(apply, JUNE)
    (refused,) = of_type(again, w.CommandRejected)
    assert (refused.command_type, refused.reason, refused.person) == (
        w.ApplyForSupport.TYPE,
        "already_supported",
        ref(c),
    )
    # paid at the person's partition: the support case's payment is keyed by the person
    paid = of_type(s.close("2019-07"), w.AssistancePaid)
    assert [(p.person, p.amount) for p in paid] == [(ref(c), Decimal("1418.00"))]
    stop = w.StopSupport(citizen_id=c, on=date(2019, 8, 31), reason=w.StopReason.DECEASED)
    assert of_type(s.command(stop, date(2019, 9, 1)), w.AllowanceStopped)


@pytest.mark.parametrize("partitions", [None, N])
def test_a_command_keyed_otherwise_is_refused_by_name_where_partitioned(
    partitions: int | None,
) -> None:
    s = Service(partitions=partitions)
    s.apply("H1", [cid(1)], "0.00", JUNE)
    close = w.ClosePaymentMonth(region=NJ, month="2019-07")
    stop = w.StopAllowance(household_id="H1", on=date(2019, 8, 31), reason=w.StopReason.DECEASED)
    closed = s.send(w.COMMANDS.name, close, date(2019, 8, 1), key=_elsewhere(NJ))
    stopped = s.send(w.COMMANDS.name, stop, date(2019, 9, 1), key=_elsewhere("H1"))
    if partitions is None:  # one slot keeps everything: the key does not matter
        assert of_type(closed, w.AssistancePaid) and of_type(stopped, w.AllowanceStopped)
        return
    assert reason(closed) == reason(stopped) == "command_key_mismatch"
    assert of_type(s.close("2019-07"), w.AssistancePaid)


def test_a_claim_or_a_forward_misrouted_is_not_decided_nor_handed_on() -> None:
    s = Service(partitions=N)
    (a,) = _away("H1", 1)
    forward = w.SupportStopForwarded(
        command_id="c-1", person=ref(a), on=JUNE, reason=w.StopReason.DECEASED
    )
    claim = w.ReviewClaim(
        command_id="c-2",
        household_id="H1",
        members=[ref(a)],
        claim=[],
        monthly_income=Decimal("0"),
        on=JUNE,
    )
    work = s.runners[w.WORK.name]
    with pytest.raises(NotKeptHere):
        work.send(forward, topic=w.WORK.name, key=_elsewhere(ref(a)))
    with pytest.raises(NotKeptHere):
        work.send(claim, topic=w.WORK.name, key=_elsewhere("H1"))
