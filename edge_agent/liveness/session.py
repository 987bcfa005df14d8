"""One liveness session over a stream of frames: signals, challenge, parallax, best frame.

Frames and embeddings live only in this object's memory for the length of
the session; the result carries the verdict, reason codes and the one
embedding that will be matched, nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.liveness.challenge import Action, Challenge, ChallengeConfig, Event, State
from edge_agent.liveness.parallax import ParallaxEvidence
from edge_agent.liveness.signals import FrameSignals, head_pose
from edge_agent.matching.matcher import MatchResult, cosine, decide
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.detector import Detection
from edge_agent.vision.eyes import EyeLandmarker, openness
from edge_agent.vision.pipeline import FacePipeline

__all__ = ["LivenessConfig", "LivenessResult", "LivenessSession"]

# Failures that show an attack rather than a customer who was slow or left.
_SPOOF_REASONS = {"wrong_action", "identity_changed"}


@dataclass(frozen=True)
class LivenessConfig:
    challenge: ChallengeConfig = field(default_factory=ChallengeConfig)
    # MiniFASNet (optional) is one witness, not a judge: only a session-mean
    # real score below pad_spoof_below refuses; between that and 0.5 it is noted.
    pad_spoof_below: float = 0.2
    # MiniFASNet costs ~40 ms per model here (int8 PRELU has no fast kernel in
    # tflite-runtime 2.14), so it looks at a handful of frontal frames only.
    pad_frames: int = 6
    min_parallax: float = 0.09  # nose-tip parallax / eye distance: live 0.13-0.18, flat 0.03-0.07 (bench/liveness.py)
    embed_every: int = 4  # frames between identity checks while frontal


@dataclass
class LivenessResult:
    verdict: int  # carrier_pb2.LivenessVerdict
    reasons: list[str]
    parallax: float | None
    frames: int
    best_sharpness: float
    embedding: np.ndarray | None = field(repr=False)
    ms_per_frame: float

    @property
    def live(self) -> bool:
        return self.verdict == pb.LIVENESS_LIVE

    def match(self, reference: np.ndarray, threshold: float) -> MatchResult | None:
        """The session's best live frame against the reference; None when no frame was usable."""
        return None if self.embedding is None else decide(reference, self.embedding, threshold)


class LivenessSession:
    def __init__(self, pipeline: FacePipeline, eyes: EyeLandmarker, actions: list[Action],
                 config: LivenessConfig | None = None, antispoof: AntiSpoof | None = None) -> None:
        self.pipeline = pipeline
        self.eyes = eyes
        self.config = config or LivenessConfig()
        self.challenge = Challenge(actions, self.config.challenge)
        self.parallax = ParallaxEvidence()
        self._anchor: np.ndarray | None = None
        self._best: tuple[float, np.ndarray] | None = None
        self._frames = 0
        self._since_embed = 10**9
        self._busy_ms = 0.0
        self.antispoof = antispoof
        self._pad_scores: list[float] = []

    def run(self, frames: Iterable[tuple[np.ndarray, int]]) -> Iterator[tuple[int, Event]]:
        """Feed frames until the challenge ends, yielding (frame time, event); stops reading the source then."""
        for rgb, t_ms in frames:
            for event in self.feed(rgb, t_ms):
                yield t_ms, event
            if self.challenge.done:
                return

    def run_to_end(self, frames: Iterable[tuple[np.ndarray, int]]) -> LivenessResult:
        for _ in self.run(frames):
            pass
        return self.result()

    def feed(self, rgb: np.ndarray, t_ms: int) -> list[Event]:
        if self.challenge.done:
            return []
        t0 = time.perf_counter()
        self._frames += 1
        faces = self.pipeline.detector.detect(rgb)
        rules = self.pipeline.rules
        if faces:
            faces = [f for f in faces if f.width >= rules.competitor_ratio * faces[0].width]
        if not faces:
            signals = FrameSignals(t_ms, 0)
        else:
            mesh = self.pipeline.landmarker.landmarks(rgb, faces[0]).points
            contours = self.eyes.contours(rgb, mesh)
            eye_open = (openness(contours[0]) + openness(contours[1])) / 2
            yaw, pitch, roll = head_pose(mesh)
            identity = None
            frontal = abs(yaw) <= self.config.challenge.frontal_deg
            self._since_embed += 1
            if len(faces) == 1 and (self._anchor is None or (frontal and self._since_embed >= self.config.embed_every)):
                identity = self._embed(rgb, mesh, faces[0])
            self.parallax.add(yaw, mesh)
            xs = mesh[:, 0]
            signals = FrameSignals(t_ms, len(faces), eye_open, yaw, pitch, roll,
                                   float((xs.max() - xs.min()) / rgb.shape[1]),
                                   (float(xs.mean() / rgb.shape[1]), float(mesh[:, 1].mean() / rgb.shape[0])),
                                   identity)
        events = self.challenge.update(signals)
        self._busy_ms += (time.perf_counter() - t0) * 1000
        return events

    def _embed(self, rgb: np.ndarray, mesh: np.ndarray, det: Detection) -> float | None:
        self._since_embed = 0
        if self.antispoof is not None and len(self._pad_scores) < self.config.pad_frames:
            self._pad_scores.append(self.antispoof.real_score(rgb, det))
        framed = self.pipeline.embed_frame(rgb, mesh)
        if framed is None:
            return None
        sharp, emb = framed
        if self._anchor is None:
            self._anchor = emb
        if self._best is None or sharp > self._best[0]:
            self._best = (sharp, emb)
        return cosine(self._anchor, emb)

    def result(self) -> LivenessResult:
        ch = self.challenge
        reasons: list[str] = []
        score = self.parallax.score()
        if ch.state is State.PASSED:
            reasons.append("challenge_passed")
            if score is None or score < self.config.min_parallax:
                reasons.append("planar_motion")
                verdict = pb.LIVENESS_SPOOF
            else:
                reasons.append("parallax_ok")
                verdict = pb.LIVENESS_LIVE
            if self._pad_scores:
                pad = float(np.mean(self._pad_scores))
                if pad < self.config.pad_spoof_below:
                    reasons.append("pad_model_spoof")
                    verdict = pb.LIVENESS_SPOOF
                else:
                    reasons.append("pad_model_ok" if pad >= 0.5 else "pad_model_doubtful")
        else:
            reasons.append(f"challenge_{ch.reason or 'incomplete'}")
            verdict = pb.LIVENESS_SPOOF if ch.reason in _SPOOF_REASONS else pb.LIVENESS_INCONCLUSIVE
        best = self._best
        return LivenessResult(
            verdict, reasons, score, self._frames, best[0] if best else 0.0, best[1] if best else None,
            self._busy_ms / max(1, self._frames),
        )
