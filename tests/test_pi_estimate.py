"""The Pi estimate with the worker pool (bench/report.py): the loop thread's stages set the frame time, and a
pooled check outlasting them holds the loop for the difference on its share of frames."""

from __future__ import annotations

import pytest

from bench.report import AMORTISED, pooled_frame_ms

STAGES = {"detect (short range)": 3.0, "landmarks (face mesh)": 4.0, "align": 1.0, "liveness logic": 2.0,
          "embed": 30.0, "eyes (blink)": 5.0, "PAD (MiniFASNet x2)": 8.0}


def test_checks_shorter_than_the_loop_cost_nothing_and_longer_ones_their_overrun() -> None:
    loop = 3.0 * AMORTISED["detect (short range)"] + 4.0 + 1.0 + 2.0
    expected = loop + sum(AMORTISED[s] * max(0.0, STAGES[s] - loop) for s in ("embed", "eyes (blink)",
                                                                                "PAD (MiniFASNet x2)"))
    assert pooled_frame_ms(STAGES) == pytest.approx(expected)
    assert pooled_frame_ms({**STAGES, "eyes (blink)": 0.1, "PAD (MiniFASNet x2)": 0.1}) == pytest.approx(
        loop + AMORTISED["embed"] * (30.0 - loop))
    # Pooled, a frame costs less than running every stage on the loop thread; never less than the loop itself.
    serial = loop + sum(AMORTISED[s] * STAGES[s] for s in ("embed", "eyes (blink)", "PAD (MiniFASNet x2)"))
    assert loop < pooled_frame_ms(STAGES) < serial
