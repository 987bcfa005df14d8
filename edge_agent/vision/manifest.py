"""The model manifest: which files make up the model set, their hashes and thresholds.

The manifest is the identity of the model set: its sha256 goes into every
signed result, so the carrier knows exactly which models produced a decision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_agent.errors import ModelError
from edge_agent.vision.runtime import Model

__all__ = ["DEFAULT_MODEL_DIR", "Manifest"]



def _factory_model_dir() -> Path:
    """The factory set: ``edge_agent/models`` inside an installed wheel (setup.py puts it there), else the
    checkout's ``models/`` beside the sources (editable install, ``make``). Never the working directory."""
    package = Path(__file__).resolve().parents[1]
    shipped = package / "models"
    return shipped if (shipped / "manifest.json").is_file() else package.parent / "models"


DEFAULT_MODEL_DIR = _factory_model_dir()


@dataclass(frozen=True)
class Manifest:
    """A model set's manifest as read, with the sha256 of its exact bytes that signed results carry."""

    directory: Path
    data: dict[str, Any]
    sha256: str

    @classmethod
    def load(cls, directory: Path | None = None) -> Manifest:
        """The manifest in ``directory`` (the factory set by default); ModelError if unreadable or malformed."""
        directory = directory or DEFAULT_MODEL_DIR
        path = directory / "manifest.json"
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model manifest {path}: {exc.strerror}") from exc
        try:
            data = json.loads(raw)
            if not isinstance(data.get("models"), dict):
                raise ValueError("no 'models' table")
        except ValueError as exc:
            raise ModelError(f"model manifest {path} is malformed: {exc}") from exc
        return cls(directory, data, hashlib.sha256(raw).hexdigest())

    @property
    def version(self) -> str:
        """The model set's version as command output names it ("unknown" when the manifest has none)."""
        return str(self.data.get("version", "unknown"))

    def entry(self, key: str) -> dict[str, Any]:
        """A copy of model ``key``'s entry; ModelError if it is absent or lacks a file or hash."""
        try:
            entry = self.data["models"][key]
        except KeyError:
            raise ModelError(f"model {key!r} is not in the manifest") from None
        if "file" not in entry or "sha256" not in entry:
            raise ModelError(f"manifest entry {key!r} lacks a file or a sha256")
        return dict(entry)

    def load_model(self, key: str, *, num_threads: int = 2) -> Model:
        """Model ``key`` loaded only if its bytes match the manifest's sha256."""
        entry = self.entry(key)
        return Model(self.directory / entry["file"], sha256=entry["sha256"], num_threads=num_threads)

    def threshold(self, key: str, reference_format: str = "photo") -> float:
        """The calibrated cosine threshold of embedder ``key`` for references of ``reference_format``.

        ``photo`` is ``cosine``; other formats (``id-chip``) have their own
        key, ``cosine_id_chip``, because a 1 KB chip portrait scores lower
        against a live face than a photo of the same person does.
        """
        field = "cosine" if reference_format == "photo" else "cosine_" + reference_format.replace("-", "_")
        try:
            return float(self.data["thresholds"][key][field])
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"manifest has no calibrated {reference_format} threshold for {key!r}") from None
