"""The clerk's health panel from the agent's Health answer: one line each for models, camera, keys, outbox
and the carrier, each "ok" or the problems that belong to it."""

from __future__ import annotations

from typing import Any

from edge_agent._proto import agent_pb2 as apb

__all__ = ["health_view", "problem_area"]

# problem codes (edge_agent errors' ``code``, first word of each Health problem) by the part they concern
_AREAS = {
    "models": ("model_", "bundle_", "runtime", "manifest"),
    "keys": ("not_enrolled", "identity", "key", "signing", "enrol", "credential"),
    "outbox": ("outbox", "sender"),
    "camera": ("camera",),
}


def problem_area(problem: str) -> str:
    """The panel line a Health problem belongs to, from its code's prefix; "other" when none fits."""
    code = problem.split(":", 1)[0].strip()
    for area, prefixes in _AREAS.items():
        if code.startswith(prefixes):
            return area
    return "other"


def health_view(h: apb.HealthResponse) -> dict[str, Any]:
    """The Health answer as the clerk's panel shows it: the problems grouped by area, plus the status fields."""
    areas: dict[str, list[str]] = {"models": [], "camera": [], "keys": [], "outbox": [], "other": []}
    for p in h.problems:
        areas[problem_area(p)].append(p)
    if h.camera_error:
        areas["camera"].append(f"camera_error: {h.camera_error}")
    return {
        "reachable": True,
        "healthy": h.healthy and not h.camera_error,
        "device_id": h.device_id,
        "model_set": h.model_set,
        "camera_source": h.camera_source,
        "outbox_backlog": h.outbox_backlog,
        "session_active": h.session_active,
        "last_carrier_ack_ms": h.last_carrier_ack_unix_ms or None,
        "areas": areas,
    }
