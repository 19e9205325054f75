"""Publishes the contract from the code: JSON Schemas, AsyncAPI documents, and the guard on both.

    python -m shebao_contracts.gen write [--root contracts]
    python -m shebao_contracts.gen check [--root contracts] [--baseline DIR]

`write` regenerates `<root>/schemas/<topic>/<ce type>.json` and `<root>/asyncapi/<service>.json`
from `catalog.CONTRACTS` and deletes stale `.json` files there; it also writes `REASONS.md` and
the refusal tables between the markers of the partner guides from `reasons`. It refuses (exit 1,
nothing written) when a topic that is already published (its name ends in `.vN`) would change in a
backward-incompatible way (see `compat`): a breaking change goes on a new topic version instead.
`check` is the CI gate: exit 1 when the files differ from what the code generates, when a
published topic would break (against `--baseline`, by default the files in `--root`), or when a
message on a partner topic has no example. A broken contract (an invalid example, two topics
under one name) exits 2 from both. `write --accept-breaking WHY` writes a change the gate calls
breaking where no real message is affected (a schema catching up with what the platform always
refused), and records it with WHY in `CHANGES.md`.

Which schema is published for a topic: the side the reader of the document must match. On a
partner-in topic the partner writes and the platform validates, so the schema is pydantic's
*validation* schema (what the platform accepts). Every other topic is written by a shebao service
with `model_dump_json()`, so its schema is the *serialization* schema (what readers receive: a
Decimal is a string, computed fields appear). The two only differ for a few types, but where they
do, the wrong one would lie to the partner.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from pydantic.json_schema import JsonSchemaMode
from pydantic_core import to_jsonable_python

from . import envelope as ce
from .catalog import CONTRACTS, all_topics
from .compat import topic_breaking_changes
from .envelope import Message
from .reasons import ACTION_TEXT, SCHEMA_DETECTABLE, TOPIC_REFUSALS, refusals
from .topics import Direction, ServiceContract, Topic

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE_URI = "https://shebao.example/contracts/"
"""Namespace of the schemas' `$id`s: an identifier, not necessarily a place to download from."""
ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.4.0"  # the newest Kafka binding the AsyncAPI 3.0.0 meta-schema knows
SCHEMAS_DIR = "schemas"
ASYNCAPI_DIR = "asyncapi"
REASONS_FILE = "REASONS.md"
CHANGES_FILE = "CHANGES.md"
CHANGES_HEADER = "# What changed in the contracts\n"
GUIDES = ("HOSPITALS.md", "STATISTICS_BUREAUS.md", "TAX_BUREAUS.md")
"""Hand-written guides whose refusal tables, between `<!-- refusals: <topic> -->` and
`<!-- /refusals -->`, are generated."""
_REFUSALS_BLOCK = re.compile(r"(<!-- refusals: (\S+) -->\n).*?(<!-- /refusals -->)", re.DOTALL)
HEADERS_SCHEMA = "CloudEventsHeaders"
EXAMPLE_PARTNER_CODE = "h320102001"
EXAMPLE_TIME = "2025-01-15T09:30:00+08:00"

_PUBLISHED = re.compile(r"\.v[0-9]+$")
_TEMPLATE_FIELD = re.compile(r"\{([a-z_]+)\}")
_SAFE_TOPIC = re.compile(r"^[A-Za-z0-9_{}-][A-Za-z0-9._{}-]*$")
_SAFE_TYPE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
_SAFE_SERVICE = re.compile(r"^[a-z][a-z0-9_-]*$")
_TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


class ContractError(Exception):
    """The code's contract cannot be published as it is (a bug to fix, not drift to regenerate)."""


@dataclass(frozen=True)
class Generation:
    files: dict[str, str]
    """Path relative to the contracts root (POSIX separators) -> file text."""
    problems: list[str]
    """What `check` fails on but generation survives, e.g. a partner message with no example."""


def is_published(topic_name: str) -> bool:
    """A `.vN` topic is public: its schemas may only change compatibly."""
    return _PUBLISHED.search(topic_name) is not None


def schema_mode(topic: Topic) -> JsonSchemaMode:
    return "validation" if topic.direction is Direction.PARTNER_IN else "serialization"


