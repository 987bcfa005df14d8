"""The session's passive PAD score from its frames' witness scores: one rule for the session, ``pad`` and the bench.

Pure logic. Each PAD frame gives one probability of a real face per witness
model; the session score is RULE_TEXT below, compared with
``SessionTuning.pad_spoof_below``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["DECISION_TEXT", "RULE_TEXT", "frame_score", "session_pad_score"]

RULE_TEXT = "per frame the mean of the MiniFASNet pair's real probabilities; per session the median over its frames"
# Two independent witnesses, each at its own threshold; the attacker must defeat both (docs/liveness.md).
DECISION_TEXT = ("attack when either witness says so: MiniFASNet's session score below its threshold, or the "
                 "recapture device's frame enclosing the face in 2 or more PAD frames")


def frame_score(scores: Mapping[str, float]) -> float:
    """One frame's fused score: the mean over the witness models."""
    return float(np.mean(list(scores.values())))


def session_pad_score(frames: Sequence[Mapping[str, float]]) -> float:
    """The session's score: robust to a few odd frames (a blink, motion blur, a turned face)."""
    if not frames:
        raise ValueError("no PAD frames")
    return float(np.median([frame_score(f) for f in frames]))
