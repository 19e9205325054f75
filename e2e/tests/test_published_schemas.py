"""A partner validating locally against the published schemas gets the platform's answer.

Every record of the hostile suite (10,200 records of four hospitals and two tax bureaus: the
valid ones and every kind of mutation) is validated against the JSON Schema published for its
topic and type under contracts/schemas. A valid record must pass the schema. A record the
platform refuses with a reason the schema can express (`shebao_contracts.reasons`: malformed
JSON, the schema's own violations, the money and citizen-ID formats, control characters) must
fail it. What the schema passes but the platform refuses is listed, and must be only what
`reasons` declares the platform alone can refuse: the record's envelope and size, the
citizen ID's check character and birth date, and the rules that need state or arithmetic.
No broker is needed: the records are the suite's, the answers are what the suite expects.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

from hostile_data import PAYER_SET
from hostile_forge import forge_records
from jsonschema import Draft202012Validator, FormatChecker

from shebao_contracts.catalog import all_topics
from shebao_contracts.reasons import REASONS, SCHEMA_DETECTABLE

SCHEMAS = Path(__file__).resolve().parents[2] / "contracts" / "schemas"
TOPICS = {t for t in all_topics() if t.is_template}


@cache
def validator(topic: str, ce_type: str) -> Draft202012Validator | None:
    path = SCHEMAS / topic / f"{ce_type}.json"
    if not path.is_file():
        return None
    return Draft202012Validator(json.loads(path.read_text()), format_checker=FormatChecker())


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def schema_accepts(topic_name: str, ce_type: str, value: bytes | None) -> bool:
    template = next(t.name for t in TOPICS if t.match(topic_name) is not None)
    check = validator(template, ce_type)
    if check is None or not value:
        return False  # a type the topic does not have, or no body: no schema passes it
    try:
        # RFC 8259 JSON, as a partner's validator reads it: UTF-8, and no NaN or Infinity.
        body: Any = json.loads(value.decode("utf-8"), parse_constant=_not_json)
    except (ValueError, RecursionError):
        return False  # not JSON (or nested past the parser): no schema passes it
    return check.is_valid(body)


def test_the_published_schemas_refuse_what_the_platform_refuses() -> None:
    records, _ = forge_records(dict.fromkeys(PAYER_SET, "1000.00"))
    wrongly_refused: list[str] = []
    missed: Counter[str] = Counter()
    platform_only: Counter[str] = Counter()
    checked = 0
    for rec in records:
        headers = dict(rec.headers)
        ce_type = (headers.get("ce_type") or b"").decode(errors="replace")
        accepted = schema_accepts(rec.topic, ce_type, rec.value)
        if rec.expect == "valid":
            checked += 1
            if not accepted:
                wrongly_refused.append(f"{rec.tag}: {rec.value!r:.200}")
        elif rec.expect == "refused" and accepted:
            if rec.reasons and rec.reasons <= SCHEMA_DETECTABLE:
                missed[rec.tag] += 1  # the schema should have refused it
            else:
                platform_only.update(rec.reasons or {"(any)"})
        elif rec.expect == "refused":
            checked += 1
    assert len(records) >= 10_000 and checked > 6_000  # valid, or refused by the schema too
    assert wrongly_refused == [], "valid messages the published schema refuses"
    assert dict(missed) == {}, "refusals a partner's schema check would not find"
    # Only what reasons.py declares the platform alone can find.
    assert set(platform_only) - {"(any)"} <= set(REASONS) - SCHEMA_DETECTABLE, platform_only
