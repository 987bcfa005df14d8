"""Default locations on the device and the ``EDGE_AGENT_*`` variables that move them.

Read at call time, not import time, so a test or a technician's shell can point
one command elsewhere without reloading anything.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_state_dir", "default_trusted_dir"]


def default_state_dir(config: Path | None = None) -> Path:
    """The device state folder (identity, keys, outbox, installed model sets): where the daemon keeps it.

    ``EDGE_AGENT_STATE`` if set, else the configuration's ``state_dir`` (``config`` or
    ``EDGE_AGENT_CONFIG`` or /etc/edge-agent/config.toml; /var/lib/edge-agent by default). A technician
    command that looked elsewhere than the daemon would provision an identity the daemon never sees.
    """
    from edge_agent.config import load_config

    return Path(load_config(config).state_dir)


def default_trusted_dir() -> Path:
    """The folder of release public keys a model set must be signed by: ``EDGE_AGENT_RELEASE_KEYS``."""
    return Path(os.environ.get("EDGE_AGENT_RELEASE_KEYS", "/etc/edge-agent/release-keys"))
