"""Backward-compatibility check between two JSON Schemas of one message.

The rule is the one Kafka schema registries call BACKWARD, plus one addition:

* The new schema must accept every message the old schema accepted. A topic keeps its history:
  consumers replay retained records, partners keep sending what the published document told them
  to send, and a service is rolled out consumer first. So anything that rejects a formerly valid
  message is breaking: a new required property, an optional property becoming required, a type
  changed or narrowed (string to integer, a nullable value no longer nullable, an enum losing a
  value, a new or changed `pattern`, `format` or `const`, a tighter length or range), a union
  member dropped, a message type removed from the topic.
* Additionally, removing a property is breaking even though `extra="ignore"` would still read old
  records: consumers we do not upgrade (partners, other services pinned to the published
  document) read that property and would silently lose it.

Widening is not breaking: a new optional property, a required property becoming optional, an enum
gaining a value, a constraint relaxed, descriptions, titles, defaults and examples edited. These
can surprise a strict reader that has not been upgraded; the consumer-first rollout is what makes
them safe, and a change that cannot follow it belongs on a new topic version (`.v2`).

Where this differs from a schema registry: the schemas are open (no `additionalProperties:
false`), because every shebao reader ignores properties it does not know and a partner may send
more than the platform reads. A registry checking JSON Schema BACKWARD refuses a property added
to an open object (Confluent: PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL), since an old record might
have carried that name with another type. This gate accepts it, and keeps the registry's
reasoning true by the other half of the rule: a published property is never removed, so a name
never comes back with another type. `registry=True` reports what a registry would also refuse;
`python -m shebao_contracts.gen write` prints it, so a team that loads these schemas into a
registry knows which changes to let through there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Schema = Mapping[str, Any]

_LOWER_BOUNDS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_EXACT = ("pattern", "format", "multipleOf")


def breaking_changes(
    old_schema: Schema, new_schema: Schema, *, registry: bool = False
) -> list[str]:
    """Every way new_schema breaks old_schema's readers or writers, one readable line each.

    `registry=True` adds what a schema registry's JSON Schema BACKWARD check also refuses: a
    property added to an open object (Confluent's PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL)."""
    name = (
        new_schema.get("x-cloudevents-type")
        or old_schema.get("x-cloudevents-type")
        or new_schema.get("title")
        or "message"
    )
    comparison = _Comparison(old_schema, new_schema, registry=registry)
    found = comparison.compare(old_schema, new_schema, "", frozenset())
    return [f"{name}: {line}" for line in dict.fromkeys(found)]


def topic_breaking_changes(
    topic: str, old: Mapping[str, Schema], new: Mapping[str, Schema], *, registry: bool = False
) -> list[str]:
    """Compare the schemas of one topic, keyed by CloudEvents type: removals and each message."""
    out = [f"{topic}: message type {t} removed from the topic" for t in sorted(old) if t not in new]
    for t in sorted(old):
        if t in new:
            lines = breaking_changes(old[t], new[t], registry=registry)
            out.extend(f"{topic}: {line}" for line in lines)
    return out


@dataclass(frozen=True)
class _Resolved:
    schema: Schema
    ref: str | None
    """The `$ref` the schema came from: names union members and guards recursive models."""


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema, *, registry: bool = False) -> None:
        self.old_root = old_root
        self.new_root = new_root
        self.registry = registry

    def compare(
        self, old: Schema, new: Schema, path: str, active: frozenset[tuple[str, str]]
    ) -> list[str]:
        o = _resolve(old, self.old_root)
        n = _resolve(new, self.new_root)
        old_branches = [_resolve(b, self.old_root) for b in _branches(o.schema)] or [o]
        new_branches = [_resolve(b, self.new_root) for b in _branches(n.schema)] or [n]
        if len(old_branches) == 1 and len(new_branches) == 1:
            return self._pair(old_branches[0], new_branches[0], path, active)
        return self._compare_unions(old_branches, new_branches, path, active)

    def _pair(
        self, o: _Resolved, n: _Resolved, path: str, active: frozenset[tuple[str, str]]
    ) -> list[str]:
        if o.ref is not None and n.ref is not None:
            if (o.ref, n.ref) in active:
                return []  # a recursive model: this pair is already being compared further up
            active = active | {(o.ref, n.ref)}
        return self._compare_one(o.schema, n.schema, path, active)

    def _compare_unions(
        self,
        old_branches: list[_Resolved],
        new_branches: list[_Resolved],
        path: str,
        active: frozenset[tuple[str, str]],
    ) -> list[str]:
        """Each old member must be accepted by some new member (unions only ever widen)."""
        where = _where(path)
        out: list[str] = []
        for ob in old_branches:
            old_types = _types(ob.schema)
            candidates = [nb for nb in new_branches if _accepts(_types(nb.schema), old_types)]
            if not candidates:
                if old_types == frozenset({"null"}):
                    out.append(f"{where}: no longer nullable")
                else:
                    out.append(
                        f"{where}: type changed from {_describe_union(old_branches)} "
                        f"to {_describe_union(new_branches)}"
                    )
                continue
            results = [self._pair(ob, nb, path, active) for nb in candidates]
            if any(not r for r in results):
                continue
            label = _label(ob)
            same = [r for nb, r in zip(candidates, results, strict=True) if _label(nb) == label]
            if same:
                out.extend(same[0])
            elif len(results) == 1:
                out.extend(results[0])
            else:
                out.append(f"{where}: union member {label} is no longer accepted")
        return out

    def _compare_one(
        self, old: Schema, new: Schema, path: str, active: frozenset[tuple[str, str]]
    ) -> list[str]:
        where = _where(path)
        old_types, new_types = _types(old), _types(new)
        if not _accepts(new_types, old_types):
            if old_types and "null" in old_types and _accepts(new_types, old_types - {"null"}):
                return [f"{where}: no longer nullable"]
            return [f"{where}: type changed from {_describe(old_types)} to {_describe(new_types)}"]
        out = self._values(old, new, where)
        out.extend(_constraints(old, new, where))
        out.extend(self._object(old, new, path, active))
        out.extend(self._array(old, new, path, active))
        return out

    @staticmethod
    def _values(old: Schema, new: Schema, where: str) -> list[str]:
        new_values = _allowed_values(new)
        if new_values is None:
            return []
        old_values = _allowed_values(old)
        if old_values is None:
            return [f"{where}: now restricted to {_show_values(new_values)}"]
        lost = [v for v in old_values if _canonical(v) not in {_canonical(x) for x in new_values}]
        if not lost:
            return []
        if "const" in old and "const" in new:
            return [f"{where}: const changed from {_show(old['const'])} to {_show(new['const'])}"]
        return [f"{where}: enum lost value(s) {_show_values(lost)}"]

    def _object(
        self, old: Schema, new: Schema, path: str, active: frozenset[tuple[str, str]]
    ) -> list[str]:
        old_props: Mapping[str, Schema] = old.get("properties", {})
        new_props: Mapping[str, Schema] = new.get("properties", {})
        old_required = set(old.get("required", ()))
        new_required = set(new.get("required", ()))
        out: list[str] = []
        for name, old_prop in old_props.items():
            where = _where(_join(path, name))
            if name not in new_props:
                out.append(f"{where} removed")
                continue
            out.extend(self.compare(old_prop, new_props[name], _join(path, name), active))
            if name in new_required and name not in old_required:
                out.append(f"{where} became required")
        out.extend(
            f"new required {_where(_join(path, name))}"
            for name in new_props
            if name not in old_props and name in new_required
        )
        old_extra = old.get("additionalProperties", True)
        if self.registry and old_extra is not False:
            out.extend(
                f"new optional {_where(_join(path, name))} on an open object (a registry's"
                " PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL)"
                for name in new_props
                if name not in old_props and name not in new_required
            )
        new_extra = new.get("additionalProperties", True)
        if new_extra is False and old_extra is not False:
            out.append(f"{_where(path)}: no longer accepts additional properties")
        elif isinstance(new_extra, Mapping):
            old_extra_schema: Schema = old_extra if isinstance(old_extra, Mapping) else {}
            out.extend(self.compare(old_extra_schema, new_extra, path + ".*", active))
        return out

    def _array(
        self, old: Schema, new: Schema, path: str, active: frozenset[tuple[str, str]]
    ) -> list[str]:
        out: list[str] = []
        old_prefix: list[Schema] = old.get("prefixItems", [])
        new_prefix: list[Schema] = new.get("prefixItems", [])
        for i, (o, n) in enumerate(zip(old_prefix, new_prefix, strict=False)):
            out.extend(self.compare(o, n, f"{path}[{i}]", active))
        if len(new_prefix) != len(old_prefix) and (old_prefix or new_prefix):
            out.append(
                f"{_where(path)}: tuple length changed from {len(old_prefix)} to {len(new_prefix)}"
            )
        new_items = new.get("items", True)
        old_items = old.get("items", True)
        if new_items is False and old_items is not False:
            out.append(f"{_where(path)}: no longer accepts further items")
        elif isinstance(new_items, Mapping) and old_items is not False:
            old_schema: Schema = old_items if isinstance(old_items, Mapping) else {}
            out.extend(self.compare(old_schema, new_items, path + "[]", active))
        return out


