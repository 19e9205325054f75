"""Structured JSON logs with trace ids, and citizen ID numbers masked wherever they appear."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

# 18-character IDs (17 digits + digit/X) and 15-digit legacy IDs, not inside longer digit runs;
# letters around an ID do not protect it ("X320102198204090034" is masked too), nor does a
# leading zero (the validator takes "010105..." as it takes any area code).
_ID18 = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])(?![0-9])")
_ID15 = re.compile(r"(?<![0-9])([1-9][0-9]{5})[0-9]{5}([0-9]{4})(?![0-9])")

trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace_id", default=None)


def mask_ids(text: str) -> str:
    """Hide the birth date and sequence of every citizen ID number in a text: 320102********1234."""
    text = _ID18.sub(lambda m: f"{m.group(1)}********{m.group(2)[-4:]}", text)
    return _ID15.sub(lambda m: f"{m.group(1)}*****{m.group(2)}", text)


def _current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        return f"{ctx.trace_id:032x}"
    return trace_id_var.get()


_STD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id = _current_trace_id()
        if trace_id:
            out["trace_id"] = trace_id
        out.update(
            {k: v for k, v in record.__dict__.items() if k not in _STD and not k.startswith("_")}
        )
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return mask_ids(json.dumps(out, ensure_ascii=False, default=str))


class MaskingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask_ids(super().format(record))


class RepeatFilter(logging.Filter):
    """Lets the same message of a library through once per interval, then counts the rest.

    While a broker is away aiokafka logs the same connection error dozens of times a second;
    one line every few seconds, with how many were held back, says the same thing.
    """

    def __init__(self, interval: float = 10.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("aiokafka", "kafka")):
            return True
        key = (record.name, str(record.msg))
        now = record.created
        last, held = self._last.get(key, (0.0, 0))
        if now - last < self.interval:
            self._last[key] = (last, held + 1)
            return False
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.interval:.0f}s)"
        self._last[key] = (now, 0)
        if len(self._last) > 1000:
            self._last.clear()
        return True


def setup_logging(service: str, level: str = "INFO", as_json: bool = True) -> None:
    """Route every logger (ours, FastStream's, aiokafka's) through one masked handler."""
    handler = logging.StreamHandler(sys.stderr)
    if as_json:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            MaskingTextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
