"""Installed model sets under STATE/models, switched atomically.

Layout::

    STATE/models/releases/<version>/   manifest.json, the models, bundle.header, bundle.sig
    STATE/models/current -> releases/<version>     (a symlink, replaced with one rename)

A set is written into a hidden temporary folder, every file and folder
fsynced, renamed into ``releases/``, and only then does ``current`` move to
it (new symlink + rename + fsync). A power cut at any point leaves
``current`` on the previous complete set (or on no installed set, in which
case the factory set shipped with the software is used); leftovers are
cleaned up by the next install. The previous release is kept for roll-back.
Downgrades are refused: a bundle must be newer than the set in use.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge_agent.atomic import fsync_dir
from edge_agent.errors import BadInput, DowngradeRefused, InstalledSetBroken
from edge_agent.faults import crash_point
from edge_agent.modelset.bundle import (
    MAGIC,
    Bundle,
    BundleInvalid,
    _parse_header,
    check_files,
    parse_version,
    verify_signature,
)

__all__ = ["DowngradeRefused", "InstalledSetBroken", "ModelStore", "model_directory"]


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, 0o644)


@dataclass
class ModelStore:
    """The installed model sets of one device, each complete before ``current`` points at it."""

    root: Path  # STATE/models

    @property
    def current(self) -> Path:
        """The symlink to the set in use; moving it is the one step that switches sets."""
        return self.root / "current"

    @property
    def releases(self) -> Path:
        """The folder of complete installed sets, one per version, the previous kept for roll-back."""
        return self.root / "releases"

    def current_dir(self) -> Path | None:
        """The set in use, or None when none is installed or the link dangles (callers then use the factory set)."""
        return self.current.resolve() if self.current.is_symlink() and self.current.exists() else None

    def current_version(self) -> str | None:
        """The version of the set in use, or None when none is installed; InstalledSetBroken if unreadable."""
        d = self.current_dir()
        if d is None:
            return None
        try:
            return str(json.loads((d / "manifest.json").read_bytes())["version"])
        except (OSError, ValueError, KeyError) as exc:
            raise InstalledSetBroken(f"installed model set {d} has no readable manifest: {exc}") from None

    def install(self, bundle: Bundle, in_use_version: str | None) -> dict[str, Any]:
        """Install ``bundle`` unless the set in use is as new or newer; returns what happened."""
        self.releases.mkdir(parents=True, exist_ok=True, mode=0o755)
        self._clean_temporaries()  # what an interrupted install left behind
        if in_use_version is not None:
            new, old = parse_version(bundle.version), parse_version(in_use_version)
            if new == old:
                return {"result": "already_installed", "changed": False, "version": bundle.version}
            if new < old:
                raise DowngradeRefused(f"bundle version {bundle.version} is older than the set in use "
                                       f"({in_use_version}); downgrades are refused")
        crash_point("models.install.start")
        tmp = self.releases / f".tmp-{bundle.version}-{secrets.token_hex(4)}"
        tmp.mkdir(mode=0o755)
        for i, (name, blob) in enumerate(bundle.files.items()):
            _write(tmp / name, blob)
            if i == 1:
                crash_point("models.install.mid_copy")
        _write(tmp / "bundle.header", bundle.header)
        _write(tmp / "bundle.sig", bundle.signature)
        fsync_dir(tmp)
        crash_point("models.install.before_rename")
        final = self.releases / bundle.version
        if final.exists():  # an earlier install of this version that never became current
            shutil.rmtree(final)
        os.rename(tmp, final)
        fsync_dir(self.releases)
        crash_point("models.install.before_switch")
        previous = self.current_dir()
        link = self.root / f".current-{secrets.token_hex(4)}"
        os.symlink(Path("releases") / bundle.version, link)
        os.replace(link, self.current)
        fsync_dir(self.root)
        crash_point("models.install.after_switch")
        self._prune(keep={final.name, previous.name if previous else ""})
        return {"result": "installed", "changed": True, "version": bundle.version,
                "previous": previous.name if previous else None, "signed_by": bundle.key_id,
                "path": str(final)}

    def _clean_temporaries(self) -> None:
        for p in list(self.releases.glob(".tmp-*")):
            shutil.rmtree(p, ignore_errors=True)
        for p in list(self.root.glob(".current-*")):
            p.unlink(missing_ok=True)

    def _prune(self, keep: set[str]) -> None:
        for p in self.releases.iterdir():
            if p.is_dir() and p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)

    def verify(self, trusted: list[Ed25519PublicKey]) -> dict[str, Any]:
        """Re-check the installed set: the release signature over header + files, and every hash."""
        d = self.current_dir()
        if d is None:
            raise InstalledSetBroken(f"no installed model set under {self.root}")
        try:
            header = (d / "bundle.header").read_bytes()
            signature = (d / "bundle.sig").read_bytes()
            version, entries = _parse_header(header)
            files = {e["name"]: (d / e["name"]).read_bytes() for e in entries}
        except OSError as exc:
            raise InstalledSetBroken(f"installed model set {d} is incomplete: {exc}") from None
        except BundleInvalid as exc:
            raise InstalledSetBroken(f"installed model set {d}: {exc}") from None
        prefix = MAGIC + struct.pack(">I", len(header)) + header + b"".join(files.values())
        try:
            kid = verify_signature(prefix, signature, trusted)
            check_files(version, entries, files)
        except BadInput as exc:
            raise InstalledSetBroken(f"installed model set {version} fails verification: {exc}") from None
        return {"version": version, "path": str(d), "signed_by": kid, "files": len(entries),
                "manifest_sha256": hashlib.sha256(files["manifest.json"]).hexdigest()}


def model_directory(configured: str, state_dir: Path) -> Path | None:
    """The model folder to load: the configured one, else the installed set, else None (the factory set)."""
    if configured:
        return Path(configured)
    return ModelStore(state_dir / "models").current_dir()
