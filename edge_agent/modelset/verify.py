"""The model set the agent will load, checked: the factory set by hash, an installed signed set by signature.

Library code behind ``edge-agent models verify`` and the selftest's models check.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

__all__ = ["check_factory_set", "verify_model_set"]


def check_factory_set(directory: Path | None = None) -> dict[str, Any]:
    """The model set shipped with the software: every present file against the manifest's sha256."""
    from edge_agent.errors import ModelIntegrityError
    from edge_agent.vision.manifest import Manifest

    manifest = Manifest.load(directory)
    checked = 0
    for key, entry in manifest.data["models"].items():
        path = manifest.directory / entry["file"]
        if not path.exists():
            if entry.get("optional"):
                continue
            raise ModelIntegrityError(f"model {key} ({entry['file']}) is missing from {manifest.directory}")
        if hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            raise ModelIntegrityError(f"model {entry['file']} does not match its manifest sha256")
        checked += 1
    return {"version": manifest.version, "path": str(manifest.directory), "files": checked,
            "manifest_sha256": manifest.sha256}


def verify_model_set(configured: str, state_root: Path, trusted: Path) -> dict[str, Any]:
    """Check the set the agent will load: a configured folder or the factory set by hash, an installed
    signed set by its release signature and hashes."""
    from edge_agent.modelset.bundle import load_trusted_keys
    from edge_agent.modelset.install import ModelStore

    if configured:
        return {"installed": "configured folder", **check_factory_set(Path(configured))}
    store = ModelStore(state_root / "models")
    if store.current_dir() is None:
        return {"installed": "factory set (shipped with the software, not a signed bundle)", **check_factory_set()}
    return {"installed": "signed bundle", **store.verify(load_trusted_keys(trusted))}
