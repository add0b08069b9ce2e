"""Structured logging: one JSON object per line, with citizens' personal data masked.

``JsonFormatter`` writes ``{"ts", "level", "logger", "message", "session_id", "request_id", ...}``:
``ts`` is ISO 8601 UTC, ``session_id``/``request_id`` come from the context variables defined here
(set them once per request/turn; they follow ``asyncio`` tasks), and fields passed with
``logger.info("...", extra={"fields": {...}})`` are merged in at the top level (a field named like a
standard key is written as ``extra_<name>``). The message, the fields and the exception text are
masked with ``assistant.pii.mask_pii``.

``configure_logging(level, json_logs)`` installs one handler of its own on the root logger
(replacing the one a previous call installed, leaving other handlers alone), with the
``PiiMaskingFilter`` in front of it, and quiets chatty libraries to WARNING.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from assistant.pii import PiiMaskingFilter, mask_pii, mask_value

__all__ = [
    "JsonFormatter",
    "configure_logging",
    "request_id_var",
    "session_id_var",
]

session_id_var: ContextVar[str | None] = ContextVar("session_id", default=None)
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

NOISY_LOGGERS = ("faiss", "bm25s", "httpx", "httpcore", "urllib3")
_STANDARD_KEYS = frozenset({"ts", "level", "logger", "message", "session_id", "request_id", "exc", "stack"})
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON (UTF-8 text, Korean left readable)."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_pii(record.getMessage()),
            "session_id": session_id_var.get(),
            "request_id": request_id_var.get(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                name = str(key)
                out["extra_" + name if name in _STANDARD_KEYS else name] = mask_value(value)
        elif fields is not None:
            out["extra_fields"] = mask_value(fields)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = mask_pii(record.exc_text)
        if record.stack_info:
            out["stack"] = mask_pii(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=str)


class _AssistantHandler(logging.StreamHandler[TextIO]):
    """The handler ``configure_logging`` owns (so a second call can find and replace it)."""


def configure_logging(level: str, json_logs: bool) -> None:
    """Log to stderr at ``level`` (e.g. ``"INFO"``), as JSON lines or as plain text; idempotent.

    Raises ``ValueError`` for an unknown level name.
    """
    numeric = logging.getLevelName(level.strip().upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level: {level!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _AssistantHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _AssistantHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter(_TEXT_FORMAT))
    handler.addFilter(PiiMaskingFilter())
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def describe_failure(exc: BaseException) -> str:
    """What failed, for the operators: the exception types down the cause chain and the driver's own
    message (masked, short; never SQL parameters), e.g. "StorageError <- OperationalError <-
    OperationalError: server closed the connection unexpectedly"."""
    names, last, seen = [], exc, 0
    cur: BaseException | None = exc
    while cur is not None and seen < 5:
        names.append(type(cur).__name__)
        last, cur, seen = cur, cur.__cause__ or getattr(cur, "orig", None), seen + 1
    detail = mask_pii(str(last).splitlines()[0][:200]) if last is not exc else ""
    return " <- ".join(names) + (f": {detail}" if detail else "")