def schema_path(topic_name: str, ce_type: str) -> str:
    return f"{SCHEMAS_DIR}/{topic_name}/{ce_type}.json"


def dump(document: Mapping[str, Any]) -> str:
    """Canonical JSON text: sorted keys, 2-space indent, trailing newline, byte-stable."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------
# JSON Schema per message


def message_schema(topic: Topic, message: type[Message]) -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of one message on one topic."""
    schema = message.model_json_schema(mode=schema_mode(topic))
    examples = message_examples(topic, message, schema.get("examples"))
    schema["$schema"] = DIALECT
    schema["$id"] = SCHEMA_BASE_URI + quote(schema_path(topic.name, message.TYPE))
    schema["title"] = message.__name__
    schema["x-cloudevents-type"] = message.TYPE
    schema.pop("description", None)
    if message.__doc__:
        schema["description"] = inspect.cleandoc(message.__doc__)
    schema.pop("examples", None)
    if examples:
        schema["examples"] = examples
    return schema


def message_examples(topic: Topic, message: type[Message], extra: Any = None) -> list[Any]:
    """The message's examples as JSON values, each checked to be a valid message.

    `EXAMPLE` wins; otherwise the `examples` of the model's `json_schema_extra` (passed in as
    `extra`). On a topic the platform writes, an example is shown as the runtime would serialise
    it (defaults filled in); on a partner-in topic, as written (what a partner may send).
    """
    candidates: list[Any]
    if message.EXAMPLE is not None:
        candidates = [message.EXAMPLE]
    elif isinstance(extra, list):
        candidates = extra
    else:
        candidates = []
    out: list[Any] = []
    for i, example in enumerate(candidates):
        where = f"{topic.name}: {message.TYPE}: example {i + 1}"
        if isinstance(example, Message):
            if not isinstance(example, message):
                raise ContractError(
                    f"{where} is a {type(example).__name__}, not a {message.__name__}"
                )
            payload: Any = json.loads(example.model_dump_json())
        elif isinstance(example, Mapping):
            payload = to_jsonable_python(dict(example))
        else:
            raise ContractError(f"{where} must be a dict or a {message.__name__}")
        try:
            parsed = message.model_validate_json(json.dumps(payload))
        except ValidationError as exc:
            raise ContractError(f"{where} is not a valid message:\n{exc}") from None
        if schema_mode(topic) == "serialization":
            payload = json.loads(parsed.model_dump_json())
        out.append(payload)
    return out


# ---------------------------------------------------------------------------------------------
# AsyncAPI per service


def headers_schema() -> dict[str, Any]:
    """The record headers of every message: CloudEvents 1.0 Kafka binding, binary mode."""
    return {
        "type": "object",
        "description": (
            "CloudEvents 1.0 Kafka protocol binding, binary content mode: the event attributes "
            "travel as UTF-8 record headers, the record value is the JSON payload."
        ),
        "required": list(ce.REQUIRED_HEADERS),
        "properties": {
            ce.H_SPECVERSION: {"type": "string", "const": ce.SPECVERSION},
            ce.H_ID: {
                "type": "string",
                "description": "Event id, unique per source; readers deduplicate on it.",
            },
            ce.H_TYPE: {
                "type": "string",
                "description": "Event type; names the payload schema (its x-cloudevents-type).",
            },
            ce.H_SOURCE: {
                "type": "string",
                "format": "uri-reference",
                "description": (
                    "Who produced the event: /shebao/<service> for the platform's services; "
                    "a partner uses a URI-reference that identifies it."
                ),
            },
            ce.H_TIME: {
                "type": "string",
                "format": "date-time",
                "description": "When the event happened, RFC 3339 with an offset.",
            },
            ce.H_SUBJECT: {"type": "string", "description": "Optional CloudEvents subject."},
            ce.H_CONTENT_TYPE: {
                "type": "string",
                "pattern": "^application/json",
                "examples": [ce.CONTENT_TYPE],
            },
            ce.H_CORRELATION: {
                "type": "string",
                "description": "Shared by every event of one business flow: the first event's id.",
            },
            ce.H_CAUSATION: {
                "type": "string",
                "description": "ce_id of the event that caused this one.",
            },
            ce.H_TRACEPARENT: {
                "type": "string",
                "pattern": _TRACEPARENT,
                "description": "W3C Trace Context traceparent.",
            },
        },
    }


