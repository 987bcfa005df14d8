#!/usr/bin/env python3
"""Cosine between the float16 SFace embedder and other builds of it on real lfw-dev chips, and their time.

Why: a quantised embedder may only replace float where it gives the same
vectors (issue 29 asks cosine >= 0.99 on lfw-dev chips), and the thresholds
are calibrated on float. Chips are made by the product's pipeline (face
mesh, ArcFace template) and kept in memory only. The calibration faces of
``tools/sface_quantise.py`` (200, seed 1234) are skipped, so the figure is on
faces the quantiser never saw. Time is the median of the per-chip calls on
one thread, printed with the load average: on a shared x86 host it is not a
Pi figure. Usage (either venv; the runtime is whichever edge_agent picks)::

    python tools/embedder_parity.py models/sface_2021dec_int8.tflite [more.tflite ...] --images 1000
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edge_agent.errors import EdgeAgentError  # noqa: E402
from edge_agent.vision.embedder import Embedder  # noqa: E402
from edge_agent.vision.image import read_image  # noqa: E402
from edge_agent.vision.pipeline import FacePipeline  # noqa: E402
from edge_agent.vision.runtime import Model, runtime_name  # noqa: E402

FACES = ROOT.parent / "shared" / "data" / "faces" / "lfw-dev"
FLOAT = ROOT / "models" / "sface_2021dec_fp16.tflite"
CALIBRATION = (200, 1234)  # tools/sface_quantise.py: faces, seed


def chips(n: int, seed: int) -> list[np.ndarray]:
    """``n`` aligned chips of lfw-dev images after the quantiser's calibration faces in the same fixed draw."""
    pipe = FacePipeline.from_directory(None, num_threads=1)
    images = sorted(p.relative_to(FACES).as_posix() for p in FACES.glob("*/*.jpg"))
    random.Random(seed).shuffle(images)
    out: list[np.ndarray] = []
    skipped = 0
    for rel in images:
        if len(out) == n:
            break
        rgb = read_image(FACES / rel)
        try:
            chip = pipe.align(rgb, pipe.landmarker.landmarks(rgb, pipe.find_face(rgb)).points)
        except EdgeAgentError:
            continue
        if skipped < CALIBRATION[0]:
            skipped += 1  # one of the quantiser's calibration faces
            continue
        out.append(chip)
    return out


def embed_all(path: Path, faces: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """(unit embeddings, median ms per chip) of one model file on one thread."""
    emb = Embedder(Model(path, num_threads=1))
    vecs, times = [], []
    for chip in faces:
        t = time.perf_counter()
        vecs.append(emb.embed(chip))
        times.append((time.perf_counter() - t) * 1000)
    return np.stack(vecs), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--images", type=int, default=1000)
    args = ap.parse_args()
    faces = chips(args.images, CALIBRATION[1])
    ref, ref_ms = embed_all(FLOAT, faces)
    print(f"{runtime_name()}, {len(faces)} lfw-dev chips (not the calibration faces); "
          f"{FLOAT.name}: {ref_ms:.1f} ms median, load {os.getloadavg()[0]:.1f}")
    for path in args.models:
        vecs, ms = embed_all(path, faces)
        cos = np.sum(vecs * ref, axis=1)
        print(f"{path.name}: cosine to float16 mean {cos.mean():.4f}, 1st percentile {np.percentile(cos, 1):.4f}, "
              f"min {cos.min():.4f}; {ms:.1f} ms median, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
