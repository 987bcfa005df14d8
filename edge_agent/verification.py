"""One verification, assembled once: the reference and its threshold, the liveness session, the decision.

The daemon (``service/session.py``), ``edge-agent verify``, the demo and the benches all build their
liveness session and make their decision here. They used to assemble their own, and disagreed: ``verify``
and the demo matched an ID-chip portrait at the photo threshold while the daemon used the chip's, so the
same customer could pass at the counter and fail in ``verify``. One assembly keeps them from drifting
apart again (tests/test_verify_parity.py holds ``verify`` and the daemon to the same answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge_agent.liveness.challenge import Action, ChallengeConfig
from edge_agent.liveness.session import LivenessResult, LivenessSession, SessionTuning
from edge_agent.liveness.workers import StageWorkers
from edge_agent.matching.matcher import MatchResult
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.pipeline import FaceAnalysis, FacePipeline, reference_format_of

__all__ = ["Decision", "Reference", "decide_session", "liveness_session", "reference_of"]


@dataclass(frozen=True)
class Reference:
    """The reference face, the format its size says it is, and the threshold calibrated for that format."""

    face: FaceAnalysis
    format: str  # "photo" or "id-chip" (vision/pipeline.py REFERENCE_FORMATS)
    threshold: float


def reference_of(pipeline: FacePipeline, rgb: np.ndarray) -> Reference:
    """Analyse a reference image; an ID chip's small portrait gets the chip threshold, anything else the photo's."""
    face = pipeline.analyse(rgb)
    fmt = reference_format_of(rgb)
    return Reference(face, fmt, pipeline.threshold_for(fmt))


def liveness_session(pipeline: FacePipeline, actions: list[Action], *, antispoof: AntiSpoof | None,
                     step_timeout_ms: int | None = None, workers: StageWorkers | None = None) -> LivenessSession:
    """The liveness session every caller runs: ``step_timeout_ms`` None keeps the challenge's default.

    ``workers`` runs the embedder and PAD on a pool (``liveness/workers.py``); None runs them inline.
    """
    tuning = None if step_timeout_ms is None else SessionTuning(
        challenge=ChallengeConfig(step_timeout_ms=step_timeout_ms))
    return LivenessSession(pipeline, pipeline.eye_landmarker(), actions, tuning, antispoof=antispoof, workers=workers)


@dataclass(frozen=True)
class Decision:
    """A finished session's liveness result, its match against the reference, and the threshold used."""

    live: LivenessResult
    match: MatchResult | None  # None: no frame was usable for a comparison
    threshold: float

    @property
    def passed(self) -> bool:
        """A pass needs a live verdict and a match; the signed result (recorder.py) applies the same rule."""
        return self.live.live and self.match is not None and self.match.matched


def decide_session(session: LivenessSession, reference: Reference) -> Decision:
    """The decision of a session that has run: its template against the reference at the reference's threshold."""
    live = session.result()
    return Decision(live, live.match(reference.face.embedding, reference.threshold), reference.threshold)
