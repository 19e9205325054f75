"""The hot path's codec: msgspec reads and writes the messages the pydantic models define.

The pydantic models stay the contracts of record; this module compiles each one whose every
field it understands into a msgspec struct with the same checks (issue 20, point 1):

- `decode(Model, body)` gives the model as pydantic would have read it, or None where msgspec
  refused the body, or where the model is not read compiled: reading compiled pays only for
  some messages (a claim with its lines, a settlement's amounts), so a service names those it
  reads so (`read_compiled`, through `runtime_for`). After None the caller asks pydantic, whose
  answer, and reason, is the one given.
  So a refusal always has pydantic's reason, and the compiled checks need only never be looser
  than pydantic's. They are at most stricter: a value pydantic would coerce (a number where a
  money string belongs, "7" for an int, a 15-digit legacy id) goes to pydantic; a pattern must
  match the whole text (`\\Z`: Python's `$` would also match before a final newline, Rust's,
  which pydantic uses, does not).
- `encode(model)` gives exactly the bytes of `model.model_dump_json()`, for every model that
  compiles: writing compiled pays almost everywhere.

A model with a configuration or a field of any other kind (an alias, a validator not in
`_PARSERS` or `_CHECKS` below, a datetime, a union of two types) is not compiled: pydantic does
all its work, as before. The equivalence tests (`tests/test_compiled.py`) feed both every
published example and a generated corpus of valid and invalid bodies; the unit runner
(`testing.py`) checks every message and state value the services' rule tests produce.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import re
import re._constants as re_constants  # type: ignore[import-not-found]
import re._parser as re_parser  # type: ignore[import-not-found]
import types
import typing
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, TypeVar

import annotated_types as at
import msgspec
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from shebao_contracts import types as ct
from shebao_contracts.limits import CONTROL_CHARACTERS, MAX_JSON_DEPTH
from shebao_contracts.medical import _QUANTITY_TEXT, _parse_quantity
from shebao_contracts.trusted import built

M = TypeVar("M", bound=BaseModel)


class Unsupported(Exception):
    """A field this module does not compile: its model is left to pydantic."""


class Refused(Exception):
    """A value msgspec read that pydantic's validator would not return as it is."""


# A field's value as msgspec decodes it -> as the model holds it, and back for JSON.
Conv = Callable[[Any], Any] | None
Check = Callable[[Any], bool]


def _money(text: str) -> Decimal:
    # as types._money_text does for a text its pattern matched
    amount = Decimal(text)
    return amount if text[-3:-2] == "." else amount.quantize(ct.FEN)


def _whole(pattern: str) -> str:
    """The pattern anchored at the very end of the text, as Rust's `$` is."""
    if pattern.endswith("$") and not pattern.endswith("\\$") and "$" not in pattern[:-1]:
        return pattern[:-1] + r"\Z"
    if "$" in pattern:
        raise Unsupported(f"pattern {pattern!r}")
    return pattern


def _citizen_id(text: str) -> bool:
    try:
        return ct.validate_citizen_id(text) == text
    except Exception:
        return False


