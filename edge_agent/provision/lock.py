"""One agent per state folder: the daemon holds STATE/agent.lock while it runs.

Commands that replace or erase the identity (rotate-keys, decommission)
take the same lock, so they never pull keys from under a running agent: the
technician stops the service first, and is told so.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_agent.errors import AgentRunning

__all__ = ["AgentRunning", "agent_lock"]


@contextmanager
def agent_lock(state: Path, holder: str = "this command") -> Iterator[None]:
    """Hold the state folder's lock for ``what``, or raise ``AgentRunning`` naming the holder."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state / "agent.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AgentRunning(f"the agent (or another technician command) is using {state}; "
                               f"stop it first (systemctl stop edge-agent) and run {holder} again") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock
