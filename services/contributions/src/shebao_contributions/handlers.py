"""The handler tables, one per subscription: each message to its rule, with its keys declared.

Handlers translate: state in, rule called, the rule's effects turned into state writes and emits
(events, the service's own fan-out, the bureau's assessments topic). A refusal of a command is a
CommandRejected keyed by the command id; a refused bureau report goes back to the bureau on its
assessments topic as a CollectionRejected (and to the events topic), keyed by the collection id.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shebao_common.domain import Refused
from shebao_common.runtime import (
    Context,
    Decision,
    Emit,
    HandlerTable,
    RejectedRecord,
    State,
    StateKey,
    key_mismatch,
)
from shebao_common.runtime import command_rejected as answer_refused
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as un
from shebao_contracts import welfare as wf
from shebao_contracts.envelope import Message

from .domain import employers, periods, persons, regions, tax
from .domain import ledger as lg
from .domain.env import Env
from .domain.model import (
    ACCOUNT,
    ASSESSMENT,
    CLOCK,
    DIRECTORY,
    EMPLOYER,
    LEDGER,
    PERSON,
    WAGES,
    Account,
    Directory,
    EmployerAssessment,
    EmployerFacts,
    EmployerLedger,
    PersonFacts,
    PersonFile,
    WageSheet,
)

enrollment_handlers: HandlerTable[Env] = HandlerTable()
transfer_handlers: HandlerTable[Env] = HandlerTable()
command_handlers: HandlerTable[Env] = HandlerTable()
work_handlers: HandlerTable[Env] = HandlerTable()
unemployment_handlers: HandlerTable[Env] = HandlerTable()
welfare_handlers: HandlerTable[Env] = HandlerTable()
collection_handlers: HandlerTable[Env] = HandlerTable()


def _person_keys(ref: str) -> list[StateKey[Any]]:
    return [PERSON.key(ref), ACCOUNT.key(ref)]


def _person(m: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return _person_keys(m.person)


def _load(state: State, ref: str) -> PersonFile | None:
    """The person as the rules read him, from his two keys (None: neither is known)."""
    facts, account = state.get(PERSON.key(ref)), state.get(ACCOUNT.key(ref))
    if facts is None and account is None:
        return None
    return PersonFile.of(ref, facts, account)


_FACTS, _ACCOUNT = tuple(PersonFacts.model_fields), tuple(Account.model_fields)


def _changed(names: tuple[str, ...], before: PersonFile, p: PersonFile) -> bool:
    """Whether a half of the file differs: what comparing the two halves' models would say,
    without building them (a rule's copy shares every value it did not change)."""
    for n in names:
        now, then = getattr(p, n), getattr(before, n)
        if now is not then and now != then:
            return True
    return False


def _kept(d: Decision, before: PersonFile | None, p: PersonFile | None) -> Decision:
    """Write the half of the person's file that changed (or that is new): the facts, the
    account, or both (only the enrollment subscription changes both, until it is split)."""
    if p is None:
        return d
    if before is None:
        facts, account = p.facts(), p.account()
        if facts != PersonFacts(ref=p.ref):
            d.put(PERSON.key(p.ref), facts)
        if account != Account(ref=p.ref):
            d.put(ACCOUNT.key(p.ref), account)
        return d
    if _changed(_FACTS, before, p):
        d.put(PERSON.key(p.ref), p.facts())
    if _changed(_ACCOUNT, before, p):
        d.put(ACCOUNT.key(p.ref), p.account())
    return d


EmployerMonthKeys = tuple[
    StateKey[EmployerFacts],
    StateKey[WageSheet],
    StateKey[EmployerAssessment],
    StateKey[EmployerLedger],
]


def _employer_month_keys(employer: str, month: str) -> EmployerMonthKeys:
    return (
        EMPLOYER.key(employer),
        WAGES.key(employer, month),
        ASSESSMENT.key(employer, month),
        LEDGER.key(employer),
    )


def _employer_month(m: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return list(_employer_month_keys(m.employer, m.month))


# ---------------------------------------------------------------------------------------------
# shebao.enrollment.events.v1


_PERSON_EVENTS: tuple[type[Message], ...] = (
    ce.PersonRegistered,
    ce.MembershipStarted,
    ce.MembershipSuspended,
    ce.MembershipResumed,
    ce.MembershipChanged,
    ce.MembershipEnded,
    ce.ResidentPensionTierChosen,
    ce.PersonDeceased,
)


def _follow_person(state: State, event: Message, ctx: Context[Env]) -> Decision:
    before = _load(state, event.person)  # type: ignore[attr-defined]
    p, fx = persons.apply_enrollment(before, event, ctx.env)
    return _kept(Decision(), before, p).apply(fx)


for _event in _PERSON_EVENTS:
    enrollment_handlers.on(_event, needs=_person)(_follow_person)


@enrollment_handlers.on(ce.EmployerRegistered, needs=lambda m, ctx: [EMPLOYER.key(m.employer)])
def employer_registered(state: State, event: ce.EmployerRegistered, ctx: Context[Env]) -> Decision:
    key = EMPLOYER.key(event.employer)
    before = state.get(key)
    e, fx = employers.apply_enrollment(before, event, ctx.env)
    employers.followed(before, e, None, fx)
    d = Decision()
    if e is not None:
        d.put(key, e)
    return d.apply(fx)


def _person_and_employer(m: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [*_person_keys(m.person), EMPLOYER.key(m.employer)]


Employment = ce.EmploymentStarted | ce.EmploymentEnded


def _employment(state: State, event: Employment, ctx: Context[Env]) -> Decision:
    """The person's file and the employer's roster. Where the state is partitioned and the
    employer lives in another partition, the roster is handed to it (`RosterChanged`)."""
    env = ctx.env
    person = _load(state, event.person)
    sealed = person.sealed_id if person is not None else None
    p, pfx = persons.apply_enrollment(person, event, env)
    d = _kept(Decision(), person, p).apply(pfx)
    if state.owns(EMPLOYER.key(event.employer)):
        return _roster(d, state, event, sealed, env)
    started = event if isinstance(event, ce.EmploymentStarted) else None
    ended = event if isinstance(event, ce.EmploymentEnded) else None
    change = cc.RosterChanged(
        employer=event.employer,
        person=event.person,
        started=started,
        ended=ended,
        sealed_citizen_id=sealed,
    )
    return d.emit(cc.WORK, event.employer, change)


def _roster(d: Decision, state: State, event: Employment, sealed: str | None, env: Env) -> Decision:
    """An employment on the employer's roster (its file is created by whichever comes first)."""
    ekey = EMPLOYER.key(event.employer)
    held = state.get(ekey)
    e, efx = employers.apply_enrollment(held, event, env, sealed_id=sealed)
    employers.followed(held, e, event.person, efx)
    if e is not None:
        d.put(ekey, e)
    return d.apply(efx)


enrollment_handlers.on(ce.EmploymentStarted, needs=_person_and_employer)(_employment)
enrollment_handlers.on(ce.EmploymentEnded, needs=_person_and_employer)(_employment)


@transfer_handlers.on(ce.PersonTransferredOut, needs=lambda m, ctx: [ACCOUNT.key(m.person)])
def transferred_out(state: State, event: ce.PersonTransferredOut, ctx: Context[Env]) -> Decision:
    """What moves with a transfer-out: a decision on the accounts alone (its own subscription,
    every record of which publishes; the memberships it ends come as their own events)."""
    key = ACCOUNT.key(event.person)
    p = PersonFile.of(event.person, None, state.get(key))
    p, computed = persons.transfer_out(p, event, ctx.env)
    return Decision().put(key, p.account()).emit(cc.EVENTS, p.ref, computed)


# ---------------------------------------------------------------------------------------------
# shebao.contributions.commands.v1


def command_rejected(ctx: Context[Env], cmd: Message, refused: Refused) -> Decision:
    return answer_refused(
        cc.CommandRejected,
        cc.EVENTS,
        ctx,
        cmd,
        refused,
        employer=getattr(cmd, "employer", None),
        person=getattr(cmd, "person", None),
        region=getattr(cmd, "region", None),
    )


def _misrouted(
    state: State, key: StateKey[Any], ctx: Context[Env], cmd: Message
) -> Decision | None:
    """A command keyed otherwise than its contract says, where the state is partitioned: the
    partition it came to does not keep what it changes, so it is refused by name (in one slot
    every partition keeps everything, and the key does not matter)."""
    if state.owns(key):
        return None
    refused = key_mismatch(
        cc.Rejection.COMMAND_KEY_MISMATCH, ctx, cmd, repr(key.id.partition(":")[0])
    )
    return command_rejected(ctx, cmd, refused)


@command_handlers.on(cc.DeclareWages, needs=_employer_month)
def declare_wages(state: State, cmd: cc.DeclareWages, ctx: Context[Env]) -> Decision:
    keys = _employer_month_keys(cmd.employer, cmd.month)
    if (wrong := _misrouted(state, keys[1], ctx, cmd)) is not None:
        return wrong
    ledger = state.get(keys[3])
    try:
        sheet, assessment, ledger, fx = employers.declare_wages(
            employers.roster_view(state.get(keys[0]), ledger),
            state.get(keys[1]),
            state.get(keys[2]),
            ledger,
            cmd,
            ctx.env,
            ctx.time,
        )
    except Refused as refused:
        return command_rejected(ctx, cmd, refused)
    d = Decision().put(keys[1], sheet)
    if assessment is not None:
        d.put(keys[2], assessment)
    if ledger is not None:
        d.put(keys[3], ledger)
    return d.apply(fx)


@command_handlers.on(cc.ClosePeriod, needs=lambda m, ctx: [CLOCK.key(m.region)])
def close_period(state: State, cmd: cc.ClosePeriod, ctx: Context[Env]) -> Decision:
    key = CLOCK.key(cmd.region)
    if (wrong := _misrouted(state, key, ctx, cmd)) is not None:
        return wrong
    try:
        clock, fx = regions.close_period(state.get(key), cmd, ctx.env, ctx.time)
    except Refused as refused:
        return command_rejected(ctx, cmd, refused)
    return Decision().put(key, clock).apply(fx)


@command_handlers.on(cc.AdvanceContributions, needs=_person)
def advance_contributions(
    state: State, cmd: cc.AdvanceContributions, ctx: Context[Env]
) -> Decision:
    if (wrong := _misrouted(state, ACCOUNT.key(cmd.person), ctx, cmd)) is not None:
        return wrong
    before = _load(state, cmd.person)
    try:
        p, fx = persons.advance(before, cmd, ctx.env)
    except Refused as refused:
        return command_rejected(ctx, cmd, refused)
    return _kept(Decision(), before, p).apply(fx)


# ---------------------------------------------------------------------------------------------
# shebao.contributions.work.v1 (the service's own fan-out)


def _shard(m: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [DIRECTORY.key(m.region, str(m.shard))]


@work_handlers.on(cc.AssessShard, needs=_shard)
def assess_shard(state: State, msg: cc.AssessShard, ctx: Context[Env]) -> Decision:
    key = DIRECTORY.key(msg.region, str(msg.shard))
    directory, fx = regions.assess_shard(state.get(key), msg)
    d = Decision()
    if directory is not None:
        d.put(key, directory)
    return d.apply(fx)


@work_handlers.on(cc.AssessEmployer, needs=_employer_month)
def assess_employer(state: State, msg: cc.AssessEmployer, ctx: Context[Env]) -> Decision:
    keys = _employer_month_keys(msg.employer, msg.month)
    ledger = state.get(keys[3])
    assessment, ledger, fx = employers.assess_employer(
        employers.roster_view(state.get(keys[0]), ledger),
        state.get(keys[1]),
        state.get(keys[2]),
        ledger,
        msg.region,
        msg.month,
        ctx.env,
    )
    d = Decision()
    if assessment is not None:
        d.put(keys[2], assessment)
    if ledger is not None:
        d.put(keys[3], ledger)
    return d.apply(fx)


@work_handlers.on(cc.AssessPerson, needs=_person)
def assess_person(state: State, msg: cc.AssessPerson, ctx: Context[Env]) -> Decision:
    before = _load(state, msg.person)
    p, fx = persons.assess_person(before, msg.region, msg.month, ctx.env)
    return _kept(Decision(), before, p).apply(fx)


@work_handlers.on(cc.CreditPerson, needs=_person)
def credit_person(state: State, msg: cc.CreditPerson, ctx: Context[Env]) -> Decision:
    before = _load(state, msg.person)
    p = before or PersonFile(ref=msg.person)
    parts = [persons.part_of(x) for x in msg.insurances]
    p, fx = persons.credit(
        p,
        msg.period,
        parts,
        "employer",
        ctx.env,
        region=msg.region,
        employer=msg.employer,
        assessment_id=msg.assessment_id,
    )
    return _kept(Decision(), before, p).apply(fx)


@work_handlers.on(cc.CheckInterruption, needs=_person)
def check_interruption(state: State, msg: cc.CheckInterruption, ctx: Context[Env]) -> Decision:
    before = _load(state, msg.person)
    if before is None:
        return Decision()
    p, fx = persons.judge(before, msg.month, ctx.env, from_watch=True)
    return _kept(Decision(), before, p).apply(fx)


@work_handlers.on(cc.DirectoryEmployerAdded, needs=_shard)
def directory_employer(state: State, msg: cc.DirectoryEmployerAdded, ctx: Context[Env]) -> Decision:
    key = DIRECTORY.key(msg.region, str(msg.shard))
    return Decision().put(key, regions.add_employer(state.get(key), msg))


@work_handlers.on(cc.DirectoryPayerSet, needs=_shard)
def directory_payer(state: State, msg: cc.DirectoryPayerSet, ctx: Context[Env]) -> Decision:
    key = DIRECTORY.key(msg.region, str(msg.shard))
    return Decision().put(key, regions.set_payer(state.get(key), msg))


@work_handlers.on(cc.DirectoryWatchSet, needs=_shard)
def directory_watch(state: State, msg: cc.DirectoryWatchSet, ctx: Context[Env]) -> Decision:
    key = DIRECTORY.key(msg.region, str(msg.shard))
    return Decision().put(key, regions.set_watch(state.get(key), msg))


@work_handlers.on(cc.RosterChanged, needs=lambda m, ctx: [EMPLOYER.key(m.employer)])
def roster_changed(state: State, msg: cc.RosterChanged, ctx: Context[Env]) -> Decision:
    """An employment the person's partition handed on (partitioned state, `_employment`)."""
    event = msg.started or msg.ended
    assert event is not None, "a RosterChanged carries an employment"
    return _roster(Decision(), state, event, msg.sealed_citizen_id, ctx.env)


@work_handlers.on(cc.RosterLeave, needs=lambda m, ctx: [LEDGER.key(m.employer)])
def roster_leave(state: State, msg: cc.RosterLeave, ctx: Context[Env]) -> Decision:
    """A leave enrollment did not report (a death): the employer's ledger keeps it, as the
    assessments' view of the roster (`roster_view`); its record is on the work topic."""
    key = LEDGER.key(msg.employer)
    return Decision().put(key, employers.leave(state.get(key), msg.person, msg.on))


# ---------------------------------------------------------------------------------------------
# partner.tax.<code>.collections.v1


def _bureau(ctx: Context[Env]) -> str:
    return ctx.topic_fields["code"]


@dataclass(frozen=True, slots=True)
class Report:
    """Where a bureau's report came from: the bureau, and its place on the bureau's topic
    (the record itself, or the one a forward names)."""

    bureau: str
    partition: int
    offset: int

    @staticmethod
    def of(ctx: Context[Env]) -> Report:
        return Report(_bureau(ctx), ctx.partition, ctx.offset)


def collection_rejected(
    report: Report,
    msg: cc.EmployerContributionsCollected | cc.PersonContributionsCollected,
    refused: Refused,
    *,
    person: str | None = None,
) -> Decision:
    """The event names the person by reference, the answer to the bureau by the ID it sent."""
    code = report.bureau
    rejection = cc.CollectionRejected(
        bureau=code,
        reason=refused.reason.value,
        detail=refused.detail,
        collection_id=msg.collection_id,
        employer=getattr(msg, "employer", None),
        person=person,
        period=msg.month if isinstance(msg, cc.EmployerContributionsCollected) else msg.period,
        partition=report.partition,
        offset=report.offset,
    )
    key = msg.collection_id
    answer = tax.rejection(rejection, getattr(msg, "citizen_id", None))
    return (
        Decision()
        .emit(cc.ASSESSMENTS.named(code=code), key, answer)
        .emit(cc.EVENTS, key, rejection)
    )


def reject_invalid_collection(r: RejectedRecord) -> Emit | None:
    """A bureau record the runtime could not read (malformed JSON, schema, money format...):
    the bureau hears it by name on its own assessments topic."""
    code = r.topic_fields.get("code")
    if code is None:
        return None
    return Emit(
        cc.ASSESSMENTS.named(code=code),
        r.key or f"{r.partition}/{r.offset}",
        cc.TaxCollectionRejected(
            bureau=code,
            reason=r.reason,
            detail=r.detail,
            partition=r.partition,
            offset=r.offset,
        ),
    )


@collection_handlers.on(
    cc.EmployerContributionsCollected,
    needs=lambda m, ctx: [ASSESSMENT.key(m.employer, m.month), LEDGER.key(m.employer)],
)
def employer_collected(
    state: State, msg: cc.EmployerContributionsCollected, ctx: Context[Env]
) -> Decision:
    """Booked here, or, where the state is partitioned and the report was not keyed by the
    employer code, handed to the employer's partition (the citizen IDs sealed)."""
    report = Report.of(ctx)
    if state.owns(LEDGER.key(msg.employer)):
        return _book_employer(state, msg, report, ctx)
    ids = ctx.env.ids
    shares = None
    if msg.persons is not None:
        shares = [
            cc.SealedShare(
                person=ids.person_ref(x.citizen_id),
                sealed_citizen_id=ids.seal(x.citizen_id),
                amount=x.amount,
            )
            for x in msg.persons
        ]
    forward = cc.EmployerCollectionForwarded(
        bureau=report.bureau,
        partition=report.partition,
        offset=report.offset,
        collection_id=msg.collection_id,
        employer=msg.employer,
        month=msg.month,
        amount=msg.amount,
        persons=shares,
    )
    return Decision().emit(cc.WORK, msg.employer, forward)


def _book_employer(
    state: State, msg: cc.EmployerContributionsCollected, report: Report, ctx: Context[Env]
) -> Decision:
    akey, lkey = ASSESSMENT.key(msg.employer, msg.month), LEDGER.key(msg.employer)
    try:
        ledger, fx = employers.book_employer_collection(
            state.get(akey), state.get(lkey), msg, report.bureau, ctx.time, ctx.env
        )
    except Refused as refused:
        return collection_rejected(report, msg, refused)
    return Decision().put(lkey, ledger).apply(fx)


def _collected_person(m: cc.PersonContributionsCollected, ctx: Context[Env]) -> list[StateKey[Any]]:
    return _person_keys(ctx.env.ids.person_ref(m.citizen_id))


@collection_handlers.on(cc.PersonContributionsCollected, needs=_collected_person)
def person_collected(
    state: State, msg: cc.PersonContributionsCollected, ctx: Context[Env]
) -> Decision:
    """The bureau names the person by citizen ID: pseudonymised here, at the boundary. Where
    the state is partitioned the report (keyed by its collection id) is handed to the person's
    partition, the ID sealed."""
    ids = ctx.env.ids
    ref = ids.person_ref(msg.citizen_id)
    report = Report.of(ctx)
    if state.owns(ACCOUNT.key(ref)):
        return _book_person(state, msg, ref, report, ctx)
    forward = cc.PersonCollectionForwarded(
        bureau=report.bureau,
        partition=report.partition,
        offset=report.offset,
        collection_id=msg.collection_id,
        person=ref,
        sealed_citizen_id=ids.seal(msg.citizen_id),
        period=msg.period,
        amount=msg.amount,
    )
    return Decision().emit(cc.WORK, ref, forward)


def _book_person(
    state: State,
    msg: cc.PersonContributionsCollected,
    ref: str,
    report: Report,
    ctx: Context[Env],
) -> Decision:
    before = _load(state, ref)
    try:
        p, fx = persons.book_person_collection(before, msg, report.bureau, ctx.time, ctx.env)
    except Refused as refused:
        return collection_rejected(report, msg, refused, person=ref)
    return _kept(Decision(), before, p).apply(fx)


@work_handlers.on(
    cc.EmployerCollectionForwarded,
    needs=lambda m, ctx: [ASSESSMENT.key(m.employer, m.month), LEDGER.key(m.employer)],
)
def employer_collection_forwarded(
    state: State, msg: cc.EmployerCollectionForwarded, ctx: Context[Env]
) -> Decision:
    """A bureau's report another partition handed on: booked as if it had come keyed right."""
    ids = ctx.env.ids
    shares = None
    if msg.persons is not None:
        shares = [
            cc.PersonAmount(citizen_id=ids.open(x.sealed_citizen_id, x.person), amount=x.amount)
            for x in msg.persons
        ]
    report = cc.EmployerContributionsCollected(
        collection_id=msg.collection_id,
        employer=msg.employer,
        month=msg.month,
        amount=msg.amount,
        persons=shares,
    )
    return _book_employer(state, report, Report(msg.bureau, msg.partition, msg.offset), ctx)


@work_handlers.on(cc.PersonCollectionForwarded, needs=lambda m, ctx: _person_keys(m.person))
def person_collection_forwarded(
    state: State, msg: cc.PersonCollectionForwarded, ctx: Context[Env]
) -> Decision:
    """A person's report the collection's partition handed on, booked here."""
    report = cc.PersonContributionsCollected(
        collection_id=msg.collection_id,
        citizen_id=ctx.env.ids.open(msg.sealed_citizen_id, msg.person),
        period=msg.period,
        amount=msg.amount,
    )
    origin = Report(msg.bureau, msg.partition, msg.offset)
    return _book_person(state, report, msg.person, origin, ctx)


# ---------------------------------------------------------------------------------------------
# shebao.unemployment-subsidies.events.v1


@unemployment_handlers.on(un.MedicalContributionPaid, needs=_person)
def fund_paid_medical(state: State, msg: un.MedicalContributionPaid, ctx: Context[Env]) -> Decision:
    before = _load(state, msg.person)
    p, fx = persons.fund_medical(before, msg, ctx.env)
    return _kept(Decision(), before, p).apply(fx)


# ---------------------------------------------------------------------------------------------
# shebao.welfare.events.v1


@welfare_handlers.on(wf.PensionPaidOnBehalf, needs=_person)
def pension_paid_on_behalf(
    state: State, msg: wf.PensionPaidOnBehalf, ctx: Context[Env]
) -> Decision:
    before = _load(state, msg.person)
    p, fx = persons.paid_on_behalf(before, msg, ctx.env)
    return _kept(Decision(), before, p).apply(fx)


# ---------------------------------------------------------------------------------------------
# The fold of the service's published decisions (a rebuild, `FromDecisions`): each handler puts
# into state what a published record says was decided, with the rule's own functions, and emits
# nothing. The events topic is written by several subscriptions, each through its own relay, so
# a value that more than one of them changes is folded order-free (REBUILD.md point 5); the work
# topic is read by the work subscription alone, in each partition's order, so its keys are
# folded by running the same steps in the same order.

decision_log: HandlerTable[Env] = HandlerTable()


@decision_log.on(cc.WagesDeclared, needs=lambda m, ctx: [WAGES.key(m.employer, m.month)])
def wages_declared(state: State, event: cc.WagesDeclared, ctx: Context[Env]) -> Decision:
    key = WAGES.key(event.employer, event.month)
    return Decision().put(key, employers.declared(state.get(key), event.wages))


@decision_log.on(
    cc.AssessmentLines,
    needs=lambda m, ctx: [ASSESSMENT.key(m.employer, m.month), LEDGER.key(m.employer)],
)
def assessment_lines(state: State, record: cc.AssessmentLines, ctx: Context[Env]) -> Decision:
    akey, lkey = ASSESSMENT.key(record.employer, record.month), LEDGER.key(record.employer)
    assessment = employers.assessed_lines(state.get(akey), record, ctx.env)
    lines = [ln for ln in assessment.lines if ln.person in {x.person for x in record.lines}]
    ledger = employers.carry(
        state.get(lkey) or EmployerLedger(), record.month, record.revision, lines
    )
    return Decision().put(akey, assessment).put(lkey, ledger)


@decision_log.on(cc.EmployerAssessed, needs=lambda m, ctx: [LEDGER.key(m.employer)])
def employer_assessed(state: State, record: cc.EmployerAssessed, ctx: Context[Env]) -> Decision:
    key = LEDGER.key(record.employer)
    return Decision().put(key, employers.assessed(state.get(key) or EmployerLedger(), record.month))


def _payer(m: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    """An employer's ledger, or the account of a person paying alone (his ledger is in it)."""
    return [LEDGER.key(m.employer)] if m.employer is not None else [ACCOUNT.key(m.person)]


def _account(m: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [ACCOUNT.key(m.person)]


def _folded_person(state: State, ref: str) -> tuple[StateKey[Any], PersonFile]:
    """The account as the rules' functions take it (a whole file): the fold has no facts, and
    nothing it calls reads them; only the account is written back."""
    key = ACCOUNT.key(ref)
    return key, PersonFile.of(ref, None, state.get(key))


def _settled(p: PersonFile, booking: lg.Booking[lg.Ledger] | None) -> PersonFile:
    """A period of the person's own paid in full leaves its assessed parts (their credit is
    folded from its ContributionCredited)."""
    if booking is not None and booking.newly_settled:
        p, _ = persons.settled(p, booking.due.period)
    return p


@decision_log.on(cc.AssessmentIssued, needs=_payer)
def assessment_issued(state: State, event: cc.AssessmentIssued, ctx: Context[Env]) -> Decision:
    if event.employer is not None:
        key = LEDGER.key(event.employer)
        ledger = lg.issued(
            state.get(key) or EmployerLedger(),
            event.period,
            event.assessment_id,
            event.revision,
            event.region,
            event.bureau,
            event.total,
            event.credit_applied,
        )
        return Decision().put(key, ledger)
    assert event.person is not None
    pkey, p = _folded_person(state, event.person)
    own = lg.issued(
        p.ledger,
        event.period,
        event.assessment_id,
        event.revision,
        event.region,
        event.bureau,
        event.total,
        event.credit_applied,
    )
    parts = tuple(persons.part_of(x) for x in event.insurances)
    p = p.model_copy(update={"ledger": own, "assessed": {**p.assessed, event.period: parts}})
    due = own.dues[event.period]
    if due.settled:  # the held credit covered it
        p, _ = persons.settled(p, event.period)
    elif periods.is_year(event.period):  # the government may have paid for it before
        p, booking = persons.book_on_behalf(p, int(event.period))
        p = _settled(p, booking)
    return Decision().put(pkey, p.account())


@decision_log.on(cc.PaymentBooked, needs=_payer)
def payment_booked(state: State, event: cc.PaymentBooked, ctx: Context[Env]) -> Decision:
    def book(ledger: lg.L) -> lg.Booking[lg.L]:
        when = ctx.time.date()  # the report's time, which the event carries
        return lg.book(ledger, event.period, event.collection_id, event.amount, event.bureau, when)

    if event.employer is not None:
        key = LEDGER.key(event.employer)
        return Decision().put(key, book(state.get(key) or EmployerLedger()).ledger)
    assert event.person is not None
    pkey, p = _folded_person(state, event.person)
    booking = book(p.ledger)
    return Decision().put(
        pkey, _settled(p.model_copy(update={"ledger": booking.ledger}), booking).account()
    )


@decision_log.on(cc.ArrearsBooked, needs=_payer)
def arrears_booked(state: State, event: cc.ArrearsBooked, ctx: Context[Env]) -> Decision:
    """Booked at a close (an unpaid period) or with a short payment (then it is in arrears
    already): either way the period is in arrears."""
    if event.employer is not None:
        key = LEDGER.key(event.employer)
        ledger, _ = lg.overdue(state.get(key) or EmployerLedger(), event.period)
        return Decision().put(key, ledger)
    assert event.person is not None
    pkey, p = _folded_person(state, event.person)
    own, _ = lg.overdue(p.ledger, event.period)
    return Decision().put(pkey, p.model_copy(update={"ledger": own}).account())


@decision_log.on(cc.PaidOnBehalfRecorded, needs=_account)
def paid_on_behalf_recorded(
    state: State, event: cc.PaidOnBehalfRecorded, ctx: Context[Env]
) -> Decision:
    pkey, p = _folded_person(state, event.person)
    p = persons.recorded_on_behalf(p, event.year, event.amount)
    p, booking = persons.book_on_behalf(p, event.year)
    return Decision().put(pkey, _settled(p, booking).account())


@decision_log.on(cc.ContributionCredited, needs=_account)
def contribution_credited(
    state: State, event: cc.ContributionCredited, ctx: Context[Env]
) -> Decision:
    pkey, p = _folded_person(state, event.person)
    assert event.region is not None  # every credit names it since it was published
    for line in event.insurances:
        p = persons.count(p, event.period, line, event.region, ctx.env)
    return Decision().put(pkey, p.account())


@decision_log.on(cc.AdvanceRecovered, needs=_account)
def advance_recovered(state: State, event: cc.AdvanceRecovered, ctx: Context[Env]) -> Decision:
    pkey, p = _folded_person(state, event.person)
    base = event.base if event.base is not None else Decimal("0.00")
    p = persons.recover(p, event.period, event.amount, event.into_account, base)
    return Decision().put(pkey, p.account())


@decision_log.on(cc.ContributionsAdvanced, needs=_account)
def contributions_advanced(
    state: State, event: cc.ContributionsAdvanced, ctx: Context[Env]
) -> Decision:
    pkey, p = _folded_person(state, event.person)
    todo = [(x.period, x.amount, persons.part_of(x.part)) for x in event.advanced]
    return Decision().put(pkey, persons.advanced(p, event.advance_id, todo).account())


@decision_log.on(cc.InterruptionOpened, needs=_account)
def interruption_opened(state: State, event: cc.InterruptionOpened, ctx: Context[Env]) -> Decision:
    pkey, p = _folded_person(state, event.person)
    return Decision().put(pkey, persons.interrupted(p, event).account())


@decision_log.on(cc.InterruptionClosed, needs=_account)
def interruption_closed(state: State, event: cc.InterruptionClosed, ctx: Context[Env]) -> Decision:
    pkey, p = _folded_person(state, event.person)
    return Decision().put(pkey, persons.uninterrupted(p, event.since).account())


@decision_log.on(cc.PersonJudged, needs=_account)
def person_judged(state: State, record: cc.PersonJudged, ctx: Context[Env]) -> Decision:
    pkey, p = _folded_person(state, record.person)
    return Decision().put(pkey, persons.standing(p, record).account())


@decision_log.on(cc.TransferAmountComputed, needs=_account)
def transfer_computed(
    state: State, event: cc.TransferAmountComputed, ctx: Context[Env]
) -> Decision:
    pkey, p = _folded_person(state, event.person)
    return Decision().put(pkey, persons.transferred(p, event).account())


@decision_log.on(cc.PersonFollowed, needs=lambda m, ctx: [PERSON.key(m.person)])
def person_followed(state: State, record: cc.PersonFollowed, ctx: Context[Env]) -> Decision:
    return Decision().put(PERSON.key(record.person), persons.facts_of(record))


@decision_log.on(cc.EmployerFollowed, needs=lambda m, ctx: [EMPLOYER.key(m.employer)])
def employer_followed(state: State, record: cc.EmployerFollowed, ctx: Context[Env]) -> Decision:
    key = EMPLOYER.key(record.employer)
    return Decision().put(key, employers.registered(state.get(key), record))


@decision_log.on(cc.RosterFollowed, needs=lambda m, ctx: [EMPLOYER.key(m.employer)])
def roster_followed(state: State, record: cc.RosterFollowed, ctx: Context[Env]) -> Decision:
    key = EMPLOYER.key(record.employer)
    e = employers.employed(state.get(key), record)
    return Decision().put(key, e) if e is not None else Decision()


@decision_log.on(cc.PeriodClosed, needs=lambda m, ctx: [CLOCK.key(m.region)])
def period_closed(state: State, event: cc.PeriodClosed, ctx: Context[Env]) -> Decision:
    key = CLOCK.key(event.region)
    return Decision().put(key, regions.closed(state.get(key), event.month))


@decision_log.on(cc.ShardAssessed, needs=_shard)
def shard_assessed(state: State, record: cc.ShardAssessed, ctx: Context[Env]) -> Decision:
    """What a close changed in a shard, as work published it (not the AssessShard itself: work
    may not have read that one yet when the service stopped)."""
    key = DIRECTORY.key(record.region, str(record.shard))
    directory = regions.shard_assessed(state.get(key) or Directory(), record)
    return Decision().put(key, directory)


# the directory's own records change nothing but the directory: the live handlers, as they are
decision_log.on(cc.DirectoryEmployerAdded, needs=_shard)(directory_employer)
decision_log.on(cc.DirectoryPayerSet, needs=_shard)(directory_payer)
decision_log.on(cc.DirectoryWatchSet, needs=_shard)(directory_watch)
# so is a leave enrollment did not report, on the employer's ledger
decision_log.on(cc.RosterLeave, needs=lambda m, ctx: [LEDGER.key(m.employer)])(roster_leave)
