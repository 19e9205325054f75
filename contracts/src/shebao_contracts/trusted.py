"""Building models from values a service computed itself, without validating them again.

`trusted(Model, **values)` is for the hot path only: results of rules (amounts, totals, records)
whose every value is a Decimal, date or model the rule computed from validated input. It does
what pydantic's `model_construct` does for such values (set the fields, none extra, none
private) without looking up aliases and defaults field by field, which made `model_construct`
cost 5-6 µs per model and the settlement of a claim about 30 µs. Every field must be given: a
missing one is a bug in the caller, refused at once rather than met later as an AttributeError.
The values are kept in the model's field order whatever order they are given in, as
`model_construct` keeps them: pydantic writes a model's fields in the order it holds them, so
another order would change the bytes of an event decided again after a crash.
Anything that comes from outside the process is validated, never built this way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__
_makers: dict[type[BaseModel], Callable[[dict[str, Any]], Any]] = {}


def _maker(cls: type[BaseModel]) -> Callable[[dict[str, Any]], Any]:
    """`cls`'s builder from a dict of its values: generated once per class, with the fields read
    in the model's order by name, so that neither a check of the names nor a loop over them
    runs per model (a settled claim builds eleven: 3.1 -> 2.3 us each, issue 20)."""
    if (
        cls.model_config.get("extra") == "allow"
        or cls.__pydantic_post_init__ is not None
        or cls.__private_attributes__
    ):
        raise TypeError(f"{cls.__name__} needs pydantic's own construction")
    order = tuple(cls.__pydantic_fields__)
    names = frozenset(order)

    def refuse(values: dict[str, Any]) -> None:
        missing = sorted(names - values.keys())
        unknown = sorted(values.keys() - names)
        raise TypeError(f"{cls.__name__}: missing {missing}, unknown {unknown}")

    read = ", ".join(f"{n!r}: v[{n!r}]" for n in order)
    source = (
        "def make(v):\n"
        "    try:\n"
        f"        d = {{{read}}}\n"
        "    except KeyError:\n"
        "        d = None\n"
        f"    if d is None or len(v) != {len(order)}:\n"
        "        refuse(v)\n"
        "    return built(cls, d, set(order))\n"
    )
    scope: dict[str, Any] = {"cls": cls, "order": order, "refuse": refuse, "built": built}
    exec(compile(source, f"<trusted {cls.__name__}>", "exec"), scope)  # noqa: S102
    make: Callable[[dict[str, Any]], Any] = scope["make"]
    _makers[cls] = make
    return make


def trusted(cls: type[M], **values: Any) -> M:
    """A `cls` holding exactly these (already valid) values; every field must be given."""
    make = _makers.get(cls) or _maker(cls)
    return make(values)  # type: ignore[no-any-return]


def built(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """A `cls` holding `values` as they are, `fields_set` the fields given: what `trusted`
    and the runtime's compiled reader (which has checked every value) both build."""
    m = _new(cls)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", fields_set)
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m


__all__ = ["built", "trusted"]
