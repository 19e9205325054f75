"""`shebao-partner`: a message checked against the published schemas, sent, and followed back.

The schemas are the repository's `contracts/schemas`, as an integrator has them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from shebao_contracts import medical as m
from shebao_contracts.contributions import EmployerContributionsCollected
from shebao_devinfra.testing import recreate_topics
from shebao_partners import citizen_id, claim_body, example_lines
from shebao_partners.cli import main

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "contracts" / "schemas"


def claim() -> dict[str, Any]:
    patient = citizen_id("320102", date(1980, 5, 17), 1)
    return claim_body("h320102001", "C-CLI-1", patient, example_lines())


def write(tmp_path: Path, body: Any) -> str:
    path = tmp_path / "message.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return str(path)


def run(*args: str) -> int:
    return main([*args])


def test_a_valid_claim_is_valid_on_its_topic(tmp_path: Path, capsys: Any) -> None:
    file = write(tmp_path, claim())
    assert run("validate", "--type", m.ClaimSubmitted.TYPE, "--schemas", str(SCHEMAS), file) == 0
    assert "partner.hospital.{code}.claims.v1: valid" in capsys.readouterr().out
    # the concrete topic of a hospital matches its template
    topic = "partner.hospital.h320102001.claims.v1"
    args = ("validate", "--type", m.ClaimSubmitted.TYPE, "--topic", topic)
    assert run(*args, "--schemas", str(SCHEMAS), file) == 0


def test_what_the_schema_refuses_is_named_with_its_field(tmp_path: Path, capsys: Any) -> None:
    body = claim()
    body["total"] = 6745.0  # a number, not a string
    body["lines"][0]["amount"] = "-1.00"
    file = write(tmp_path, body)
    assert run("validate", "--type", m.ClaimSubmitted.TYPE, "--schemas", str(SCHEMAS), file) == 1
    err = capsys.readouterr().err
    assert "total:" in err and "lines/0/amount:" in err


def test_unknown_type_or_unreadable_file_is_a_usage_error(tmp_path: Path) -> None:
    file = write(tmp_path, claim())
    assert run("validate", "--type", "shebao.medical.Nope", "--schemas", str(SCHEMAS), file) == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    args = ("validate", "--type", m.ClaimSubmitted.TYPE, "--schemas", str(SCHEMAS))
    assert run(*args, str(broken)) == 2


@pytest.mark.integration
def test_send_then_follow(infra: Any, tmp_path: Path, capsys: Any) -> None:
    """Sent as a tax bureau would, read back with its CloudEvents type and the source of the
    bureau's code (the platform's services are not needed for this)."""
    topic = "partner.tax.t320100.collections.v1"
    asyncio.run(recreate_topics(infra.kafka_bootstrap, [topic]))
    body = {
        "collection_id": "CLI-1",
        "employer": "91320100MA00000001",
        "month": "2025-03",
        "amount": "100.00",
    }
    file = write(tmp_path, body)
    ce_type = EmployerContributionsCollected.TYPE
    sent = main(
        [
            "send",
            "--bootstrap",
            infra.kafka_bootstrap,
            "--topic",
            topic,
            "--type",
            ce_type,
            "--schemas",
            str(SCHEMAS),
            "--key",
            "CLI-1",
            file,
        ]
    )
    assert sent == 0
    capsys.readouterr()
    args = ["follow", "--bootstrap", infra.kafka_bootstrap, "--topic", topic]
    assert main([*args, "--from-beginning", "--count", "1", "--timeout", "30"]) == 0
    (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert (line["type"], line["key"], line["body"]) == (ce_type, "CLI-1", body)
