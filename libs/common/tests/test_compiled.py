"""The compiled codec answers as pydantic does (issue 20, point 1).

Every message of the contracts is fed to both: its published example, and a corpus made from
it, each field in turn replaced by hostile values (wrong types, near-miss formats, control and
bidi characters, citizen IDs, numbers where strings belong, nesting deeper than the parser's
limit in an ignored field, duplicate keys...). Wherever the compiled decoder accepts a body,
pydantic must accept it too and read the same model, written back to the same bytes; where
the compiled decoder refuses one, `read` raises pydantic's own error, so a partner gets the
same reason either way. The services' rule tests check every message and state value they
produce the same way (`shebao_common.runtime.testing`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shebao_common.runtime import compiled
from shebao_contracts import contributions as cc
from shebao_contracts import medical as m
from shebao_contracts.envelope import Message
from shebao_contracts.types import NonNegativeMoney

_HOSTILE: list[Any] = [
    *("", "a", "A" * 41, "A" * 65, "x" * 201, "x\n", "\nx", "x\x00", "x\u202e", "x\u2028"),
    *("é", "😀" * 30, " x", "x ", "\t"),
    *("320102199003071220", "32010219900307122X", "11010519491231002x", "320102199003071221"),
    *("1" * 15, "320102199002301220", "order-320102199003071220", "0.320102199003071220"),
    *("h320102001", "H320102001", "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f", "J18.9", "2025-01"),
    *("2025-13", "320100", "91320100MA1XXXXX0Y", "v1." + "A" * 43),
    *("0", "0.00", "-0", "-0.00", "1", "1.5", "1.50", "1.505", "01.00", "1e2", "1E+2", ".5"),
    *("5.", "+1", "１２", "1,000.00", "999999999999999.99", "9999999999999999", "1.001"),
    *("0.001", "0.0001", "1000000000", "999999999.999", " 1.00", "1.00\n", "1_0", "NaN"),
    *("Infinity", "-1.00", "0.01", "0.10"),
    *("2025-01-08", "2025-1-8", "2025-02-30", "20250108", "2025-01-08T00:00:00", "0000-01-01"),
    *(0, 1, -1, 2025, 1.5, 1.0, -0.0, 10**20, True, False, None),
    *([], {}, ["a"], {"a": 1}, [None], [1.5]),
]
_UNKNOWN: list[bytes] = [
    b'"zz":' + b"[" * 199 + b"]" * 199,
    b'"zz":' + b"[" * 201 + b"]" * 201,
    b'"zz":' + b"[" * 500 + b"]" * 500,
    b'"zz":1e400',
    b'"zz":-0.0',
    b'"zz":123456789012345678901234567890',
    b'"zz":"\\ud800"',
    b'"zz":"\\u0000"',
    b'"zz":NaN',
    b'"zz":{"a":[1,{"b":null}]}',
]


def _messages() -> list[type[Message]]:
    found: set[type[Message]] = set()
    todo: list[type[Message]] = [Message]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    published = (c for c in found if c.__module__.startswith("shebao_contracts."))
    return sorted((c for c in published if hasattr(c, "TYPE")), key=lambda c: c.TYPE)


def _example(cls: type[Message]) -> dict[str, Any] | None:
    ex = cls.EXAMPLE
    if ex is None:
        return None
    if isinstance(ex, BaseModel):
        return json.loads(ex.model_dump_json())  # type: ignore[no-any-return]
    return json.loads(json.dumps(ex, default=str))  # type: ignore[no-any-return]


EXAMPLES = [(c, e) for c in _messages() if (e := _example(c)) is not None]


def _variants(example: dict[str, Any]) -> Iterator[bytes]:
    body = json.dumps(example, ensure_ascii=False).encode()
    yield body
    yield b" \t\n" + body + b"\n "
    yield b"\x0c" + body
    yield b"[" + body + b"]"
    for extra in _UNKNOWN:
        yield body[:-1] + b"," + extra + b"}"
    for name, value in example.items():
        rest = {k: v for k, v in example.items() if k != name}
        yield json.dumps(rest).encode()
        for hostile in _HOSTILE:
            yield json.dumps({**example, name: hostile}, ensure_ascii=False).encode()
        # a key given twice: the last one counts, for both readers
        first = json.dumps({name: "x"})[1:-1].encode()
        yield b"{" + first + b"," + body[1:]
        yield body[:-1] + b"," + first + b"}"
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for field in value[0]:
                for hostile in _HOSTILE:
                    item = {**value[0], field: hostile}
                    yield json.dumps({**example, name: [item, *value[1:]]}).encode()
            yield json.dumps({**example, name: value * 300}).encode()


def _same(cls: type[Message], body: bytes) -> str:
    """'fast' where the compiled decoder read the body, 'pydantic' where only pydantic did,
    'refused' where neither: and the first two agree on the model and its bytes."""
    c = compiled.compiled(cls)
    fast = None if c is None else c.decode(body)  # whether or not a service reads it compiled
    try:
        slow = cls.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
    else:
        errors = None
    if errors is not None:
        assert fast is None, f"{cls.__name__}: compiled accepted what pydantic refused: {body!r}"
        with pytest.raises(ValidationError) as again:
            compiled.read(cls, body)
        assert again.value.errors() == errors
        return "refused"
    if fast is None:
        return "pydantic"
    assert fast == slow, body
    assert _typed(fast) == _typed(slow), body
    assert compiled.encode(fast) == slow.model_dump_json().encode(), body
    assert compiled.encode(slow) == slow.model_dump_json().encode(), body
    if c is not None and c.reads:
        assert compiled.read(cls, body) is not slow and compiled.read(cls, body) == slow
    return "fast"


def _typed(v: Any) -> Any:
    """A value with the type of every part: Decimal("1.0") is not Decimal("1.00") here."""
    if isinstance(v, BaseModel):
        return (type(v), {k: _typed(x) for k, x in v.__dict__.items()}, v.model_fields_set)
    if isinstance(v, list | tuple):
        return (type(v), [_typed(x) for x in v])
    if isinstance(v, dict):
        return {k: _typed(x) for k, x in v.items()}
    if isinstance(v, Decimal):
        return (Decimal, str(v))
    return (type(v), v)


def test_the_hot_paths_messages_and_states_compile() -> None:
    from shebao_medical_settlement.domain import model as settlement

    hot = [
        m.ClaimSubmitted,
        m.ClaimCancellation,
        m.ClaimReceived,
        m.CancellationReceived,
        m.ClaimSettled,
        m.ClaimRefused,
        m.SettlementResult,
        cc.EmployerCollectionForwarded,
        cc.PersonCollectionForwarded,
        settlement.ClaimRecord,
        settlement.Accumulators,
        settlement.Coverage,
        settlement.Hospital,
    ]
    assert [c.__name__ for c in hot if compiled.compiled(c) is None] == []


@pytest.mark.parametrize(("cls", "example"), EXAMPLES, ids=[c.__name__ for c, _ in EXAMPLES])
def test_each_example_and_its_corpus_read_alike(cls: type[Message], example: Any) -> None:
    if compiled.compiled(cls) is None:
        # left to pydantic: the codec still answers as it does
        body = json.dumps(example).encode()
        assert compiled.decode(cls, body) is None
        assert compiled.read(cls, body) == cls.model_validate_json(body)
        return
    outcomes = [_same(cls, body) for body in _variants(example)]
    assert outcomes[0] == "fast", "the published example is read by the compiled decoder"
    assert outcomes[1] == "fast", "and with whitespace around it"
    assert outcomes.count("refused") > 0


def test_a_text_holding_the_separator_cannot_shift_the_combined_pattern() -> None:
    """The texts are matched together, joined by newlines: a newline inside one must not let
    the next field's pattern accept what its own would refuse."""
    ex = _example(m.ClaimSubmitted)
    assert ex is not None
    line = ex["lines"][0]
    shifted = {**line, "item_code": "X\n1", "quantity": "1.00\nx"}
    body = json.dumps({**ex, "lines": [shifted]}).encode()
    assert compiled.decode(m.ClaimSubmitted, body) is None
    with pytest.raises(ValidationError):
        m.ClaimSubmitted.model_validate_json(body)


