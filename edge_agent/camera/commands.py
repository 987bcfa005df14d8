"""``edge-agent camera pair|show``: the technician's side of the camera pairing (camera/identity.py)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge_agent.camera.identity import PAIRING_FILE, load_paired, save_paired
from edge_agent.camera.source import PiCameraSource, V4L2Source, open_source

__all__ = ["add_parser", "pair_if_unpaired"]


def _state_and_source(args: argparse.Namespace) -> tuple[Path, str]:
    from edge_agent.config import load_config

    config = load_config(args.config)
    state = args.state or Path(config.state_dir)
    return state, config.camera.source


def _present(spec: str) -> Any:
    """The configured camera opened without a pairing record: virtual devices are still refused."""
    source = open_source(spec)
    if not isinstance(source, V4L2Source | PiCameraSource):
        from edge_agent.camera.source import CameraError

        raise CameraError(f"camera.source {spec!r} is a file, not a camera: nothing to pair")
    try:
        next(iter(source.frames()))
    finally:
        source.close()
    return source.identity


def _pair(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    state, spec = _state_and_source(args)
    previous = load_paired(state / PAIRING_FILE)
    identity = _present(spec)
    save_paired(state / PAIRING_FILE, identity)
    return 0, {"paired": asdict(identity), "previous": asdict(previous) if previous else None,
               "record": str(state / PAIRING_FILE)}


def pair_if_unpaired(state: Path, spec: str) -> dict[str, Any]:
    """Provisioning's step: pair the configured camera when none is paired yet; never replace a pairing.

    A file source has nothing to pair; a camera that cannot be opened (missing, in use) or is refused
    (virtual, loopback) is reported and left unpaired, so the daemon and ``selftest`` refuse it with
    ``camera_unpaired`` until a technician runs ``edge-agent camera pair``.
    """
    from edge_agent.errors import EdgeAgentError

    record = state / PAIRING_FILE
    try:
        paired = load_paired(record)  # a damaged record is reported, never overwritten here
        if paired is not None:
            return {"result": "already_paired", "paired": asdict(paired)}
        identity = _present(spec)
    except EdgeAgentError as exc:
        return {"result": "not_paired", "code": exc.code, "error": str(exc)}
    save_paired(record, identity)
    return {"result": "paired", "paired": asdict(identity), "record": str(record)}


def _show(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    state, _spec = _state_and_source(args)
    paired = load_paired(state / PAIRING_FILE)
    return 0, {"paired": asdict(paired) if paired else None, "record": str(state / PAIRING_FILE)}


def add_parser(sub: argparse._SubParsersAction) -> None:
    import json

    c = sub.add_parser("camera", help="pair the terminal's camera (injection defence) or show the pairing")
    csub = c.add_subparsers(dest="camera_command", required=True)
    for name, run, text in (("pair", _pair, "record the connected camera's identity; other cameras are refused"),
                            ("show", _show, "print the paired camera's identity")):
        p = csub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, default=None, help="TOML file (default /etc/edge-agent/config.toml)")
        p.add_argument("--state", type=Path, default=None, help="state folder (default: the config's state_dir)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(run=run, show=lambda out: print(json.dumps(out, indent=2)))
