"""The liveness loop's worker pool: the embedder and PAD run off the loop thread, and the session's outcome
(every check, every PAD score, the template) is the same as with everything on the loop thread."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from bench.common import data_root
from edge_agent.camera.files import iter_frames
from edge_agent.liveness.challenge import Action
from edge_agent.liveness.session import LivenessSession
from edge_agent.liveness.workers import StageWorkers, workers_for
from edge_agent.target import TARGETS
from edge_agent.vision.antispoof import AntiSpoof
from tests.test_pad import need


def test_inline_and_pooled_calls_give_results_and_raise_on_the_caller() -> None:
    pool = StageWorkers(2)
    try:
        assert pool.submit(lambda: threading.current_thread().name).result().startswith("liveness")
        with pytest.raises(ZeroDivisionError):
            pool.submit(lambda: 1 / 0).result()
    finally:
        pool.close()
    inline = StageWorkers(0)
    assert inline.submit(lambda: threading.current_thread()).result() is threading.current_thread()
    with pytest.raises(ZeroDivisionError):
        inline.submit(lambda: 1 / 0).result()


def test_a_pi_gets_two_workers_beside_the_loop() -> None:
    assert workers_for(TARGETS["pi4"]) == workers_for(TARGETS["pi5"]) == 2


@pytest.mark.slow
def test_a_pooled_session_checks_the_same_frames_with_the_same_outcome(pipeline) -> None:
    clip = next(iter(sorted(need(data_root() / "video" / "real").glob("v11_*.mp4"))))
    frames = list(itertools.islice(iter_frames(clip, 25.0), 0, 30))
    pad = AntiSpoof.from_manifest(pipeline.manifest)
    where: list[str] = []
    embed = pipeline.embed_chip

    def spy(chip: np.ndarray) -> np.ndarray:
        where.append(threading.current_thread().name)
        return embed(chip)

    results = []
    for size in (0, 2):
        pool = StageWorkers(size)
        session = LivenessSession(pipeline, pipeline.eye_landmarker(), [Action.TURN_LEFT, Action.BLINK],
                                  antispoof=pad, workers=pool)
        session.pipeline.embed_chip = spy  # type: ignore[method-assign]
        events = []
        try:
            for rgb, t in frames:
                events += session.feed(rgb, t)
            events += session.flush()
        finally:
            del session.pipeline.embed_chip
            pool.close()
        results.append((session.result(), session._pad_scores, [(e.kind, e.message) for e in events]))
        if size:
            assert where and all(name.startswith("liveness") for name in where)  # never on the loop thread
        where.clear()
    (inline, inline_pad, inline_events), (pooled, pooled_pad, pooled_events) = results
    # Pooled, a frame's checks run beside the next frame's perception and its events come a frame later: the
    # same events in the same order, none lost at the end.
    assert pooled_events == inline_events and inline_events
    assert pooled.embedded_frames == inline.embedded_frames > 0
    assert pooled.identity_min == inline.identity_min
    assert pooled_pad == inline_pad and len(pooled_pad) >= 3
    assert pooled.reasons == inline.reasons