def test_a_model_it_cannot_compile_is_left_to_pydantic() -> None:
    class Odd(BaseModel):
        when: dict[tuple[int, int], str]

    assert compiled.compiled(Odd) is None
    body = b'{"when":{}}'
    assert compiled.decode(Odd, body) is None
    assert compiled.read(Odd, body) == Odd(when={})
    assert compiled.encode(Odd(when={})) == b'{"when":{}}'


def test_patterns_that_cannot_join_are_matched_each_on_its_own() -> None:
    """A pattern anchored at one end or at neither is a search, not a whole-text match: it is
    left to msgspec's own match of that field, and still answers as pydantic."""

    class Odd(BaseModel):
        model_config = ConfigDict(frozen=True, extra="ignore")
        starts: Annotated[str, Field(pattern=r"^[a-z]+")]
        anywhere: Annotated[str, Field(pattern=r"[0-9]{2}")]
        plain: Annotated[str, Field(pattern=r"^[a-z]+$")]

    c = compiled.compiled(Odd)
    assert c is not None
    outcomes = [
        _same(Odd, json.dumps({"starts": b, "anywhere": a, "plain": p}).encode())  # type: ignore[arg-type]
        for b in ("abc", "abc\n", "1abc", "", "a\nb")
        for a in ("x12y", "12", "1", "x1\n2")
        for p in ("abc", "abc\n", "\nabc")
    ]
    assert "fast" in outcomes and "refused" in outcomes