def _no_control(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is None


def _not_an_id(text: str) -> bool:
    return not ct.find_citizen_ids(text)


# Values of the contracts' own types, by their validator: what msgspec reads (a string of the
# type's published pattern), how it becomes the value, how it is written back.
_PARSERS: dict[Any, tuple[str, Callable[[str], Decimal]]] = {
    ct._parse_money: (ct._MONEY_TEXT.pattern, _money),
    ct._parse_non_negative_money: (ct.NON_NEGATIVE_MONEY_PATTERN, _money),
    ct._parse_positive_money: (ct.POSITIVE_MONEY_PATTERN, _money),
    _parse_quantity: (_QUANTITY_TEXT, Decimal),
}
# Checks of a text after its type's constraints, by validator: each is true where the validator
# returns the text unchanged.
_CHECKS: dict[Any, tuple[str | None, Check]] = {
    ct.validate_citizen_id: (r"^[0-9]{17}[0-9X]$", _citizen_id),
    ct._no_control_characters: (None, _no_control),
    ct._not_a_citizen_id: (None, _not_an_id),
}


def _or_none(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _each(check: Check) -> Check:
    return lambda v: all(map(check, v))


def _values(conv: Conv) -> Conv:
    return None if conv is None else lambda v: {k: conv(x) for k, x in v.items()}


def _items(conv: Conv, container: Callable[[Any], Any]) -> Conv:
    return None if conv is None else lambda v: container(map(conv, v))


def _unless_none(conv: Conv) -> Conv:
    return None if conv is None else lambda v: None if v is None else conv(v)


def _fields(convs: list[Conv], values: Any) -> Iterator[Any]:
    """Each value of a fixed tuple converted by its position's conversion, if it has one."""
    for conv, v in zip(convs, values, strict=True):
        yield v if conv is None else conv(v)


def _each_value(check: Check) -> Check:
    return lambda v: all(map(check, v.values()))


_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\Z"


class _Spec:
    """How one value is read and written: msgspec's type, the checks after it, the conversions."""

    __slots__ = ("checks", "decode", "default", "encode", "pattern", "type")

    def __init__(self, tp: Any, decode: Conv = None, encode: Conv = None) -> None:
        self.type = tp
        self.decode = decode
        self.encode = encode
        self.checks: list[Check] = []
        self.pattern: str | None = None  # of the whole text: checked with the message's others
        self.default: Callable[[], Any] | None = None  # of a field that may be absent


def _constraints(metadata: list[Any]) -> tuple[dict[str, Any], list[Any]]:
    """msgspec's Meta of the plain constraints; the other annotations, in order."""
    meta: dict[str, Any] = {}
    other: list[Any] = []
    for md in metadata:
        if isinstance(md, FieldInfo):
            sub, rest = _constraints(md.metadata)
            meta.update(sub)
            other += rest
        elif isinstance(md, at.MinLen):
            meta["min_length"] = md.min_length
        elif isinstance(md, at.MaxLen):
            meta["max_length"] = md.max_length
        elif isinstance(md, at.Ge | at.Gt | at.Le | at.Lt):
            name = type(md).__name__.lower()
            meta[name] = getattr(md, name)
        elif isinstance(md, StringConstraints):
            if md.strip_whitespace or md.to_upper or md.to_lower or md.strict is not None:
                raise Unsupported(repr(md))
            for name in ("min_length", "max_length", "pattern"):
                if getattr(md, name) is not None:
                    meta[name] = getattr(md, name)
        elif type(md).__name__ == "_PydanticGeneralMetadata":
            extra = set(vars(md)) - {"pattern"}
            if extra:
                raise Unsupported(f"constraints {sorted(extra)}")
            meta["pattern"] = md.pattern
        elif type(md).__name__ == "WithJsonSchema":
            continue  # the schema published, not a check
        else:
            other.append(md)
    if "pattern" in meta:
        meta["pattern"] = _whole(meta["pattern"])
    return meta, other


def _annotated(
    tp: Any, metadata: list[Any], structs: dict[type, Any], combine: bool = False
) -> _Spec:
    """The spec of `Annotated[tp, *metadata]`. `combine`: a text's pattern is left to the
    message's one combined pattern (`spec.pattern`) rather than matched by msgspec, which calls
    Python's `re` once per field (about 1 µs each, most of a claim's decoding)."""
    meta, other = _constraints(metadata)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType) and (meta or other):
        return _optional(tp, lambda inner: _annotated(inner, metadata, structs))
    if origin in (list, tuple) and meta.keys() <= {"min_length", "max_length"} and not other:
        spec = _spec(tp, structs)
        if meta:
            spec.type = Annotated[spec.type, msgspec.Meta(**meta)]
        return spec
    if not isinstance(tp, type):
        if meta or other:
            raise Unsupported(f"constraints on {tp!r}")
        return _spec(tp, structs)
    if other and isinstance(other[0], PlainValidator):
        # one of the contracts' own types: its validator and its serializer, nothing else
        if len(other) != 2 or meta or other[0].func not in _PARSERS:
            raise Unsupported(f"{tp!r} with {other!r}")
        serializer = other[1]
        if (
            not isinstance(serializer, PlainSerializer)
            or serializer.when_used != "json"
            or serializer.return_type is not str
            or len(inspect.signature(serializer.func).parameters) != 1
        ):
            raise Unsupported(f"{tp!r} with {other!r}")
        write = typing.cast(Conv, serializer.func)
        pattern, parse = _PARSERS[other[0].func]
        if combine and _combinable(_whole(pattern)):
            spec = _Spec(str, parse, write)
            spec.pattern = _whole(pattern)
            return spec
        return _Spec(Annotated[str, msgspec.Meta(pattern=_whole(pattern))], parse, write)
    spec = _spec(tp, structs)
    validators = [getattr(v, "func", None) for v in other]
    checks = []
    for md, func in zip(other, validators, strict=True):
        if func not in _CHECKS or not isinstance(md, BeforeValidator | AfterValidator):
            raise Unsupported(f"{tp!r} with {md!r}")
        own, check = _CHECKS[func]
        if own is not None:
            if "pattern" in meta:
                raise Unsupported("two patterns")
            meta["pattern"] = _whole(own)
        checks.append(check)
    if combine and tp is str and _combinable(meta.get("pattern")):
        spec.pattern = meta.pop("pattern")
        if _no_control in checks and not _may_hold_control(spec.pattern):
            checks.remove(_no_control)  # the pattern refuses them already
    if meta:
        spec.type = Annotated[spec.type, msgspec.Meta(**meta)]
    spec.checks = checks
    return spec


_CLASS_ONLY = re.compile(r"\^?(\[(?:[^\]\\]|\\.)*\])[*+]\\Z", re.DOTALL)


def _controls() -> list[str]:
    """Every character CONTROL_CHARACTERS names, read from its class (one class of ranges)."""
    (op, items), *rest = re_parser.parse(CONTROL_CHARACTERS.pattern)
    if rest or op is not re_constants.IN:
        raise Unsupported("CONTROL_CHARACTERS is not one class")
    chars: list[str] = []
    for kind, value in items:
        if kind is re_constants.RANGE:
            chars += map(chr, range(value[0], value[1] + 1))
        elif kind is re_constants.LITERAL:
            chars.append(chr(value))
        else:
            raise Unsupported("CONTROL_CHARACTERS is not one class of ranges")
    return chars


def _may_hold_control(pattern: str) -> bool:
    """False where the pattern is one character class repeated and no control or bidi
    character is in that class: such a text needs no separate control check."""
    m = _CLASS_ONLY.fullmatch(pattern)
    if m is None:
        return True
    cls = re.compile(m.group(1))
    return any(cls.fullmatch(c) for c in _controls())


def _spec(tp: Any, structs: dict[type, Any]) -> _Spec:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _annotated(tp.__origin__, list(tp.__metadata__), structs)
    if tp in (str, int, bool, date):
        return _Spec(tp)
    if isinstance(tp, type) and issubclass(tp, enum.StrEnum):
        return _Spec(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        c = _compile(tp, structs)
        return _Spec(c.struct, c.build, c.builtins)
    if origin in (typing.Union, types.UnionType):
        return _optional(tp, lambda inner: _spec(inner, structs))
    if origin is typing.Literal and all(type(a) is str for a in typing.get_args(tp)):
        return _Spec(tp)
    if tp is Decimal:
        # pydantic reads a number too, and text with spaces or underscores: left to it
        text = Annotated[str, msgspec.Meta(pattern=_DECIMAL)]
        return _Spec(text, Decimal)  # written back as pydantic does: str(d), msgspec's way
    if origin is dict:
        key, value = typing.get_args(tp)
        if key not in (int, str) and not (isinstance(key, type) and issubclass(key, enum.StrEnum)):
            raise Unsupported(repr(tp))
        inner = _spec(value, structs)
        spec = _Spec(
            dict.__class_getitem__((key, inner.type)),
            _values(inner.decode),
            _values(inner.encode),
        )
        spec.checks = [_each_value(c) for c in inner.checks]
        return spec
    if origin is tuple and not (len(typing.get_args(tp)) == 2 and typing.get_args(tp)[1] is ...):
        parts = [_spec(a, structs) for a in typing.get_args(tp)]
        if not parts or any(p.checks for p in parts):
            raise Unsupported(repr(tp))
        decs, encs = [p.decode for p in parts], [p.encode for p in parts]
        spec = _Spec(
            tuple.__class_getitem__(tuple(p.type for p in parts)),
            None if not any(decs) else lambda v: tuple(_fields(decs, v)),
            None if not any(encs) else lambda v: list(_fields(encs, v)),
        )
        return spec
    if origin in (list, tuple):
        args = typing.get_args(tp)
        inner = _spec(args[0], structs)
        spec = _Spec(
            list.__class_getitem__(inner.type)
            if origin is list
            else tuple.__class_getitem__((inner.type, ...)),
            _items(inner.decode, origin),
            _items(inner.encode, list),
        )
        spec.checks = [_each(c) for c in inner.checks]
        return spec
    raise Unsupported(repr(tp))


def _combinable(pattern: str | None) -> bool:
    """A pattern that may join the message's combined one: anchored at both ends, and nothing
    that looks past its own text (lookarounds, which would see the joining newline) or refers
    to groups (backreferences, flags). Any other is matched by msgspec, on its own."""
    return (
        pattern is not None
        and pattern.endswith(r"\Z")
        and pattern.startswith("^")
        and re.search(r"\(\?(?!:)|\\[1-9ZAbB]|\$", pattern[:-2]) is None
    )


def _optional(tp: Any, spec_of: Callable[[Any], _Spec]) -> _Spec:
    """`X | None`: X's spec (constraints on the union are X's, as pydantic applies them)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if len(args) != 1 or len(typing.get_args(tp)) != 2:
        raise Unsupported(repr(tp))
    inner = spec_of(args[0])
    spec = _Spec(inner.type | None, _unless_none(inner.decode), _unless_none(inner.encode))
    spec.checks = [_or_none(c) for c in inner.checks]
    return spec


class Compiled:
    """One model's msgspec struct and the two conversions."""

    def __init__(self, cls: type[BaseModel], structs: dict[type, Any]) -> None:
        config = cls.model_config
        if (
            not config.keys() <= {"extra", "frozen", "str_strip_whitespace", "title"}
            or config.get("extra") not in (None, "ignore", "forbid")
            or config.get("str_strip_whitespace")
            or cls.__pydantic_post_init__ is not None
            or cls.__private_attributes__
            or any(dataclasses.astuple(cls.__pydantic_decorators__))
        ):
            raise Unsupported(f"{cls.__name__}'s configuration")
        self.cls = cls
        members: list[tuple[Any, ...]] = []
        specs: dict[str, _Spec] = {}
        for name, fi in cls.__pydantic_fields__.items():
            if (
                fi.alias is not None
                or fi.validation_alias is not None
                or fi.serialization_alias is not None
                or fi.exclude
                or fi.discriminator is not None
                or not name.isidentifier()
            ):
                raise Unsupported(f"{cls.__name__}.{name}")
            required = fi.is_required()
            spec = specs[name] = _annotated(fi.annotation, list(fi.metadata), structs, required)
            if required:
                members.append((name, spec.type))
                continue
            if fi.default_factory is not None:
                if fi.default_factory_takes_validated_data:
                    raise Unsupported(f"{cls.__name__}.{name}'s default")
                spec.default = typing.cast(Callable[[], Any], fi.default_factory)
            elif fi.default is not PydanticUndefined:
                default = fi.default
                spec.default = lambda default=default: default  # pydantic's: the very object
            else:
                raise Unsupported(f"{cls.__name__}.{name}'s default")
            # absent: pydantic's default as it is, neither checked nor converted
            members.append((name, spec.type | msgspec.UnsetType, msgspec.UNSET))
        self.struct = msgspec.defstruct(
            f"{cls.__name__}Struct",
            members,
            kw_only=True,
            forbid_unknown_fields=config.get("extra") == "forbid",
            module=__name__,
            # a decoded struct holds texts, numbers and other structs, never itself: untracked,
            # it does not count toward the young generation's collections
            gc=False,
        )
        self.decoder = msgspec.json.Decoder(self.struct)
        self.build, self.builtins = _generate(cls, specs)
        # Read compiled only where a service asked (`read_compiled`): measured per message and
        # state, the compiled reader pays where pydantic calls Python for many values (a claim's
        # lines and amounts) and costs more elsewhere, up to twice pydantic's time for a state
        # of nested models and no money, which pydantic-core builds in Rust and this module in
        # Python (BENCHMARKS.md, 2026-12-02). Writing compiled pays almost everywhere.
        self.reads = False

    def decode(self, body: bytes) -> BaseModel | None:
        """The message as pydantic reads it, or None: then ask pydantic (and give its reason)."""
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
            # pydantic's parser refuses a body nested deeper than MAX_JSON_DEPTH, even in a
            # field it ignores, where msgspec goes deeper: such bodies go to pydantic
            return None
        try:
            return self.build(self.decoder.decode(body))
        except Exception:  # msgspec's refusal, a check's: pydantic answers, with the reason
            return None


def _body(pattern: str) -> str:
    """A whole-text pattern (`_combinable`) as a group of the combined pattern."""
    return f"(?:{pattern.removeprefix('^')[:-2]})"


def _generate(
    cls: type[BaseModel], specs: dict[str, _Spec]
) -> tuple[Callable[[Any], BaseModel], Callable[[BaseModel], dict[str, Any]]]:
    """The model's two conversions as Python code of their own: a loop over the fields with
    a call per check cost more than msgspec's whole decoding."""
    ns: dict[str, Any] = {
        "_cls": cls,
        "_built": built,
        "_Refused": Refused,
        "_required": frozenset(n for n, sp in specs.items() if sp.default is None),
        "_control": CONTROL_CHARACTERS.search,
        "_ids": ct.find_citizen_ids,
    }
    patterned = [n for n, sp in specs.items() if sp.pattern is not None]
    code = ["def build(s):"]
    if patterned:
        # One pattern for every patterned text, joined by newlines: a text holding a newline
        # itself would shift the others, so the count of newlines must be theirs exactly.
        ns["_whole"] = re.compile(
            "\n".join(_body(specs[n].pattern or "") for n in patterned)
        ).fullmatch
        texts = ", ".join(f"s.{n}" for n in patterned)
        if len(patterned) == 1:
            code.append(f"    if _whole({texts}) is None:")
        else:
            code += [
                f'    t = "\\n".join(({texts},))',
                f'    if t.count("\\n") != {len(patterned) - 1} or _whole(t) is None:',
            ]
        code.append("        raise _Refused")
    controls = [n for n, sp in specs.items() if _no_control in sp.checks and sp.default is None]
    if controls:
        code += [f"    if _control({' + '.join(f's.{n}' for n in controls)}) is not None:"]
        code.append("        raise _Refused")
    not_ids = [n for n, sp in specs.items() if _not_an_id in sp.checks and sp.default is None]
    if not_ids:
        # a space ends a candidate as a field's end does: none begins or ends across it
        code += [f'    if _ids(" ".join(({", ".join(f"s.{n}" for n in not_ids)},))):']
        code.append("        raise _Refused")
    values = []
    ns["_UNSET"] = msgspec.UNSET
    for i, (name, sp) in enumerate(specs.items()):
        unset = "" if sp.default is None else f"s.{name} is not _UNSET and "
        batched = (_no_control, _not_an_id) if sp.default is None else ()
        for j, check in enumerate(c for c in sp.checks if c not in batched):
            ns[f"_check_{i}_{j}"] = check
            code += [f"    if {unset}not _check_{i}_{j}(s.{name}):", "        raise _Refused"]
        value = f"s.{name}"
        if sp.decode is not None:
            ns[f"_dec_{i}"] = sp.decode
            value = f"_dec_{i}(s.{name})"
        if sp.default is not None:
            ns[f"_default_{i}"] = sp.default
            value = f"_default_{i}() if s.{name} is _UNSET else {value}"
        values.append(f"{name!r}: {value}")
    code += [
        "    fields = set(_required)",
        *(
            f"    if s.{n} is not _UNSET: fields.add({n!r})"
            for n, sp in specs.items()
            if sp.default is not None
        ),
        f"    return _built(_cls, {{{', '.join(values)}}}, fields)",
        "",
        "def builtins(m):",
        "    d = m.__dict__",
    ]
    out = []
    for i, (name, sp) in enumerate(specs.items()):
        if sp.encode is None:
            out.append(f"{name!r}: d[{name!r}]")
        else:
            ns[f"_enc_{i}"] = sp.encode
            out.append(f"{name!r}: _enc_{i}(d[{name!r}])")
    code.append(f"    return {{{', '.join(out)}}}")
    source = ns["__source__"] = "\n".join(code)  # kept for whoever debugs it
    exec(compile(source, f"<compiled {cls.__name__}>", "exec"), ns)  # noqa: S102
    return ns["build"], ns["builtins"]


def _compile(cls: type[BaseModel], structs: dict[type, Any]) -> Compiled:
    if cls not in structs:
        structs[cls] = None  # being compiled: a model holding itself is left to pydantic
        structs[cls] = Compiled(cls, structs)
    hit = structs[cls]
    if hit is None:
        raise Unsupported(f"{cls.__name__} holds itself")
    return hit  # type: ignore[no-any-return]


_compiled: dict[type, Compiled | None] = {}
_encoder = msgspec.json.Encoder()
_encode = _encoder.encode


def compiled(cls: type[BaseModel]) -> Compiled | None:
    """The model compiled, or None where pydantic must do all its work."""
    try:
        return _compiled[cls]
    except KeyError:
        pass
    try:
        c: Compiled | None = _compile(cls, {})
    except Unsupported:
        c = None
    _compiled[cls] = c
    return c


def read_compiled(*models: type[BaseModel]) -> None:
    """Read these messages or states compiled from now on (a service's composition root names
    those its measurements show it pays for). Each must compile."""
    for cls in models:
        c = compiled(cls)
        if c is None:
            raise ValueError(f"{cls.__name__} does not compile: pydantic reads it")
        c.reads = True


def decode(cls: type[M], body: bytes) -> M | None:
    """The message as pydantic reads it, where it is read compiled (`read_compiled`); else
    None: then ask pydantic (and give its reason)."""
    c = _compiled.get(cls) or compiled(cls)
    if c is None or not c.reads:
        return None
    return c.decode(body)  # type: ignore[return-value]


def read(cls: type[M], body: bytes) -> M:
    """`cls.model_validate_json(body)`: by msgspec where it can, else by pydantic, whose
    ValidationError (and reason) a refusal raises."""
    m = decode(cls, body)
    return cls.model_validate_json(body) if m is None else m


def encode(m: BaseModel) -> bytes:
    """`m.model_dump_json().encode()`, from msgspec where the model compiles."""
    c = _compiled.get(type(m)) or compiled(type(m))
    if c is None:
        return m.model_dump_json().encode()
    return _encode(c.builtins(m))


__all__ = ["Compiled", "compiled", "decode", "encode", "read", "read_compiled"]
