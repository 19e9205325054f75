"""Issue 18: a citizen ID a partner sends stays in its record's body. The dead letter's headers,
the refusal's detail, the metrics page and an HTTP error mask it, and an envelope id that is
one is refused before anything the record causes could carry it on. No broker needed."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import orjson
from ledger_app import handlers_for, ledger
from ledger_harness import deposit_record

from shebao_common.logging import mask_ids
from shebao_common.metrics import RuntimeMetrics
from shebao_common.runtime.codec import Decoder, Encoder
from shebao_common.runtime.service import _json
from shebao_common.runtime.store import StreamId
from shebao_contracts.types import find_citizen_ids
from shebao_partners import citizen_id, wrong_check

ID = citizen_id("320102", date(1982, 4, 9), 3)
ZERO_AREA = citizen_id("010105", date(1980, 1, 1), 5)  # the validator takes any area code
LG = ledger("pii")


def record(value: bytes | None, headers: list[tuple[str, bytes]], key: bytes = b"a1") -> Any:
    return SimpleNamespace(
        topic=LG.commands.name,
        partition=0,
        offset=7,
        key=key,
        value=value,
        headers=headers,
        timestamp=1_700_000_000_000,
    )


def decoded(value: bytes | None, headers: list[tuple[str, bytes]]) -> Any:
    decoder = Decoder(
        LG.registry, handlers_for(LG), trust_event_ids=True, max_record_bytes=1_000_000, env=None
    )
    return decoder.decode(record(value, headers))


def test_every_citizen_id_is_masked_leading_zero_or_lower_case_x() -> None:
    assert find_citizen_ids(mask_ids(f"{ZERO_AREA} {ID} {ID[:17]}x")) == []
    assert mask_ids(ZERO_AREA) == f"{ZERO_AREA[:6]}********{ZERO_AREA[-4:]}"


def test_a_dead_letter_keeps_the_body_and_masks_its_headers() -> None:
    """A deposit whose amount is a citizen ID (the refusal's detail quotes the value), sent with
    the ID in `ce_subject`, in a header of the partner's own and in a header's name."""
    _, _, headers = deposit_record("cmd-1", "a1", 1)  # type: ignore[arg-type]
    headers = [
        *headers,
        ("ce_subject", ID.encode()),
        ("x-patient", f"patient {ID}".encode()),
        (f"x-{ZERO_AREA}", b"1"),
    ]
    body = b'{"account": "a1", "amount": "' + ID.encode() + b'"}'
    item = decoded(body, headers)
    assert item.reason == "money_format" and find_citizen_ids(item.detail) == []
    letter = Encoder("ledger-pii", 256 * 1024).dead_letter(item, "s", StreamId(8, 0))
    pairs = orjson.loads(letter.headers)
    assert find_citizen_ids(orjson.dumps(pairs).decode()) == []
    named = dict(pairs)
    assert named["dlq-reason"] == "money_format"
    assert named["ce_subject"] == f"{ID[:6]}********{ID[-4:]}"
    assert named["x-patient"] == f"patient {ID[:6]}********{ID[-4:]}"
    assert (named["dlq-topic"], named["dlq-offset"]) == (LG.commands.name, "7")
    assert letter.value == body  # the dead letter keeps the record as it came


def test_an_envelope_id_that_is_a_citizen_id_is_refused_by_name() -> None:
    for name in ("ce_id", "correlation-id", "causation-id"):
        _, body, headers = deposit_record("cmd-2", "a1", 1)  # type: ignore[arg-type]
        headers = [(k, v) for k, v in headers if k != name]
        item = decoded(body, [*headers, (name, f"msg-{ID.lower()}".encode())])
        assert item.reason == "citizen_id_in_header", name
        assert name in item.detail and find_citizen_ids(item.detail) == []
    # an 18-digit id that is no citizen ID (a wrong check character), or a longer number, reads
    for other in (wrong_check(ID), "9" + ID[:17] + "12"):
        _, body, headers = deposit_record(other, "a1", 1)  # type: ignore[arg-type]
        assert decoded(body, headers).reason is None, other


def test_the_metrics_page_masks_label_values() -> None:
    m = RuntimeMetrics("test")
    m.dead_letters.labels(f"partner.hospital.{ID}.claims.v1", "schema_violation").inc()
    m.batch_seconds.labels("claims").observe(float("0." + ID[:17] + "8"))
    page = m.exposition().decode()
    assert "shebao_dead_letters_total" in page and find_citizen_ids(page) == []
    assert f"partner.hospital.{ID[:6]}********{ID[-4:]}.claims.v1" in page
    # a sample's value is a number, never masked
    assert "*" not in "".join(line.rpartition(" ")[2] for line in page.splitlines())


def test_an_http_error_body_masks_what_it_echoes() -> None:
    """Every read-side answer is encoded by `_json`: an error (a 404 that echoes the ID it was
    asked for, a refusal) is masked whatever the route put in it; an answer is not."""

    def answer(status: int) -> tuple[int, bytes]:
        response = _json(status, {"error": "person_not_known", "detail": f"no {ID}"})
        return response.status_code, response.body

    status, body = answer(404)
    assert status == 404 and find_citizen_ids(body.decode()) == []
    assert orjson.loads(body)["detail"] == f"no {ID[:6]}********{ID[-4:]}"
    # an answer (the person's own record, to a clerk allowed to read it) is left as it is
    status, body = answer(200)
    assert status == 200 and orjson.loads(body)["detail"] == f"no {ID}"
