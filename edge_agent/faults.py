"""Named crash points for power-loss tests.

``crash_point("outbox.put.before_commit")`` kills the process with SIGKILL
when ``EDGE_AGENT_CRASH_AT`` names that point (optionally ``name@N`` for its
N-th passage). Unset, it costs one dictionary lookup. The kill tests walk
every point to prove the outbox and the sender survive a kill anywhere.
"""

from __future__ import annotations

import os
import signal

__all__ = ["crash_point"]

_seen: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Kill the process here when ``EDGE_AGENT_CRASH_AT`` names this point (crash tests only)."""
    target = os.environ.get("EDGE_AGENT_CRASH_AT")
    if not target:
        return
    point, _, nth = target.partition("@")
    if point != name:
        return
    _seen[name] = _seen.get(name, 0) + 1
    if _seen[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
