"""Logging set-up: key=value events on a console, one JSON object per line under systemd.

Log calls name what happened and ids (``session_done txn=... counter=...``);
no frame, crop, embedding or score is ever passed to a logger.
"""

from __future__ import annotations

import json
import logging
import os
import sys

__all__ = ["JsonFormatter", "configure_logging"]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event, _, rest = record.getMessage().partition(" ")
        fields: dict[str, object] = {"level": record.levelname.lower(), "logger": record.name, "event": event}
        for part in rest.split():
            key, sep, value = part.partition("=")
            if sep:
                fields[key] = value
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return json.dumps(fields)


def configure_logging(fmt: str = "auto") -> None:
    """``auto`` writes JSON when stderr goes to the journal (JOURNAL_STREAM is set), else console lines."""
    use_json = fmt == "json" or (fmt == "auto" and "JOURNAL_STREAM" in os.environ)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
