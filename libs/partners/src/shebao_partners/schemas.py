"""The published JSON Schemas (contracts/schemas/<topic>/<ce_type>.json) and a message checked
against them, as a partner's system would before sending: the platform refuses what they refuse
(contracts/REASONS.md lists what only the platform can refuse)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

_TEMPLATE = re.compile(r"\{[a-z_]+\}")
_CODE = "[a-z0-9][a-z0-9-]{1,30}"


def default_root() -> Path:
    """`contracts/schemas` of the checkout the command runs in (or above it)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / "contracts" / "schemas"
        if candidate.is_dir():
            return candidate
    return here / "contracts" / "schemas"


@dataclass(frozen=True)
class Schema:
    topic: str
    """The topic as the contract names it: a template for partners' topics."""
    ce_type: str
    document: dict[str, Any]

    def matches(self, topic: str) -> bool:
        pattern = _TEMPLATE.sub(
            _CODE, re.escape(self.topic).replace(r"\{", "{").replace(r"\}", "}")
        )
        return re.fullmatch(pattern, topic) is not None


def published(root: Path) -> list[Schema]:
    return [
        Schema(path.parent.name, path.stem, json.loads(path.read_text("utf-8")))
        for path in sorted(root.glob("*/*.json"))
    ]


def find(root: Path, ce_type: str, topic: str | None = None) -> list[Schema]:
    """The schemas of a message type, on one topic (a concrete partner topic matches its
    template) or on every topic that carries it."""
    found = [s for s in published(root) if s.ce_type == ce_type]
    return [s for s in found if topic is None or s.topic == topic or s.matches(topic)]


def problems(schema: Schema, body: Any) -> list[str]:
    """What the schema refuses in the body, one line each with the field's path."""
    validator = Draft202012Validator(schema.document)
    out = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(the message)"
        out.append(f"{where}: {error.message}")
    return out