def channel_id(topic_name: str) -> str:
    """`partner.hospital.{code}.claims.v1` -> `partner.hospital.code.claims.v1`."""
    return topic_name.replace("{", "").replace("}", "")


SERVERS: dict[str, Any] = {
    "province": {
        "host": "{bootstrap}",
        "protocol": "kafka-secure",
        "description": "The province's Kafka cluster, over TLS. Its bootstrap addresses, its CA"
        " certificate and your account are given at onboarding (HOSPITALS.md, TAX_BUREAUS.md,"
        " STATISTICS_BUREAUS.md).",
        "variables": {"bootstrap": {"description": "host:port of a bootstrap broker"}},
        "security": [{"$ref": "#/components/securitySchemes/partnerAccount"}],
    },
    "compose": {
        "host": "127.0.0.1:9092",
        "protocol": "kafka",
        "description": "The broker of `docker compose up kafka` on a developer's machine"
        " (plaintext, loopback only).",
    },
}
"""Where the topics are, and how a client authenticates there (SECURITY_SCHEMES)."""

SECURITY_SCHEMES: dict[str, Any] = {
    "partnerAccount": {
        "type": "scramSha512",
        "description": "SASL/SCRAM-SHA-512 as `<kind>-<code>` (e.g. `hospital-h320102001`), the"
        " account given at onboarding. The brokers allow it to write its own partner-in topics,"
        " read its own answer topics and use consumer groups named `partner.<kind>.<code>.*`;"
        " everything else is refused with an authorisation error.",
    }
}

PARTNER_VIEWS = {
    "hospital": "shebao for hospitals",
    "stats": "shebao for statistics bureaus",
    "tax": "shebao for tax bureaus",
}
"""Partner kinds (the second part of their topic names) that get a document of their own."""


def partner_view(kind: str, topics: Iterable[Topic]) -> ServiceContract | None:
    """What one kind of partner sends and receives, as a contract seen from the partner's side:
    it sends (produces) the partner-in topics and receives (consumes) the partner-out ones."""
    mine = [t for t in topics if t.name.startswith(f"partner.{kind}.")]
    if not mine:
        return None
    return ServiceContract(
        service=f"partner-{kind}",
        title=PARTNER_VIEWS[kind],
        description=f"The topics a {kind} partner writes and reads, seen from its side: `send`"
        " operations are what it produces, `receive` what it consumes. The topic names carry"
        " its partner code, which is its identity on the platform.",
        consumes=tuple(t for t in mine if t.direction is Direction.PARTNER_OUT),
        produces=tuple(t for t in mine if t.direction is Direction.PARTNER_IN),
    )


