"""1:1 decision: cosine similarity of unit embeddings against a calibrated threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MatchResult", "cosine", "decide"]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity; a zero embedding, whose similarity is undefined, is refused rather than scored."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        raise ValueError("cannot compare a zero embedding")
    return float(np.dot(a, b) / (na * nb))


@dataclass(frozen=True)
class MatchResult:
    """The 1:1 decision with the similarity and the threshold it was made from."""

    matched: bool
    similarity: float
    threshold: float

    @property
    def decision(self) -> str:
        """The decision as a word, as ``edge-agent match`` reports it and reason lists carry it."""
        return "match" if self.matched else "no_match"


def decide(reference: np.ndarray, probe: np.ndarray, threshold: float) -> MatchResult:
    """Match when the cosine similarity is at or above ``threshold``."""
    sim = cosine(reference, probe)
    return MatchResult(sim >= threshold, sim, threshold)