def test_a_configuration_it_does_not_know_is_left_to_pydantic() -> None:
    class Valued(BaseModel):
        model_config = ConfigDict(use_enum_values=True)
        outcome: m.Outcome

    assert compiled.compiled(Valued) is None
    assert compiled.read(Valued, b'{"outcome":"settled"}').outcome == "settled"


def test_state_shapes_read_and_written_alike() -> None:
    """Shapes only the services' states have: maps keyed by an enumeration or a number, fixed
    tuples, bare decimals (the rule tests check every state they produce as well)."""

    class Shapes(BaseModel):
        model_config = ConfigDict(frozen=True, extra="ignore")
        by_outcome: dict[m.Outcome, tuple[str, ...]]
        by_year: dict[int, m.Amounts]
        pair: tuple[date, bool]
        share: Decimal

    amounts = m.SettlementResult.EXAMPLE["amounts"]  # type: ignore[index]
    good = {
        "by_outcome": {"settled": ["a", "b"], "rejected": []},
        "by_year": {"2025": amounts},
        "pair": ["2025-01-08", True],
        "share": "0.0755",
    }
    assert compiled.compiled(Shapes) is not None
    assert _same(Shapes, json.dumps(good).encode()) == "fast"  # type: ignore[arg-type]
    outcomes = [_same(Shapes, body) for body in _variants(good)]  # type: ignore[arg-type]
    for field, values in {
        "by_outcome": [{"SETTLED": []}, {"settled": [1]}, {"": []}],
        "by_year": [{"x": amounts}, {" 1": amounts}, {"+1": amounts}, {"1": {}}],
        "pair": [["2025-01-08"], ["2025-01-08", True, 1], ["2025-01-08", 1], [None, True]],
        "share": ["1e2", "1E+2", " 1", "1_0", 1.5, "NaN", "-0", "0.000", "Infinity"],
    }.items():
        for v in values:
            outcomes.append(_same(Shapes, json.dumps({**good, field: v}).encode()))  # type: ignore[arg-type]
    assert outcomes.count("fast") > 10 and "refused" in outcomes


def test_only_what_a_service_names_is_read_compiled() -> None:
    """Reading compiled costs more than pydantic for most messages and states (nested models
    without amounts); a service names those where it pays, and each must compile."""

    class Line(BaseModel):
        model_config = ConfigDict(frozen=True, extra="ignore")
        amount: NonNegativeMoney

    body = b'{"amount":"1.50"}'
    assert compiled.decode(Line, body) is None  # pydantic reads it: not named
    compiled.read_compiled(Line)
    fast = compiled.decode(Line, body)
    assert fast == Line(amount=Decimal("1.50")) and compiled.read(Line, body) == fast

    class Odd(BaseModel):
        when: dict[tuple[int, int], str]

    with pytest.raises(ValueError, match="Odd does not compile"):
        compiled.read_compiled(Odd)
