"""``edge-agent models keygen|pack|install|verify``: publishing and installing signed model sets."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from edge_agent.display import print_fields
from edge_agent.errors import EXIT_OK, BadInput
from edge_agent.modelset.verify import check_factory_set, verify_model_set
from edge_agent.paths import default_state_dir, default_trusted_dir

__all__ = ["add_parser"]


def _state(args: argparse.Namespace) -> Path:
    return Path(args.state) if args.state else default_state_dir()


def _keygen(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from edge_agent.atomic import atomic_write
    from edge_agent.modelset.bundle import key_id

    out: Path = args.out
    if out.exists():
        raise BadInput(f"{out} exists; refusing to overwrite a release key")
    out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    atomic_write(out, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()), mode=0o600)
    pub = out.with_suffix(".pub")
    atomic_write(pub, key.public_key().public_bytes(serialization.Encoding.PEM,
                                                    serialization.PublicFormat.SubjectPublicKeyInfo))
    return EXIT_OK, {"private_key": str(out), "public_key": str(pub), "key_id": key_id(key.public_key()),
               "next": f"copy {pub.name} into each device's release-keys folder (/etc/edge-agent/release-keys)"}


def _pack(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.atomic import atomic_write
    from edge_agent.modelset.bundle import load_private_key, pack
    from edge_agent.vision.manifest import DEFAULT_MODEL_DIR

    models = args.models or DEFAULT_MODEL_DIR
    data = pack(models, load_private_key(args.key))
    atomic_write(args.out, data)
    return EXIT_OK, {"bundle": str(args.out), "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _install(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.modelset.bundle import load_trusted_keys, read_bundle, read_bundle_file
    from edge_agent.modelset.install import ModelStore

    bundle = read_bundle(read_bundle_file(args.bundle), load_trusted_keys(args.trusted))
    store = ModelStore(_state(args) / "models")
    in_use = store.current_version()
    if in_use is None:
        try:
            in_use = check_factory_set()["version"]
        except Exception:  # no usable factory set: any signed set is an improvement
            in_use = None
    out = store.install(bundle, in_use)
    if out["changed"]:
        out["next"] = "restart the agent to load it: systemctl restart edge-agent"
    return EXIT_OK, out


def _verify(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    return EXIT_OK, verify_model_set("", _state(args), args.trusted)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``edge-agent models keygen|pack|install|verify``."""
    p = sub.add_parser("models", help="signed model sets: keygen, pack (release side), install, verify (device)")
    cmds = p.add_subparsers(dest="models_command", required=True)

    k = cmds.add_parser("keygen", help="create a release signing key pair (keep the private key offline)")
    k.add_argument("--out", type=Path, required=True, help="private key file to create (PEM); .pub beside it")
    k.add_argument("--json", action="store_true")
    k.set_defaults(run=_keygen, show=print_fields)

    pk = cmds.add_parser("pack", help="sign a model folder (manifest + models) into a bundle")
    pk.add_argument("--key", type=Path, required=True, help="release private key (PEM)")
    pk.add_argument("--models", type=Path, default=None, help="model folder (default: this checkout's models/)")
    pk.add_argument("--out", type=Path, required=True)
    pk.add_argument("--json", action="store_true")
    pk.set_defaults(run=_pack, show=print_fields)

    for name, fn, text in (("install", _install, "verify a bundle and install it atomically (no downgrades)"),
                           ("verify", _verify, "re-check the installed model set's signature and hashes")):
        c = cmds.add_parser(name, help=text)
        if name == "install":
            c.add_argument("bundle", type=Path)
        c.add_argument("--state", type=Path, default=None, help="state folder (EDGE_AGENT_STATE)")
        c.add_argument("--trusted", type=Path, default=default_trusted_dir(),
                       help="folder of trusted release public keys, *.pub (EDGE_AGENT_RELEASE_KEYS)")
        c.add_argument("--json", action="store_true")
        c.set_defaults(run=fn, show=print_fields)
