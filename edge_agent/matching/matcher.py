"""1:1 decision: cosine similarity of unit embeddings against a calibrated threshold."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MatchResult", "cosine", "decide"]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        raise ValueError("cannot compare a zero embedding")
    return float(np.dot(a, b) / (na * nb))


@dataclass(frozen=True)
class MatchResult:
    matched: bool
    similarity: float
    threshold: float

    @property
    def decision(self) -> str:
        return "match" if self.matched else "no_match"


def decide(reference: np.ndarray, probe: np.ndarray, threshold: float) -> MatchResult:
    sim = cosine(reference, probe)
    return MatchResult(sim >= threshold, sim, threshold)
