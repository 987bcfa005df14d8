"""``edge-agent camera pair|show``: the technician's side of the camera pairing (camera/identity.py)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge_agent.camera.identity import PAIRING_FILE, load_paired, save_paired
from edge_agent.camera.pairing import present_identity
from edge_agent.errors import EXIT_OK

__all__ = ["add_parser"]


def _state_and_source(args: argparse.Namespace) -> tuple[Path, str]:
    from edge_agent.config import load_config

    config = load_config(args.config)
    state = args.state or Path(config.state_dir)
    return state, config.camera.source


def _pair(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    state, spec = _state_and_source(args)
    previous = load_paired(state / PAIRING_FILE)
    identity = present_identity(spec)
    save_paired(state / PAIRING_FILE, identity)
    return EXIT_OK, {"paired": asdict(identity), "previous": asdict(previous) if previous else None,
               "record": str(state / PAIRING_FILE)}


def _show(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    state, _spec = _state_and_source(args)
    paired = load_paired(state / PAIRING_FILE)
    return EXIT_OK, {"paired": asdict(paired) if paired else None, "record": str(state / PAIRING_FILE)}


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``edge-agent camera pair|show``."""
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
