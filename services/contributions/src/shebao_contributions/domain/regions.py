"""A region's clock and directory: what a period close must reach, and how it fans out.

The close of a month is the region's "now": a scheduler sends it, the region's months close in
order, each once. It fans out in two steps so that no handler touches more than one shard's
worth of keys: close -> one AssessShard per directory shard -> one AssessEmployer per employer,
one AssessPerson per person paying alone, one CheckInterruption per watch that is due.
"""

from __future__ import annotations

from datetime import datetime

from shebao_common.domain import Effects, Refused
from shebao_contracts import contributions as cc

from . import periods
from .calendar import not_in_future
from .effects import fan_out, to_events
from .env import Env
from .model import Directory, PayerEntry, RegionClock
from .rates import bureau

R = cc.Rejection


def close_period(
    clock: RegionClock | None, cmd: cc.ClosePeriod, env: Env, received: datetime
) -> tuple[RegionClock, Effects]:
    """Close a month: only once it is over on the day the command was sent (`received`, its
    ce_time), so that no assessment, arrears or interruption is judged on months to come."""
    not_in_future(
        periods.first_day(periods.shift(cmd.month, 1)),
        received,
        env.params,
        cmd.region,
        f"month {cmd.month} is over",
        "close",
    )
    last = clock.last_closed if clock is not None else None
    if last is not None and cmd.month <= last:
        raise Refused(R.PERIOD_ALREADY_CLOSED, f"{cmd.region} closed {last} already")
    if last is not None and cmd.month != periods.shift(last, 1):
        raise Refused(
            R.PERIOD_OUT_OF_ORDER,
            f"{cmd.region} closed {last}; {periods.shift(last, 1)} closes before {cmd.month}",
        )
    code = bureau(env.params, cmd.region, cmd.month)
    if code is None:
        raise Refused(R.NO_TAX_BUREAU, f"no tax bureau collects for {cmd.region} in {cmd.month}")
    fx = Effects()
    for shard in range(env.shards):
        fan_out(
            fx,
            f"{cmd.region}:{shard}",
            cc.AssessShard(region=cmd.region, month=cmd.month, shard=shard),
        )
    to_events(fx, cmd.region, cc.PeriodClosed(region=cmd.region, month=cmd.month, bureau=code))
    return closed(clock, cmd.month), fx


def closed(clock: RegionClock | None, month: str) -> RegionClock:
    """The region's clock once `month` is closed (the close, and a rebuild folding it)."""
    last = clock.last_closed if clock is not None else None
    return RegionClock(last_closed=periods.later(last, month))


def assess_shard(d: Directory | None, msg: cc.AssessShard) -> tuple[Directory | None, Effects]:
    fx = Effects()
    if d is None:
        return d, fx
    for employer in d.employers:
        fan_out(
            fx, employer, cc.AssessEmployer(employer=employer, region=msg.region, month=msg.month)
        )
    year = periods.year(msg.month)
    persons = [
        person
        for person, entry in sorted(d.payers.items())
        if entry.kind != "yearly" or entry.assessed_year is None or entry.assessed_year < year
    ]
    yearly = [person for person in persons if d.payers[person].kind == "yearly"]
    fired = [person for person, close in sorted(d.watches.items()) if close <= msg.month]
    if yearly or fired:  # what it changes in the shard, on the work topic for a rebuild
        done = cc.ShardAssessed(
            region=msg.region, month=msg.month, shard=msg.shard, yearly=yearly, fired=fired
        )
        fan_out(fx, f"{msg.region}:{msg.shard}", done)
        d = shard_assessed(d, done)
    for person in persons:
        fan_out(fx, person, cc.AssessPerson(person=person, region=msg.region, month=msg.month))
    for person in fired:
        fan_out(fx, person, cc.CheckInterruption(person=person, region=msg.region, month=msg.month))
    return d, fx


def shard_assessed(d: Directory, done: cc.ShardAssessed) -> Directory:
    """The shard as a close left it (the close, and a rebuild folding its ShardAssessed): the
    yearly payers assessed for the year, the watches fired gone."""
    year = periods.year(done.month)
    payers = dict(d.payers)
    for person in done.yearly:
        entry = payers.get(person)
        if entry is not None and entry.kind == "yearly":
            payers[person] = entry.model_copy(update={"assessed_year": year})
    watches = {p: close for p, close in d.watches.items() if p not in set(done.fired)}
    return d.model_copy(update={"payers": payers, "watches": watches})


def add_employer(d: Directory | None, msg: cc.DirectoryEmployerAdded) -> Directory:
    d = d or Directory()
    if msg.employer in d.employers:
        return d
    return d.model_copy(update={"employers": tuple(sorted((*d.employers, msg.employer)))})


def set_payer(d: Directory | None, msg: cc.DirectoryPayerSet) -> Directory:
    d = d or Directory()
    payers = dict(d.payers)
    if msg.kind is None:
        payers.pop(msg.person, None)
    else:
        held = payers.get(msg.person)
        if held is None or held.kind != msg.kind:
            payers[msg.person] = PayerEntry(kind=msg.kind)
    return d.model_copy(update={"payers": payers})


def set_watch(d: Directory | None, msg: cc.DirectoryWatchSet) -> Directory:
    d = d or Directory()
    watches = dict(d.watches)
    if msg.close is None:
        watches.pop(msg.person, None)
    else:
        watches[msg.person] = msg.close
    return d.model_copy(update={"watches": watches})
