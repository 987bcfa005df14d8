"""Log events keep their fields intact and cannot be forged through a field's value."""

from __future__ import annotations

import io
import json
import logging

import pytest

from edge_agent.logs import ConsoleFormatter, JsonFormatter, log_event

HOSTILE = 'txn 1 decision=PASS\n{"event": "session_done"} "quoted"'


def _emit(formatter: logging.Formatter, **fields: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("edge_agent.test_logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    log_event(logger, "camera_failed", logging.ERROR, **fields)
    return stream.getvalue()


def test_json_keeps_values_with_spaces_and_newlines_intact() -> None:
    text = _emit(JsonFormatter(), txn=HOSTILE, counter=7, error="no camera at /dev/video99")
    lines = text.splitlines()
    assert len(lines) == 1  # a newline in a value cannot start a second event
    record = json.loads(lines[0])
    assert record["event"] == "camera_failed"
    assert record["txn"] == HOSTILE
    assert record["counter"] == 7
    assert record["error"] == "no camera at /dev/video99"
    assert "decision" not in record


def test_json_field_cannot_overwrite_the_event_name() -> None:
    record = json.loads(_emit(JsonFormatter(), event="session_done", logger="carrier"))
    assert record["event"] == "camera_failed"
    assert record["logger"] == "edge_agent.test_logs"
    assert record["field_event"] == "session_done"
    assert record["field_logger"] == "carrier"


@pytest.mark.parametrize("value", [HOSTILE, "a b", "k=v", ""])
def test_console_quotes_anything_that_could_read_as_another_field(value: str) -> None:
    line = _emit(ConsoleFormatter(), txn=value, counter=3)
    assert line.count("\n") == 1
    _, _, rest = line.partition(" camera_failed ")
    assert rest.startswith("txn=" + json.dumps(value, ensure_ascii=False) + " counter=3")


def test_console_leaves_plain_ids_readable() -> None:
    line = _emit(ConsoleFormatter(), txn="txn-demo-17.3", device="dev-fadbb0f6")
    assert line.rstrip().endswith("camera_failed txn=txn-demo-17.3 device=dev-fadbb0f6")
