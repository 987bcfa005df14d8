"""The liveness loop's worker pool: the embedder and PAD run beside the loop thread, on the Pi's spare cores.

A Pi 4 or 5 has four cores and the TFLite interpreters release Python's
lock while they infer, so a frame's embedding (the largest stage), its PAD
models and its baseline eyelid reading run on workers while the loop thread
reads the NEXT frame (tracking, mesh, chip, pose: ``LivenessSession._perceive``,
which needs nothing of the session's verdict state). The frame counts only
once its checks are in (``_finish``, before the next frame starts to count):
a step never counts, and the session never reports, on a check still in
flight, so the identity-continuity guarantees (session.py) hold exactly as
without the pool; the frame's events come one frame later.

Each model runs on one thread at a time: a frame has at most one embedding,
one PAD call and one eyelid call in flight, all collected before the next
frame starts to count.

The pool is sized by the device target (``workers_for``): the interpreters'
own thread pools already take ``target.threads`` cores, so with a pool the
models run on one thread each and the pool takes the cores instead
(``Target.threads`` - 1 workers: 2 on a Pi, none on a 2-core box, where the
loop runs everything inline as before).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from edge_agent.target import Target

__all__ = ["StageWorkers", "pooled_frame_ms", "workers_for"]

T = TypeVar("T")


def pooled_frame_ms(loop_ms: float, checks: Iterable[tuple[float, float]]) -> float:
    """A liveness frame's time with the pool: the loop thread's own ``loop_ms``, plus, for each pooled check
    given as (ms per call, share of frames that run it), the time by which it outlasts the loop on that share.

    A frame's checks run while the loop perceives the next frame, and the frame counts only once they are in,
    so a check shorter than the loop costs no time and a longer one holds the loop for the difference. The
    checks of one frame overlap each other on the workers, so adding their overruns is an upper bound."""
    return loop_ms + sum(share * max(0.0, ms - loop_ms) for ms, share in checks)


def workers_for(target: Target) -> int:
    """Worker threads for the target: the interpreter's cores less the loop's own (0: everything inline)."""
    return max(0, target.threads - 1)


class StageWorkers:
    """Runs stage calls on ``size`` worker threads, or inline on the caller's thread when ``size`` is 0."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="liveness") if size > 0 else None

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """``fn(*args)`` started on a worker (or run now, inline); ``.result()`` waits for it and re-raises."""
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args))
        except BaseException as exc:  # re-raised by .result(), as a worker's failure would be
            done.set_exception(exc)
        return done

    def close(self) -> None:
        """Stop the workers once the calls in flight finish (a session's end)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)


INLINE = StageWorkers(0)
