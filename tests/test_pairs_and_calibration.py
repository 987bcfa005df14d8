"""Pair expansion and error-rate arithmetic (pure logic)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.matching.calibration import eer, rates_at, threshold_for_fmr
from edge_agent.matching.matcher import cosine, decide
from edge_agent.matching.pairs import expand


def test_expand_uses_transitivity_only_where_labels_allow() -> None:
    labels = {("a", "b"): True, ("b", "c"): True, ("a", "x"): False, ("y", "z"): True}
    ps = expand(labels)
    assert sorted(ps.genuine) == [("a", "b"), ("a", "c"), ("b", "c"), ("y", "z")]
    # {a,b,c} vs {x}: labelled different once, so all three cross pairs are impostors;
    # {y,z} was never compared with anyone: no impostor pairs invented for it.
    assert sorted(ps.impostor) == [("a", "x"), ("b", "x"), ("c", "x")]


def test_expand_rejects_contradictions() -> None:
    with pytest.raises(ValueError, match="contradictory"):
        expand({("a", "b"): True, ("b", "c"): True, ("a", "c"): False})


def test_rates_and_eer() -> None:
    g = np.array([0.9, 0.95, 0.97, 0.99])
    i = np.array([0.5, 0.6, 0.7, 0.92])
    r = rates_at(g, i, 0.93)
    assert (r.fmr, r.fnmr) == (0.0, 0.25)
    assert eer(g, i).fmr == pytest.approx(0.25)


def test_threshold_for_fmr() -> None:
    imp = np.linspace(0, 1, 101)
    t0 = threshold_for_fmr(imp, 0.0)
    assert rates_at(np.array([]), imp, t0).fmr == 0.0
    t = threshold_for_fmr(imp, 0.05)
    assert rates_at(np.array([]), imp, t).fmr <= 0.05
    assert threshold_for_fmr(imp, 0.0, margin=0.01) == pytest.approx(t0 + 0.01)


def test_decide() -> None:
    a = np.array([1.0, 0.0])
    assert decide(a, np.array([1.0, 0.1]), 0.9).matched
    assert not decide(a, np.array([0.0, 1.0]), 0.9).matched
    with pytest.raises(ValueError):
        cosine(a, np.zeros(2))
