"""What the customer screen is told about a session: catalogue keys and step numbers, nothing else.

Pure functions from the agent's session events. The outcome is only
verified / not verified: the agent's reason codes and liveness verdict
stay on the clerk's panel (pass/fail-only rule for the customer).
"""

from __future__ import annotations

from typing import Any

from edge_agent._proto import agent_pb2 as apb
from edge_agent.kiosk.catalog import action_key, hint_key

__all__ = ["DEFAULT_STEPS", "customer_event", "interrupted", "outcome", "outcome_key"]

DEFAULT_STEPS = 3  # an agent from before Prompt.steps existed asks for three


def outcome(decision: str) -> str:
    """Fail closed: anything but an explicit pass is not verified."""
    return "verified" if decision == "pass" else "not_verified"


def outcome_key(decision: str, liveness: str) -> str:
    """The outcome's text: a session that ended for want of evidence (INCONCLUSIVE: a lost face, too many hidden
    frames, a prompt not followed) asks the customer to try again; every other failure only says not verified.
    Neither names a reason (those stay on the clerk's panel)."""
    result = outcome(decision)
    if result == "not_verified" and liveness == "LIVENESS_INCONCLUSIVE":
        return "result.try_again"
    return f"result.{result}"


def interrupted() -> dict[str, Any]:
    """The session ended without a decision (cancelled, camera lost, agent gone)."""
    return {"type": "result", "outcome": "interrupted", "key": "result.interrupted"}


def customer_event(ev: apb.SessionEvent) -> dict[str, Any] | None:
    """The customer screen's view of one session event, or None for events the customer is not shown."""
    kind = ev.WhichOneof("event")
    if kind == "prompt":
        p = ev.prompt
        return {"type": "prompt", "action": p.action, "key": action_key(p.action), "step": p.step,
                "steps": p.steps or DEFAULT_STEPS, "time_limit_ms": p.time_limit_ms or None}
    if kind == "progress":
        done = ev.progress.fraction >= 0.999
        return {"type": "progress", "fraction": round(ev.progress.fraction, 3),
                "key": "progress.done" if done else "progress.next"}
    if kind == "hint":
        return {"type": "hint", "key": hint_key(ev.hint.message)}
    if kind == "result":
        result = outcome(ev.result.decision)
        return {"type": "result", "outcome": result, "key": outcome_key(ev.result.decision, ev.result.liveness)}
    return None