def _constraints(old: Schema, new: Schema, where: str) -> list[str]:
    narrowed = [
        *(k for k in _LOWER_BOUNDS if k in new and (k not in old or new[k] > old[k])),
        *(k for k in _UPPER_BOUNDS if k in new and (k not in old or new[k] < old[k])),
        *(k for k in _EXACT if k in new and old.get(k) != new[k]),
    ]
    out = [_narrowed(k, old, new, where) for k in narrowed]
    if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
        out.append(f"{where}: items must now be unique")
    return out


def _narrowed(key: str, old: Schema, new: Schema, where: str) -> str:
    if key not in old:
        return f"{where}: {key} {_show(new[key])} added"
    return f"{where}: {key} changed from {_show(old[key])} to {_show(new[key])}"


def _resolve(schema: Schema, root: Schema) -> _Resolved:
    """Follow local `$ref`s; keywords beside a `$ref` (pydantic puts descriptions there) win."""
    ref: str | None = None
    for _ in range(64):
        if "$ref" not in schema:
            break
        ref = schema["$ref"]
        schema = {**_pointer(root, ref), **{k: v for k, v in schema.items() if k != "$ref"}}
    else:
        raise ValueError(f"$ref chain too long at {ref}")
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        # `allOf: [{$ref}]` is how older generators attach a description to a reference.
        inner = _resolve(all_of[0], root)
        merged = {**inner.schema, **{k: v for k, v in schema.items() if k != "allOf"}}
        return _Resolved(merged, inner.ref or ref)
    return _Resolved(schema, ref)