def asyncapi_document(
    contract: ServiceContract, schemas: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of one service; `schemas` from `message_schema`."""
    topics = {t.name: t for t in (*contract.consumes, *contract.produces)}
    components: dict[str, Any] = {HEADERS_SCHEMA: headers_schema()}
    modes: dict[str, set[str]] = {}
    for topic in topics.values():
        for m in topic.messages:
            modes.setdefault(m.TYPE, set()).add(schema_mode(topic))

    channels: dict[str, Any] = {}
    for name in sorted(topics):
        topic = topics[name]
        cid = channel_id(name)
        if cid in channels:
            raise ContractError(f"{contract.service}: two topics map to channel id {cid}")
        messages: dict[str, Any] = {}
        for m in sorted(topic.messages, key=lambda c: c.TYPE):
            mode = schema_mode(topic)
            key = m.TYPE if len(modes[m.TYPE]) == 1 else f"{m.TYPE}.{mode}"
            schema = schemas[(name, m.TYPE)]
            _hoist(schema, key, components)
            messages[m.TYPE] = _message_object(topic, m, key, schema)
        channel: dict[str, Any] = {
            "address": name,
            "description": topic.description,
            "messages": messages,
            "bindings": {
                "kafka": {"partitions": topic.partitions, "bindingVersion": KAFKA_BINDING_VERSION}
            },
            "x-owner": topic.owner,
            "x-direction": topic.direction.value,
            "x-dead-letter-topic": topic.dlq,
        }
        fields = _TEMPLATE_FIELD.findall(name)
        if fields:
            channel["parameters"] = {f: _parameter(f) for f in fields}
        refused = refusals(name)
        if refused:
            # What a record written here can be refused with (from shebao_contracts.reasons).
            channel["x-refusals"] = [
                {"reason": r.code, "meaning": r.meaning, "action": r.action.value} for r in refused
            ]
        channels[cid] = channel

    operations: dict[str, Any] = {}
    for action, group in (("receive", contract.consumes), ("send", contract.produces)):
        for topic in group:
            cid = channel_id(topic.name)
            verb = "reads" if action == "receive" else "writes"
            operations[f"{cid}.{action}"] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{_escape(cid)}"},
                "summary": f"{contract.service} {verb} {topic.name}",
                "messages": [
                    {"$ref": f"#/channels/{_escape(cid)}/messages/{_escape(t)}"}
                    for t in sorted(m.TYPE for m in topic.messages)
                ],
            }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": contract.title,
            "version": _package_version(),
            "description": contract.description,
        },
        "defaultContentType": ce.CONTENT_TYPE,
        "servers": SERVERS,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components, "securitySchemes": SECURITY_SCHEMES},
    }


def _message_object(
    topic: Topic, message: type[Message], key: str, schema: Mapping[str, Any]
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "name": message.__name__,
        "title": message.TYPE,
        "contentType": ce.CONTENT_TYPE,
        "headers": {
            "allOf": [
                {"$ref": f"#/components/schemas/{HEADERS_SCHEMA}"},
                {"type": "object", "properties": {ce.H_TYPE: {"const": message.TYPE}}},
            ]
        },
        "payload": {"$ref": f"#/components/schemas/{_escape(key)}"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"Record key: {topic.key}"},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }
    if "description" in schema:
        obj["summary"] = str(schema["description"]).split("\n", 1)[0]
    examples = schema.get("examples") or []
    if examples:
        obj["examples"] = [
            {
                "name": f"example-{i + 1}" if len(examples) > 1 else "example",
                "headers": _example_headers(topic, message),
                "payload": payload,
            }
            for i, payload in enumerate(examples)
        ]
    return obj


def _example_headers(topic: Topic, message: type[Message]) -> dict[str, str]:
    source = (
        f"/partners/{EXAMPLE_PARTNER_CODE}"
        if topic.direction is Direction.PARTNER_IN
        else f"/shebao/{topic.owner}"
    )
    return {
        ce.H_SPECVERSION: ce.SPECVERSION,
        ce.H_ID: str(uuid.uuid5(uuid.NAMESPACE_URL, f"{topic.name}/{message.TYPE}")),
        ce.H_TYPE: message.TYPE,
        ce.H_SOURCE: source,
        ce.H_TIME: EXAMPLE_TIME,
        ce.H_CONTENT_TYPE: ce.CONTENT_TYPE,
    }


def _parameter(field: str) -> dict[str, Any]:
    if field == "code":
        return {
            "description": (
                "The partner's code, as granted in its topic ACLs: "
                "lower-case letters, digits and '-', 2 to 31 characters."
            ),
            "examples": [EXAMPLE_PARTNER_CODE],
        }
    return {"description": f"The {field} part of the topic name."}


def _hoist(schema: Mapping[str, Any], key: str, into: dict[str, Any]) -> None:
    """Put a message schema into components/schemas, its `$defs` beside it as `<key>.<name>`.

    AsyncAPI tools resolve `#/...` against the whole document, so the local `#/$defs/X` become
    `#/components/schemas/<key>.X`; `$id` goes, or strict resolvers would resolve against it.
    """
    defs: Mapping[str, Any] = schema.get("$defs", {})
    names = {name: f"{key}.{name}" for name in defs}

    def fix(node: Any) -> Any:
        if isinstance(node, list):
            return [fix(x) for x in node]
        if not isinstance(node, Mapping):
            return node
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = f"#/components/schemas/{_escape(names[v.removeprefix('#/$defs/')])}"
            elif k in ("examples", "default", "const", "enum"):
                out[k] = v  # values, not schemas
            else:
                out[k] = fix(v)
        return out

    body = {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$defs")}
    for name, definition in [*((names[n], d) for n, d in defs.items()), (key, body)]:
        fixed = fix(definition)
        if name in into and into[name] != fixed:
            raise ContractError(f"two different schemas would be published as {name}")
        into[name] = fixed


def _escape(token: str) -> str:
    """A JSON Pointer reference token."""
    return token.replace("~", "~0").replace("/", "~1")


def _package_version() -> str:
    try:
        return metadata.version("shebao-contracts")
    except metadata.PackageNotFoundError:  # pragma: no cover - the workspace installs it
        return "0.0.0"


# ---------------------------------------------------------------------------------------------
# The whole catalog


def generate(contracts: Sequence[ServiceContract] | None = None) -> Generation:
    """Every file the contracts publish, from the code alone."""
    real = contracts is None  # the refusal catalogue speaks of the real topics only
    contracts = list(CONTRACTS if contracts is None else contracts)
    try:
        registry = all_topics(contracts)
    except ValueError as exc:
        raise ContractError(str(exc)) from None
    files: dict[str, str] = {}
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    problems: list[str] = []
    for topic in sorted(registry, key=lambda t: t.name):
        if not _SAFE_TOPIC.match(topic.name):
            raise ContractError(f"topic name {topic.name!r} cannot name a folder")
        for message in sorted(topic.messages, key=lambda m: m.TYPE):
            if not _SAFE_TYPE.match(message.TYPE):
                raise ContractError(f"message type {message.TYPE!r} cannot name a file")
            schema = message_schema(topic, message)
            schemas[(topic.name, message.TYPE)] = schema
            files[schema_path(topic.name, message.TYPE)] = dump(schema)
            if topic.direction is not Direction.INTERNAL and "examples" not in schema:
                problems.append(
                    f"{topic.name}: {message.TYPE} has no example; partner topics need one "
                    f"(set {message.__name__}.EXAMPLE)"
                )
    seen: set[str] = set()
    for contract in sorted(contracts, key=lambda c: c.service):
        if not _SAFE_SERVICE.match(contract.service) or contract.service in seen:
            raise ContractError(f"service name {contract.service!r} is invalid or repeated")
        seen.add(contract.service)
        document = asyncapi_document(contract, schemas)
        files[f"{ASYNCAPI_DIR}/{contract.service}.json"] = dump(document)
    for kind in PARTNER_VIEWS if real else ():
        view = partner_view(kind, registry)
        if view is not None:
            document = asyncapi_document(view, schemas)
            files[f"{ASYNCAPI_DIR}/{view.service}.json"] = dump(document)
    if real:
        files[REASONS_FILE] = reasons_document()
    return Generation(files=files, problems=problems)


def refusals_table(topic_name: str) -> str:
    """The markdown table of what a record written to the topic can be refused with."""
    rows = ["| reason | meaning | what to do | the schema finds it |", "|---|---|---|---|"]
    rows += [
        f"| `{r.code}` | {r.meaning} | {ACTION_TEXT[r.action]} |"
        f" {'yes' if r.code in SCHEMA_DETECTABLE else 'no'} |"
        for r in refusals(topic_name)
    ]
    return "\n".join(rows) + "\n"


def reasons_document() -> str:
    """contracts/REASONS.md: every topic people and partners write to, and its refusals."""
    out = [
        "# Refusal reasons, per topic",
        "",
        "Generated by `python -m shebao_contracts.gen write` from `shebao_contracts.reasons` and",
        "the code's reason enums; do not edit. A refused record is answered with one of these",
        "codes (in `reasons` of a hospital's `SettlementResult`, in `reason` of a",
        "`CollectionRejected` or a `CommandRejected`) and kept on `<topic>.dlq` when it could not",
        "be read at all. What to do: *correct and resend* (change the message), *wait and resend*",
        "(what it depends on has not arrived yet), *give up* (the answer is final), *report to the",
        "operators* (the platform failed on a valid message). *The schema finds it*: a sender",
        "that validates the body against the published JSON Schema gets the same refusal before",
        "sending; the others only the platform can find (the record's headers and size, a citizen",
        "ID's check character and birth date, and the rules that need state or arithmetic).",
        "",
    ]
    for name in sorted(TOPIC_REFUSALS):
        out += [f"## `{name}`", "", refusals_table(name)]
    return "\n".join(out)


def guides(root: Path) -> dict[str, str]:
    """The hand-written guides with their refusal tables as the code gives them."""
    out: dict[str, str] = {}
    for name in GUIDES:
        path = root / name
        if not path.is_file():
            continue

        out[name] = _REFUSALS_BLOCK.sub(_table_block, path.read_text(encoding="utf-8"))
    return out


def _table_block(m: re.Match[str]) -> str:
    if m.group(2) not in TOPIC_REFUSALS:
        raise ContractError(f"a guide names {m.group(2)}, for which no refusals are declared")
    return m.group(1) + refusals_table(m.group(2)) + m.group(3)


def read_files(root: Path) -> dict[str, str]:
    """The generated files currently under root (only `.json` under schemas/ and asyncapi/)."""
    out: dict[str, str] = {}
    for folder in (SCHEMAS_DIR, ASYNCAPI_DIR):
        base = root / folder
        if base.is_dir():
            for path in sorted(base.rglob("*.json")):
                if path.is_file():
                    out[path.relative_to(root).as_posix()] = path.read_bytes().decode("utf-8")
    if (root / REASONS_FILE).is_file():
        out[REASONS_FILE] = (root / REASONS_FILE).read_text(encoding="utf-8")
    return out


def published_schemas(files: Mapping[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """topic -> ce type -> schema, for the published (`.vN`) topics among the files."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for path, text in files.items():
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != SCHEMAS_DIR or not parts[2].endswith(".json"):
            continue
        topic, ce_type = parts[1], parts[2].removesuffix(".json")
        if not is_published(topic):
            continue
        try:
            out.setdefault(topic, {})[ce_type] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"{path} is not valid JSON: {exc}") from None
    return out


