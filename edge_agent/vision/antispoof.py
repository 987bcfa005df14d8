"""Passive presentation-attack detection: MiniFASNet (Silent-Face, Apache-2.0), float16-weight TFLite.

Two models look at the face at two crop scales (2.7x and 4x the face box,
as their training cropped it, resized to 80x80 BGR), so they see the face
and its surroundings: screen bezels, paper edges, moire. Their "real"
probabilities are averaged. The converted models ship in the default model
set (models/, converted by tools/minifasnet_to_tflite.py); a model set
without them has no passive witness, and a liveness session then cannot be
LIVE (``pad_unavailable``).
"""

from __future__ import annotations

import cv2
import numpy as np

from edge_agent.errors import ModelError
from edge_agent.vision.detector import Detection
from edge_agent.vision.manifest import Manifest
from edge_agent.vision.runtime import Model

__all__ = ["ANTISPOOF_MODELS", "AntiSpoof", "crop_box"]

ANTISPOOF_MODELS = ("antispoof_minifasnet_v2", "antispoof_minifasnet_v1se")
WITNESS_NAMES = {"antispoof_minifasnet_v2": "minifasnet_v2_2.7", "antispoof_minifasnet_v1se": "minifasnet_v1se_4.0"}
REAL = 1  # class index of a real face in the models' 3-way softmax


def crop_box(shape: tuple[int, ...], box: np.ndarray, scale: float) -> tuple[int, int, int, int]:
    """The square-ish region ``scale`` times the face box, shifted (not cut) to stay inside the image.

    Follows the crop the models were trained with: the scale shrinks when the
    image cannot hold it, and the region slides back inside the borders.
    """
    src_h, src_w = shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = max(1.0, x1 - x0), max(1.0, y1 - y0)
    scale = min((src_h - 1) / bh, (src_w - 1) / bw, scale)
    nw, nh = bw * scale, bh * scale
    cx, cy = x0 + bw / 2, y0 + bh / 2
    left, top, right, bottom = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
    if left < 0:
        right, left = right - left, 0.0
    if top < 0:
        bottom, top = bottom - top, 0.0
    if right > src_w - 1:
        left, right = left - (right - src_w + 1), float(src_w - 1)
    if bottom > src_h - 1:
        top, bottom = top - (bottom - src_h + 1), float(src_h - 1)
    return int(left), int(top), int(right), int(bottom)


class AntiSpoof:
    """The passive PAD witnesses: each model with the crop scale it was trained on, and its name in reports."""

    def __init__(self, models: list[tuple[Model, float]], names: list[str] | None = None) -> None:
        self.models = models
        self.names = names or [f"model_{i}" for i in range(len(models))]

    @classmethod
    def from_manifest(cls, manifest: Manifest, *, num_threads: int = 1) -> AntiSpoof | None:
        """The loaded models, or None when their files are not installed (the slot is optional).

        One thread by default: the two 80x80 networks are too small to share out, and
        in the running liveness loop a second thread made both calls 8.0 ms instead of
        2.8 ms (bench/run.py, 2 cores: the interpreters' thread pools compete).
        """
        loaded = []
        names = []
        for key in ANTISPOOF_MODELS:
            try:
                entry = manifest.entry(key)
            except Exception:
                return None
            if not (manifest.directory / entry["file"]).exists():
                return None
            loaded.append((manifest.load_model(key, num_threads=num_threads), float(entry["crop_scale"])))
            names.append(WITNESS_NAMES[key])
        return cls(loaded, names)

    @classmethod
    def require(cls, manifest: Manifest, *, num_threads: int = 1) -> AntiSpoof:
        """The loaded models; a model set without them cannot run liveness (fail closed, ModelError)."""
        loaded = cls.from_manifest(manifest, num_threads=num_threads)
        if loaded is None:
            raise ModelError(f"the passive PAD models ({', '.join(ANTISPOOF_MODELS)}) are missing from "
                             f"{manifest.directory}: liveness cannot run without them")
        return loaded

    def real_score(self, rgb: np.ndarray, det: Detection) -> float:
        """Mean probability, over the models, that the face is a real one in front of the camera."""
        return float(np.mean(list(self.scores(rgb, det).values())))

    def scores(self, rgb: np.ndarray, det: Detection) -> dict[str, float]:
        """Each model's probability that the face is a real one in front of the camera."""
        probs = {}
        for name, (model, scale) in zip(self.names, self.models, strict=True):
            size = model.inputs[0].shape[1]
            left, top, right, bottom = crop_box(rgb.shape, det.box, scale)
            # Resize the RGB view first, then flip the small result to the BGR the model was trained on:
            # flipping the whole crop first costs a full-frame copy (about 4 ms on a 640 px frame).
            crop = cv2.resize(rgb[top:bottom + 1, left:right + 1], (size, size))[:, :, ::-1]
            (p,) = model.run(crop[None].astype(np.float32))
            probs[name] = float(p.reshape(-1)[REAL])
        return probs
