"""Device targets: thread counts and input sizes chosen for the hardware the agent runs on.

A Raspberry Pi 4 (4 x Cortex-A72 at 1.5-1.8 GHz) and a Pi 5 (4 x Cortex-A76
at 2.4 GHz) have four cores: the interpreter gets three so the camera,
gRPC and the Python of the session keep one. The camera frame is 640x480 on
both: BlazeFace sees 128x128 or 192x192 whatever the frame, and at a
counter (face 40-80 cm away) 640 px already gives 60-120 px between the
eyes, well above the 28 px floor; larger frames only cost resizing. The Pi
5 runs the liveness loop at 30 frames/s, the Pi 4 at 15 (its per-frame
budget, see the README's performance budget). ``auto`` reads the board name
from the device tree and falls back to ``generic`` anywhere else: there too
the interpreter leaves one core to the rest (threads = cores - 1, 1 to 3). On
this project's 2-core build box a second interpreter thread made the liveness
loop no faster (114 against 98 frames/s) and, once other processes compete for
the cores, XNNPACK's spinning workers made it up to 30x slower (5.4 s against
0.16 s per frame, measured at load 15).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge_agent.errors import UnknownTarget

__all__ = ["TARGETS", "Target", "UnknownTarget", "board_model", "default_precision", "detect_target",
           "resolve_target"]

MODEL_FILE = Path("/proc/device-tree/model")


@dataclass(frozen=True)
class Target:
    """What the agent assumes of its hardware: interpreter threads, camera frame size and frame rate."""

    name: str
    threads: int
    width: int
    height: int
    fps: float

    @property
    def frame_budget_ms(self) -> float:
        """Time the whole per-frame pipeline may take to keep up with the camera."""
        return 1000.0 / self.fps


TARGETS: dict[str, Target] = {
    "pi4": Target("pi4", threads=3, width=640, height=480, fps=15.0),
    "pi5": Target("pi5", threads=3, width=640, height=480, fps=30.0),
}


def _generic() -> Target:
    return Target("generic", threads=max(1, min(3, (os.cpu_count() or 1) - 1)), width=640, height=480, fps=15.0)


def default_precision(target: Target, runtime: str) -> str:
    """The embedder a device gets when ``models.precision`` is ``auto``: int8-dynamic on a Pi under ai-edge-litert.

    SFace's dynamic-range build (int8 weights, XNNPACK's qd8 kernels) gives
    the float16 file's vectors (cosine 0.999 on lfw-dev) and ai-edge-litert's
    XNNPACK takes all 64 of its nodes in one partition; published ARM figures
    put XNNPACK's 8-bit kernels at well under float's time
    (docs/face-matching.md, "int8 on the Pi"). tflite-runtime 2.14 (Pis on
    bookworm) cannot load it and its XNNPACK has no int8 path at all, and on
    x86 the int8 kernels are no faster than float: both keep float16.
    """
    if target.name in ("pi4", "pi5") and runtime == "ai-edge-litert":
        return "int8-dynamic"
    return "float"


def board_model(model_file: Path = MODEL_FILE) -> str | None:
    """The board's own name from the device tree ("Raspberry Pi 4 Model B Rev 1.5"), None off a device tree."""
    try:
        return model_file.read_bytes().decode("ascii", "replace").strip("\x00 \n") or None
    except OSError:
        return None


def detect_target(model_file: Path = MODEL_FILE) -> Target:
    """The target of the board the agent runs on (Pi 4, CM4 or Pi 5); ``generic`` on any other machine."""
    board = board_model(model_file)
    if board is None:
        return _generic()
    if "Raspberry Pi 5" in board:
        return TARGETS["pi5"]
    if "Raspberry Pi 4" in board or "Raspberry Pi Compute Module 4" in board:
        return TARGETS["pi4"]
    return _generic()


def resolve_target(name: str, model_file: Path = MODEL_FILE) -> Target:
    """``auto`` | ``pi4`` | ``pi5`` | ``generic``."""
    if name == "auto":
        return detect_target(model_file)
    if name == "generic":
        return _generic()
    if name not in TARGETS:
        raise UnknownTarget(f"unknown target {name!r}: use auto, pi4, pi5 or generic")
    return TARGETS[name]
