"""The kiosk's link to the agent: the terminal's own client (``edge_agent/agent_client.py``), kept open.

Errors are that client's typed errors (agent_unavailable / agent_refused), so the pages show what went
wrong instead of a traceback.
"""

from __future__ import annotations

from edge_agent.agent_client import AgentClient

__all__ = ["AgentLink"]

AgentLink = AgentClient  # the kiosk's name for it: one channel for the kiosk's lifetime