def breaking_changes_between(
    old: Mapping[str, str], new: Mapping[str, str], *, registry: bool = False
) -> list[str]:
    """Breaking changes on published topics from one set of files to another (with `registry`,
    also what a schema registry's BACKWARD check would refuse; see `compat`)."""
    before, after = published_schemas(old), published_schemas(new)
    out: list[str] = []
    for topic in sorted(before):
        try:
            out.extend(
                topic_breaking_changes(
                    topic, before[topic], after.get(topic, {}), registry=registry
                )
            )
        except ValueError as exc:  # an unresolvable $ref in a file
            raise ContractError(f"{topic}: {exc}") from None
    return out


def drift(on_disk: Mapping[str, str], generated: Mapping[str, str]) -> list[str]:
    out: list[str] = []
    for path in sorted({*on_disk, *generated}):
        if path not in on_disk:
            out.append(f"missing: {path}")
        elif path not in generated:
            out.append(f"stale: {path}")
        elif on_disk[path] != generated[path]:
            out.append(f"out of date: {path}")
    return out


def write(
    root: Path,
    contracts: Sequence[ServiceContract] | None = None,
    accept_breaking: str | None = None,
) -> int:
    """Regenerate the files under root, unless that would break a published topic.

    `accept_breaking` (why the change breaks no real sender or reader, e.g. the schema now
    refuses what the platform always refused) writes it anyway and records the changes with that
    reason in `CHANGES.md`, which partners read."""
    generation = generate(contracts)
    existing = read_files(root)
    broken = breaking_changes_between(existing, generation.files)
    if broken and not accept_breaking:
        _report(
            "refusing to write: breaking change(s) to published topics",
            broken,
            "Keep the change compatible, or publish it as a new topic version (.v2); if no"
            " real message is affected, write with --accept-breaking 'why'.",
        )
        return 1
    if broken and accept_breaking:
        record_accepted(root, broken, accept_breaking)
    registry_only = [
        line
        for line in breaking_changes_between(existing, generation.files, registry=True)
        if line not in broken
    ]
    if registry_only:
        _report(
            "note: compatible here, but a schema registry's JSON Schema BACKWARD check refuses",
            registry_only,
            "See shebao_contracts.compat: a registry holding these schemas must let these through.",
        )
    written = removed = 0
    for path, text in generation.files.items():
        if existing.get(path) != text:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
            written += 1
    for path in existing:
        if path not in generation.files:
            (root / path).unlink()
            removed += 1
    for name, text in guides(root).items():
        if (root / name).read_text(encoding="utf-8") != text:
            (root / name).write_text(text, encoding="utf-8")
            written += 1
    _prune_empty_dirs(root)
    for problem in generation.problems:
        print(f"warning: {problem}", file=sys.stderr)
    unchanged = len(generation.files) - written
    print(f"contracts: {written} written, {removed} removed, {unchanged} unchanged")
    return 0


def record_accepted(root: Path, changes: Sequence[str], why: str) -> None:
    """Append accepted breaking changes, with the reason, to the partners' change log."""
    log = root / CHANGES_FILE
    text = log.read_text(encoding="utf-8") if log.is_file() else CHANGES_HEADER
    today = datetime.now(UTC).date().isoformat()  # a tool's record, not a rule's time
    entry = [f"### {today}: schema changes accepted as not breaking", "", why, ""]
    entry += [f"- {_visible(line)}" for line in changes]
    text = text.rstrip("\n") + "\n\n" + "\n".join(entry) + "\n"
    log.write_text(text, encoding="utf-8")


def _visible(text: str) -> str:
    """Unprintable characters (a pattern's control or bidi ranges) as \\uXXXX escapes."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)


def check(
    root: Path,
    contracts: Sequence[ServiceContract] | None = None,
    baseline: Path | None = None,
) -> int:
    """0 when the files match the code, nothing published breaks and partners have examples."""
    generation = generate(contracts)
    on_disk = read_files(root)
    reference = on_disk if baseline is None else read_files(baseline)
    broken = breaking_changes_between(reference, generation.files)
    drifted = drift(on_disk, generation.files) + [
        f"out of date: {name} (its refusal tables)"
        for name, text in guides(root).items()
        if (root / name).read_text(encoding="utf-8") != text
    ]
    failed = False
    if broken:
        _report("breaking change(s) to published topics", broken, "Publish a new topic version.")
        failed = True
    if drifted:
        _report(
            "contract files differ from the code",
            drifted,
            "Run: python -m shebao_contracts.gen write",
        )
        failed = True
    if generation.problems:
        _report("contract problems", generation.problems, None)
        failed = True
    if not failed:
        print(f"contracts: {len(generation.files)} files match the code")
    return 1 if failed else 0


def _report(title: str, lines: Iterable[str], hint: str | None) -> None:
    print(f"{title}:", file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    if hint:
        print(hint, file=sys.stderr)


def _prune_empty_dirs(root: Path) -> None:
    for folder in (SCHEMAS_DIR, ASYNCAPI_DIR):
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        if not any(base.iterdir()):
            base.rmdir()


def main(
    argv: Sequence[str] | None = None, contracts: Sequence[ServiceContract] | None = None
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shebao_contracts.gen",
        description="Publish the event contracts (JSON Schema, AsyncAPI) and guard them.",
    )
    parser.add_argument("command", choices=("write", "check"))
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("contracts"),
        help="the contracts folder (default: contracts)",
    )
    parser.add_argument(
        "--accept-breaking",
        metavar="WHY",
        default=None,
        help="write only: write a change the gate calls breaking, and record it with WHY in"
        " CHANGES.md (only where no real message is affected)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="check only: compare against the files under this root instead (e.g. main's)",
    )
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a folder: run from the repository root or pass --root")
    try:
        if args.command == "write":
            if args.baseline is not None:
                parser.error("--baseline is for check; write always compares with --root")
            return write(args.root, contracts, args.accept_breaking)
        return check(args.root, contracts, args.baseline)
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
