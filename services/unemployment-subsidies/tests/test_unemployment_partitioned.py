"""Unemployment subsidies with its state partitioned, as on a Redis Cluster (`STATE_LAYOUT`).

Each record reads and writes only what its partition keeps (`Entity.owner`, domain/model.py): a
person's file and benefit with his reference, a region and its prices with the region code, a
directory shard with "region:shard". A job centre's command (keyed by citizen ID) is handed to
the person's partition on the work topic; a close or a release keyed otherwise than by its
region is refused by name. The rules' scenarios run here again, partitioned, and must hold and
say what they say in one slot.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest
import test_unemployment_rules as rules
import unemployment_harness as harness
from unemployment_harness import NJ, Service, citizen, reason, ref

from shebao_common.runtime.store import default_partition
from shebao_common.runtime.testing import key_elsewhere, made_partitioned, scenarios, unnumbered
from shebao_contracts import unemployment as u

N = 3


def _said(scenario: Any, partitions: int | None) -> Any:
    """Run a scenario (its own assertions hold or it fails); what each Service it made
    published on the events topic and to the bureaus, as multisets, and what it handed on."""
    with made_partitioned(Service, partitions) as made:
        scenario()
    said = [
        Counter(
            unnumbered(f"{t} {msg.model_dump_json()}")
            for t, msg, _ in s.published
            if t != u.WORK.name
        )
        for s in made
    ]
    handed = Counter(
        type(msg).__name__
        for s in made
        for t, msg, _ in s.published
        if isinstance(msg, (u.RegistrationForwarded, u.StopForwarded))
    )
    return said, handed


SEEN: Counter[str] = Counter()


@pytest.mark.parametrize("partitions", [N, 12])
@pytest.mark.parametrize("scenario", [pytest.param(f, id=n) for n, f in scenarios(rules)])
def test_every_rules_scenario_holds_and_says_the_same_with_the_state_partitioned(
    scenario: Any, partitions: int
) -> None:
    """The scenario's assertions hold partitioned, and it publishes the same events and tells
    the bureaus the same, record for record (a command id is the runner's, renumbered)."""
    one_slot, none = _said(scenario, None)
    partitioned, handed = _said(scenario, partitions)
    assert not none, "one slot keeps everything: nothing is handed on"
    assert partitioned == one_slot
    SEEN.update(handed)


def test_the_scenarios_hand_registrations_to_their_persons_partition() -> None:
    """The scenarios above did take the partitioned path (this runs after them)."""
    assert SEEN["RegistrationForwarded"] > 10


def _elsewhere(owner: str) -> str:
    return key_elsewhere(owner, N)


def test_a_registration_is_decided_where_the_person_is_kept_and_names_the_command() -> None:
    s = Service(partitions=N)
    cid = next(
        c
        for n in range(1, 50)
        if default_partition(c := citizen(n), N) != default_partition(ref(c), N)
    )
    n = next(i for i in range(1, 50) if citizen(i) == cid)
    s.laid_off(n, 24, date(2019, 2, 28))
    out = s.register(cid, date(2019, 3, 4))
    assert [type(m).__name__ for m in out] == ["BenefitGranted"]
    (handed,) = [m for t, m, _ in s.published if isinstance(m, u.RegistrationForwarded)]
    assert handed.person == ref(cid) and cid not in handed.model_dump_json()
    # refused there, the answer names the job centre's command, not the hand-off
    again = s.register(cid, date(2019, 3, 5))
    (refused,) = [m for m in again if isinstance(m, u.CommandRejected)]
    assert (refused.command_type, refused.reason) == (
        u.RegisterUnemployed.TYPE,
        "already_receiving",
    )
    assert refused.person == ref(cid)
    stopped = s.command(
        u.StopBenefit(citizen_id=cid, on=date(2019, 6, 15), cause=u.RecordedCause.EMIGRATED),
        date(2019, 6, 16),
    )
    assert [type(m).__name__ for m in stopped if not isinstance(m, u.DirectorySet)] == [
        "BenefitStopped"
    ]


@pytest.mark.parametrize("partitions", [None, N])
def test_a_close_or_a_release_keyed_otherwise_is_refused_by_name_where_partitioned(
    partitions: int | None,
) -> None:
    s = Service(partitions=partitions)
    close = u.ClosePaymentMonth(region=NJ, month="2019-03")
    out = s.send(u.COMMANDS.name, close, date(2019, 4, 1), key=_elsewhere(NJ))
    if partitions is None:  # one slot keeps everything: the key does not matter
        assert [type(m).__name__ for m in out] == ["PaymentMonthClosed"]
        return
    assert reason(out) == "command_key_mismatch"
    assert [type(m).__name__ for m in s.close("2019-03")] == ["PaymentMonthClosed"]
    released = s.send(
        u.CPI.named(code=f"s{NJ}"),
        harness.cpi_release(NJ, "2019-03", "3.5", "0.0"),
        date(2019, 4, 10),
        key=_elsewhere(NJ),
    )
    assert reason(released) == "release_key_mismatch"
