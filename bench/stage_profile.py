"""Per-stage profile of the liveness loop: each stage's own CPU time against its models' inference time.

The liveness loop's cost is mostly not inference: on a quiet x86 core BlazeFace infers in about 1 ms
inside a detect stage of several, and the same holds for the mesh, the eyelid model and PAD. To know what
to cut, each stage the session calls is wrapped here and timed on the calling thread (``time.thread_time``,
which holds on a machine shared with other work), and the models' own inference CPU time
(``Model.invoke_cpu_ms``) is subtracted: what remains is the crop, resize, colour conversion, copies and
landmark mapping around the model. Figures are per call and per frame; the load average is kept beside
them, since a loaded machine inflates even CPU time (caches, frequency).

Only the benchmark uses this: it patches the session's collaborators for the duration of a run.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from edge_agent.vision.runtime import Model

__all__ = ["MAX_RECORD_LOAD", "StageProfile", "load_text", "loadavg"]

# Above this 1-minute load average a timing is printed but never recorded as a figure (docs' JSON): on the
# 2-core build box, two busy processes already change CPU time per frame by more than the cuts being measured.
MAX_RECORD_LOAD = 1.5


def loadavg() -> float:
    """The 1-minute load average (what decides whether a timing may be recorded)."""
    return os.getloadavg()[0]


def load_text() -> str:
    """The load averages as printed beside every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f}"


@dataclass
class _Stage:
    calls: int = 0
    cpu_ms: float = 0.0
    infer_ms: float = 0.0
    loop_cpu_ms: float = 0.0  # of cpu_ms, what ran on the loop thread (the rest ran on the worker pool)


@dataclass
class StageProfile:
    """Calls, thread CPU and inference CPU per named stage, over the frames counted with ``frame``."""

    stages: dict[str, _Stage] = field(default_factory=dict)
    frames: int = 0
    frame_cpu_ms: float = 0.0
    _depth: int = 0

    def timed(self, name: str, fn: Callable[..., Any], models: list[Model]) -> Callable[..., Any]:
        """``fn`` timed as stage ``name``; the CPU its ``models`` spend inferring is counted as inference.

        A stage called from inside another (none today) is counted in both: the outer one is what the loop
        pays, so stages are read side by side, not summed.
        """
        stage = self.stages.setdefault(name, _Stage())

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            before = sum(m.invoke_cpu_ms for m in models)
            t0 = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = (time.thread_time() - t0) * 1000
                stage.cpu_ms += spent
                if threading.current_thread() is threading.main_thread():
                    stage.loop_cpu_ms += spent
                stage.infer_ms += sum(m.invoke_cpu_ms for m in models) - before
                stage.calls += 1

        return wrapper

    @contextlib.contextmanager
    def frame(self) -> Iterator[None]:
        """Count one frame of the loop and its thread CPU time."""
        t0 = time.thread_time()
        try:
            yield
        finally:
            self.frame_cpu_ms += (time.thread_time() - t0) * 1000
            self.frames += 1

    @contextlib.contextmanager
    def attached(self, session: Any) -> Iterator[None]:
        """Every stage the session calls, timed for the duration of the block (patched, then restored)."""
        from edge_agent.liveness import session as session_module

        pipe = session.pipeline
        models_of: dict[str, list[Model]] = {
            "detect": [pipe.detector.short.model] + ([pipe.detector.full.model] if pipe.detector.full else []),
            "mesh": [pipe.landmarker.model],
            "eyelid": [session.eyes.model],
            "embed": [pipe.embedder.model],
            "pad": [m for m, _ in session.antispoof.models] if session.antispoof else [],
        }
        targets: list[tuple[Any, str, str, list[Model]]] = [
            (pipe.detector, "detect", "detect", models_of["detect"]),
            (pipe.landmarker, "landmarks", "mesh", models_of["mesh"]),
            (pipe, "align", "align (chip)", []),
            (pipe, "embed_chip", "embed", models_of["embed"]),
            (session.eyes, "contours", "eyelid", models_of["eyelid"]),
            (session_module, "thumbnail", "gate thumbnail", []),
            (session_module, "sharpness", "sharpness", []),
            (session_module, "head_pose", "head pose", []),
        ]
        if getattr(session, "tracker", None) is not None:
            targets.append((session.tracker, "roi_from_mesh", "track (ROI from mesh)", []))
        if session.antispoof is not None:
            targets.append((session.antispoof, "scores", "pad", models_of["pad"]))
        with contextlib.ExitStack() as stack:
            for owner, attr, name, models in targets:
                fn = getattr(owner, attr)
                stack.enter_context(mock.patch.object(owner, attr, self.timed(name, fn, models)))
            yield

    def rows(self) -> list[dict[str, float | int | str]]:
        """Per stage: calls, share of frames, and CPU ms (stage, inference, around) per call and per frame."""
        out: list[dict[str, float | int | str]] = []
        n = max(1, self.frames)
        for name, s in self.stages.items():
            if not s.calls:
                continue
            around = s.cpu_ms - s.infer_ms
            out.append({"stage": name, "calls": s.calls, "share": round(s.calls / n, 2),
                        "call_ms": round(s.cpu_ms / s.calls, 2), "call_infer_ms": round(s.infer_ms / s.calls, 2),
                        "call_around_ms": round(around / s.calls, 2), "frame_ms": round(s.cpu_ms / n, 2),
                        "frame_infer_ms": round(s.infer_ms / n, 2), "frame_around_ms": round(around / n, 2)})
        staged = sum(s.loop_cpu_ms for s in self.stages.values())
        out.append({"stage": "rest of the frame (session logic, challenge)", "calls": self.frames, "share": 1.0,
                    "call_ms": round((self.frame_cpu_ms - staged) / n, 2), "call_infer_ms": 0.0,
                    "call_around_ms": round((self.frame_cpu_ms - staged) / n, 2),
                    "frame_ms": round((self.frame_cpu_ms - staged) / n, 2), "frame_infer_ms": 0.0,
                    "frame_around_ms": round((self.frame_cpu_ms - staged) / n, 2)})
        return out

    def table(self, title: str) -> list[str]:
        """Markdown rows of ``rows``, the load average beside the frame total."""
        lines = [f"{title}: {self.frames} frames, loop thread {self.frame_cpu_ms / max(1, self.frames):.2f} ms "
                 f"CPU per frame ({load_text()})", "",
                 "| stage | share of frames | per call: stage / inference / around (ms) | "
                 "per frame: stage / inference / around (ms) |", "|---|---|---|---|"]
        for r in self.rows():
            lines.append(f"| {r['stage']} | {float(r['share']):.0%} | {r['call_ms']:.2f} / {r['call_infer_ms']:.2f} / "
                         f"{r['call_around_ms']:.2f} | {r['frame_ms']:.2f} / {r['frame_infer_ms']:.2f} / "
                         f"{r['frame_around_ms']:.2f} |")
        return lines
