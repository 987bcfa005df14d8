"""Default locations on the device and the ``EDGE_AGENT_*`` variables that move them.

Read at call time, not import time, so a test or a technician's shell can point
one command elsewhere without reloading anything.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_state_dir", "default_trusted_dir"]


def default_state_dir() -> Path:
    """The device state folder (identity, keys, outbox, installed model sets): ``EDGE_AGENT_STATE``."""
    return Path(os.environ.get("EDGE_AGENT_STATE", "/var/lib/edge-agent"))


def default_trusted_dir() -> Path:
    """The folder of release public keys a model set must be signed by: ``EDGE_AGENT_RELEASE_KEYS``."""
    return Path(os.environ.get("EDGE_AGENT_RELEASE_KEYS", "/etc/edge-agent/release-keys"))