def _pointer(root: Schema, ref: str) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs can be compared, got {ref!r}")
    node: Any = root
    for part in ref[1:].split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(f"$ref {ref!r} does not resolve")
        node = node[key]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref!r} does not point at a schema")
    return node


def _branches(schema: Schema) -> list[Schema]:
    for key in ("anyOf", "oneOf"):
        members = schema.get(key)
        if isinstance(members, list) and members:
            return list(members)
    return []


def _types(schema: Schema) -> frozenset[str] | None:
    """The JSON types a schema admits; None when it admits any value."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    if "const" in schema:
        return frozenset({_json_type(schema["const"])})
    if isinstance(schema.get("enum"), list):
        return frozenset(_json_type(v) for v in schema["enum"])
    if "properties" in schema or "additionalProperties" in schema:
        return frozenset({"object"})
    if "items" in schema or "prefixItems" in schema:
        return frozenset({"array"})
    branches = _branches(schema)
    if branches:
        out: set[str] = set()
        for b in branches:
            t = _types(b)
            if t is None:
                return None
            out |= t
        return frozenset(out)
    return None


def _accepts(new: frozenset[str] | None, old: frozenset[str] | None) -> bool:
    if new is None:
        return True
    if old is None:
        return False
    return all(t in new or (t == "integer" and "number" in new) for t in old)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _allowed_values(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return list(enum) if isinstance(enum, list) else None


def _label(r: _Resolved) -> str:
    if r.ref is not None:
        return r.ref.rsplit("/", 1)[-1]
    title = r.schema.get("title")
    return str(title) if title else _describe(_types(r.schema))


def _describe(types: frozenset[str] | None) -> str:
    return " or ".join(sorted(types)) if types is not None else "any"


def _describe_union(branches: list[_Resolved]) -> str:
    return " or ".join(dict.fromkeys(_describe(_types(b.schema)) for b in branches))


def _canonical(value: Any) -> str:
    # Compare as JSON, where 1 and true are different values (in Python 1 == True).
    return json.dumps(value, sort_keys=True)


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _show_values(values: list[Any]) -> str:
    return ", ".join(_show(v) for v in values)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _where(path: str) -> str:
    return f"property '{path}'" if path else "message"
