"""Logging set-up: events with fields passed as data, JSON under systemd, key=value on a console.

Call ``log_event(log, "session_done", txn=..., counter=...)``: the event name and
the fields travel as data on the record (``extra``), so the JSON formatter
writes them exactly as they are (spaces, newlines, ``=`` included) and the
console formatter quotes any value that could be read as another field. No
value is ever parsed back out of a message string, so a transaction id such as
``"x decision=PASS"`` cannot forge a field or an event.

Log calls name what happened and ids; no frame, crop, embedding or score is
ever passed to a logger.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys

__all__ = ["ConsoleFormatter", "JsonFormatter", "configure_logging", "log_event"]

_EVENT = "ea_event"
_FIELDS = "ea_fields"
_PLAIN = re.compile(r"[A-Za-z0-9_.:/@+-]+")


def log_event(logger: logging.Logger, name: str, level: int = logging.INFO, /, *, exc_info: bool = False,
          **fields: object) -> None:
    """Log one event: ``name`` is a fixed identifier, ``fields`` are ids and states, never biometric data."""
    if logger.isEnabledFor(level):
        logger.log(level, name, exc_info=exc_info, extra={_EVENT: name, _FIELDS: fields})


def _record_fields(record: logging.LogRecord) -> tuple[str, dict[str, object]]:
    name = getattr(record, _EVENT, None)
    if name is None:  # a plain logging call (ours or a library's): the whole message is the event text
        return record.getMessage(), {}
    return str(name), dict(getattr(record, _FIELDS, {}))


def _quote(value: object) -> str:
    text = str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: level, logger, event, then the fields as given."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line; a field named like a fixed key is written as ``field_<key>``."""
        name, fields = _record_fields(record)
        out: dict[str, object] = {"level": record.levelname.lower(), "logger": record.name, "event": name}
        for key, value in fields.items():
            out[key if key not in out else f"field_{key}"] = value if isinstance(value, int | float | bool) or \
                value is None else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """``time LEVEL logger event key=value ...``, values quoted when they hold anything but plain id characters."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one readable line, with the traceback below it when there is one."""
        name, fields = _record_fields(record)
        parts = [self.formatTime(record), record.levelname, record.name, name]
        parts += [f"{key}={_quote(value)}" for key, value in fields.items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(fmt: str = "auto") -> None:
    """``auto`` writes JSON when stderr goes to the journal (JOURNAL_STREAM is set), else console lines."""
    use_json = fmt == "json" or (fmt == "auto" and "JOURNAL_STREAM" in os.environ)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
