"""Error rates from genuine and impostor score sets, and the threshold that meets a target.

Pure functions of score arrays, shared by the accuracy benchmark and the
threshold calibration so both speak about the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Rates", "eer", "rates_at", "threshold_for_fmr"]


@dataclass(frozen=True)
class Rates:
    """Both error rates at one threshold, as fractions."""

    threshold: float
    fmr: float  # impostor pairs accepted / impostor pairs
    fnmr: float  # genuine pairs rejected / genuine pairs


def rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float) -> Rates:
    """FMR and FNMR when scores at or above ``threshold`` count as a match, as ``decide`` counts them."""
    fmr = float(np.mean(impostor >= threshold)) if len(impostor) else 0.0
    fnmr = float(np.mean(genuine < threshold)) if len(genuine) else 0.0
    return Rates(threshold, fmr, fnmr)


def eer(genuine: np.ndarray, impostor: np.ndarray) -> Rates:
    """Equal error rate: the candidate threshold where FMR and FNMR are closest (their mean reported).

    Vectorised over all candidate thresholds (sorted scores and binary
    search), so 60,000 pairs take milliseconds rather than minutes.
    """
    g, i = np.sort(np.asarray(genuine, np.float64)), np.sort(np.asarray(impostor, np.float64))
    candidates = np.unique(np.concatenate([g, i]))
    fmr = (len(i) - np.searchsorted(i, candidates, side="left")) / max(1, len(i))
    fnmr = np.searchsorted(g, candidates, side="left") / max(1, len(g))
    k = int(np.argmin(np.abs(fmr - fnmr)))
    mean = float(fmr[k] + fnmr[k]) / 2
    return Rates(float(candidates[k]), mean, mean)


def threshold_for_fmr(impostor: np.ndarray, target_fmr: float, margin: float = 0.0) -> float:
    """Lowest threshold whose FMR on ``impostor`` is at most ``target_fmr``, plus ``margin``.

    With few impostor pairs an observed FMR of 0 says little (rule of three:
    FMR < 3/n at 95 %), hence the explicit margin above the highest impostor.
    """
    scores = np.sort(np.asarray(impostor, np.float64))
    allowed = int(np.floor(target_fmr * len(scores)))
    # Accepting at most `allowed` impostors: threshold just above the (n-allowed)th highest.
    idx = len(scores) - allowed - 1
    base = float(np.nextafter(scores[idx], np.inf)) if idx >= 0 else float(scores[0])
    return base + margin
