"""Pairing the store's camera: the device accepts frames only from the camera a technician paired.

Library code shared by ``edge-agent camera pair`` and provisioning (which
pairs the configured camera when none is paired yet); the record itself is
read and written by ``camera/identity.py``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge_agent.camera.identity import PAIRING_FILE, CameraIdentity, load_paired, save_paired
from edge_agent.camera.source import PiCameraSource, V4L2Source, open_source
from edge_agent.errors import CameraError, EdgeAgentError

__all__ = ["is_camera_spec", "pair_if_unpaired", "present_identity"]


def is_camera_spec(spec: str) -> bool:
    """True for a camera source (Pi camera, V4L2 device); False for a clip or a folder of images."""
    return spec == "picamera" or spec.startswith(("v4l2:", "/dev/video"))


def present_identity(spec: str) -> CameraIdentity:
    """The identity of the configured camera, opened without a pairing record; virtual devices are still refused."""
    source = open_source(spec)
    if not isinstance(source, V4L2Source | PiCameraSource):
        source.close()
        raise CameraError(f"camera.source {spec!r} is a file, not a camera: nothing to pair")
    try:
        next(iter(source.frames()))
    finally:
        source.close()
    if source.identity is None:
        raise CameraError(f"camera {spec!r} gave no identity to pair")
    return source.identity


def pair_if_unpaired(state: Path, spec: str) -> dict[str, Any]:
    """Provisioning's step: pair the configured camera when none is paired yet; never replace a pairing.

    A file source has nothing to pair; a camera that cannot be opened (missing, in use) or is refused
    (virtual, loopback) is reported and left unpaired, so the daemon and ``selftest`` refuse it with
    ``camera_unpaired`` until a technician runs ``edge-agent camera pair``.
    """
    if not is_camera_spec(spec):
        return {"result": "no_camera", "source": spec}
    record = state / PAIRING_FILE
    try:
        paired = load_paired(record)  # a damaged record is reported, never overwritten here
        if paired is not None:
            return {"result": "already_paired", "paired": asdict(paired)}
        identity = present_identity(spec)
    except EdgeAgentError as exc:
        return {"result": "not_paired", "code": exc.code, "error": str(exc)}
    save_paired(record, identity)
    return {"result": "paired", "paired": asdict(identity), "record": str(record)}
