"""A rendered customer for tests that need a camera: one face animated through a seed's challenge."""

from __future__ import annotations

import random
from pathlib import Path

import cv2

from edge_agent.liveness.challenge import random_actions
from edge_agent.simulation.scenes import Face3D, live_scene
from edge_agent.vision.image import read_image
from edge_agent.vision.pipeline import FacePipeline


def write_customer_clip(pipeline: FacePipeline, photo: Path, seed: int, folder: Path) -> Path:
    """``photo``'s face animated through the challenge ``seed`` draws, written to ``folder`` as PNG frames (a file
    camera reads them in order)."""
    rgb = read_image(photo)
    scene = live_scene(Face3D(rgb, pipeline.analyse(rgb).mesh.points),
                       [a.value for a in random_actions(random.Random(seed))])
    for i, frame in enumerate(scene.frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return folder
