"""The passive presentation-attack decision alone, on a still image or a recorded clip.

The same witness and the same rule as a live session (``session.py``): the
MiniFASNet pair's real scores on frames sampled every ``pad_every_ms`` of
the clip, fused over those frames (``fusion.py``) against ``pad_spoof_below``,
and the recapture device's frame on the same frames (``recapture.py``): an
attack when either witness says so (``fusion.DECISION_TEXT``). A
technician can run it on a camera's recording (``edge-agent pad``); the
benchmark runs it over bona fide clips and made-up attacks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_agent.camera.files import IMAGE_SUFFIXES, iter_frames
from edge_agent.errors import BadInput, NoFace
from edge_agent.liveness.fusion import frame_score, session_pad_score
from edge_agent.liveness.pad_eval import BONA_FIDE
from edge_agent.liveness.recapture import DeviceFrameWitness
from edge_agent.liveness.session import SessionTuning
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.detector import FaceDetector
from edge_agent.vision.image import read_image

__all__ = ["VIDEO_SUFFIXES", "PadFrame", "PadReport", "open_media", "passive_pad", "presentations"]

# What a pilot's recordings come as; a folder of frames is a presentation too.
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


@dataclass(frozen=True)
class PadFrame:
    """One frame the decision used: where it was in the clip, each witness's score and the fused score."""

    index: int
    t_ms: int
    scores: dict[str, float]  # per witness model: probability of a real face
    score: float  # the fused score of this frame (fusion.frame_score)
    device: float = 0.0  # the recapture device's frame: weakest side's edge support (recapture.py)


@dataclass
class PadReport:
    """The passive PAD decision on a clip with the frames behind it, so a technician can see why."""

    score: float  # the session's score over these frames (fusion.session_pad_score)
    threshold: float
    frames_total: int
    frames: list[PadFrame] = field(default_factory=list)
    device: DeviceFrameWitness = field(default_factory=DeviceFrameWitness)

    @property
    def model_ok(self) -> bool:
        """Whether MiniFASNet's fused score reaches its threshold."""
        return self.score >= self.threshold

    @property
    def bona_fide(self) -> bool:
        """Neither witness says attack: the same rule a live session applies (fusion.DECISION_TEXT)."""
        return self.model_ok and not self.device.attack

    @property
    def decision(self) -> str:
        """``bona_fide`` or ``attack``, as ``pad`` prints it and ``pad-eval`` counts it."""
        return "bona_fide" if self.bona_fide else "attack"

    def as_dict(self) -> dict[str, object]:
        """The report as ``edge-agent pad`` prints it: decision, scores rounded, each witness's median."""
        witnesses = sorted({k for f in self.frames for k in f.scores})
        return {
            "decision": self.decision,
            "score": round(self.score, 4),
            "threshold": self.threshold,
            "margin": round(self.score - self.threshold, 4),
            "witnesses": {w: round(float(np.median([f.scores[w] for f in self.frames])), 4) for w in witnesses},
            "refused_by": [name for name, attack in (("minifasnet", not self.model_ok),
                                                     ("device_frame", self.device.attack)) if attack],
            "device_frame": {"frames_seen": self.device.frames_seen, "min_frames": self.device.min_frames,
                             "threshold": self.device.threshold,
                             "max": round(max(self.device.scores, default=0.0), 4),
                             "attack": self.device.attack},
            "frames_total": self.frames_total,
            "frames_used": [{"index": f.index, "t_ms": f.t_ms, "score": round(f.score, 4),
                             **{w: round(s, 4) for w, s in f.scores.items()}, "device_frame": round(f.device, 4)}
                            for f in self.frames],
        }


def passive_pad(detector: FaceDetector, antispoof: AntiSpoof, frames: Iterable[tuple[np.ndarray, int]],
                config: SessionTuning | None = None, *, competitor_ratio: float = 0.5,
                max_frames: int = 200) -> PadReport:
    """PAD on frames with exactly one face, one every ``pad_every_ms`` (at most ``max_frames``); NoFace if none.

    Reading stops once ``max_frames`` are used or after the session's own frame limit
    (``SessionTuning.max_frames``): an hour-long recording, or one where no face ever shows, costs no more
    than a session would. ``frames_total`` counts the frames read.
    """
    cfg = config or SessionTuning()
    used: list[PadFrame] = []
    device = DeviceFrameWitness()
    last: int | None = None
    clock: int | None = None
    total = 0
    for index, (rgb, t_ms) in enumerate(frames):
        if len(used) >= max_frames or total >= cfg.max_frames:
            break
        total += 1
        clock = int(t_ms) if clock is None else max(clock, int(t_ms))  # as the session: never backwards
        if last is not None and clock - last < cfg.pad_every_ms:
            continue
        faces = detector.detect(rgb)
        faces = [f for f in faces if faces and f.width >= competitor_ratio * faces[0].width]
        if len(faces) != 1:
            continue
        last = clock
        scores = antispoof.scores(rgb, faces[0])
        used.append(PadFrame(index, clock, scores, frame_score(scores), device.add(rgb, faces[0].box)))
    if not used:
        raise NoFace(f"no frame with exactly one face among {total}")
    return PadReport(session_pad_score([f.scores for f in used]), cfg.pad_spoof_below, total, used, device)


def open_media(path: Path, fps: float = 15.0) -> Iterator[tuple[np.ndarray, int]]:
    """Frames of a still image (one frame), a video file or a folder of frames."""
    if path.suffix.lower() in IMAGE_SUFFIXES and not path.is_dir():
        yield read_image(path), 0
        return
    yield from iter_frames(path, fps)


def presentations(root: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """The labelled presentations under ``root``, and the entries ignored (neither media nor a frame folder).

    Layout: ``root/bona_fide/*`` and ``root/attack/<species>/*``; each entry
    (an image, a video, or a folder of frames) is one presentation. The species
    is the folder's name, so a pilot sorts its recordings once and reads APCER
    per species. Hidden entries are skipped.
    """
    groups: list[tuple[Path, str]] = []
    if (root / BONA_FIDE).is_dir():
        groups.append((root / BONA_FIDE, BONA_FIDE))
    attack = root / "attack"
    if attack.is_dir():
        groups += [(d, d.name) for d in sorted(attack.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    if not groups:
        raise BadInput(f"{root} holds neither bona_fide/ nor attack/<species>/ folders")
    found: list[tuple[Path, str]] = []
    ignored: list[Path] = []
    for folder, truth in groups:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_dir() or entry.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                found.append((entry, truth))
            else:
                ignored.append(entry)
    return found, ignored
