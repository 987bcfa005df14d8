"""One verification session, start to signed result, with no gRPC in it.

``SessionRunner.run`` checks the reference photo, gets a carrier nonce when the
request brought none, runs the liveness challenge on the camera and records the
signed result. It yields the liveness events the customer should see (hints
throttled), returns what was signed, and raises the typed errors of
``edge_agent/errors.py``; the servicer (``daemon.py``) only translates both
into the agent API. Nothing is recorded for a session that raises: a result
exists only for a session that reached a decision.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass

import numpy as np

from edge_agent.camera.identity import CameraIdentity
from edge_agent.camera.source import FrameSource
from edge_agent.carrier.client import CARRIER_ERRORS, Carrier
from edge_agent.config import Config
from edge_agent.errors import BadCarrierNonce, CameraError, CarrierUnavailable, NoCarrier, SessionCancelled
from edge_agent.liveness.challenge import Event, EventKind, random_actions
from edge_agent.liveness.workers import StageWorkers
from edge_agent.logs import log_event
from edge_agent.recorder import ResultRecorder, SignedSummary, signed_summary
from edge_agent.service.preview import PreviewHub
from edge_agent.verification import decide_session, liveness_session, reference_of
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import decode_image
from edge_agent.vision.pipeline import FacePipeline

__all__ = ["NONCE_BYTES", "SessionOutcome", "SessionRunner", "check_nonce"]

log = logging.getLogger(__name__)

NONCE_BYTES = (16, 64)  # a carrier nonce is 16-32 random bytes; more is an oversize result, less is guessable


def check_nonce(nonce: bytes) -> str | None:
    """Why ``nonce`` cannot be signed into a result, or None."""
    low, high = NONCE_BYTES
    if not low <= len(nonce) <= high:
        return f"carrier nonce must be {low}-{high} bytes, got {len(nonce)}"
    return None


@dataclass(frozen=True)
class SessionOutcome:
    """What was signed and stored for a session, read back from the signed bytes."""

    counter: int
    summary: SignedSummary
    threshold: float  # the match threshold the reference's format called for (not signed; for logs and tests)


@dataclass
class HintThrottle:
    """The session emits a hint per frame; the customer needs one when it changes, or a reminder."""

    repeat_ms: int = 2000
    _last: str = ""
    _at_ms: int = -(10**9)

    def due(self, message: str, t_ms: int) -> bool:
        """Whether ``message`` at ``t_ms`` should reach the customer."""
        if message == self._last and t_ms - self._at_ms < self.repeat_ms:
            return False
        self._last, self._at_ms = message, t_ms
        return True


@dataclass
class SessionRunner:
    """Everything one session needs; built per session by the servicer around its healthy parts."""

    config: Config
    pipeline: FacePipeline
    recorder: ResultRecorder
    carrier: Carrier | None
    device_id: str
    source_factory: Callable[[], FrameSource]
    antispoof: AntiSpoof | None
    preview: PreviewHub
    on_camera: Callable[[str], None]  # "" once frames flow, the error text when the camera fails

    @property
    def steps(self) -> int:
        """How many challenge actions a session asks for."""
        return self.config.liveness.steps

    @property
    def step_time_limit_ms(self) -> int:
        """How long the customer has for each action."""
        return int(self.config.liveness.step_timeout_s * 1000)

    def run(self, txn: str, reference_photo: bytes, nonce: bytes,
            stopped: Callable[[], bool]) -> Generator[Event, None, SessionOutcome]:
        """The session; ``stopped`` is polled per frame (a cancel, a client gone) and ends it unrecorded."""
        reference = reference_of(self.pipeline, decode_image(reference_photo, name="reference photo"))
        nonce = nonce or self._carrier_nonce(txn)
        started = time.monotonic()
        log_event(log, "session_started", txn=txn)
        cfg = self.config.liveness
        rng = random.Random(cfg.seed) if cfg.seed >= 0 else random.SystemRandom()
        actions = random_actions(rng, cfg.steps)
        # On a Pi the embedder, PAD and the eyelid model run on worker threads beside the loop (liveness/workers.py).
        pool = StageWorkers(self.config.models.workers)
        session = liveness_session(self.pipeline, actions, antispoof=self.antispoof,
                                   step_timeout_ms=self.step_time_limit_ms, workers=pool)
        source = self.source_factory()
        hints = HintThrottle()
        try:
            for t_ms, event in session.run(self._frames(source, txn, stopped)):
                if event.kind in (EventKind.PROMPT, EventKind.PROGRESS) or (
                        event.kind is EventKind.HINT and hints.due(event.message, t_ms)):
                    yield event
        except CameraError as exc:
            log_event(log, "camera_failed", logging.ERROR, txn=txn, error=str(exc))
            self.on_camera(str(exc))
            raise
        finally:
            source.close()
            pool.close()  # a cancelled or failed session's checks end with it
        identity = getattr(source, "identity", None)  # a camera's, checked against the pairing; None for a file
        decision = decide_session(session, reference)
        live = decision.live
        record = self.recorder.record(txn, nonce, decision.match, live.embedding, liveness=live.verdict,
                                      reasons=tuple(live.reasons),
                                      camera=identity.digest if isinstance(identity, CameraIdentity) else b"")
        # The summary is read back from what was signed, so the terminal never sees a second opinion.
        summary = signed_summary(record.signed)
        log_event(log, "session_done", txn=txn, decision=summary.decision, liveness=summary.liveness,
                  counter=record.counter, duration_ms=round((time.monotonic() - started) * 1000))
        return SessionOutcome(record.counter, summary, decision.threshold)

    def _carrier_nonce(self, txn: str) -> bytes:
        if self.carrier is None:
            raise NoCarrier("no carrier is configured to issue a nonce and the request gave none")
        try:
            nonce = bytes(self.carrier.get_nonce(self.device_id, txn).nonce)
        except CARRIER_ERRORS as exc:  # refused or unreachable, the terminal can only try again later
            raise CarrierUnavailable(f"carrier nonce unavailable: {exc.status}", status=exc.status,
                                     detail=exc.detail) from None
        if problem := check_nonce(nonce):
            raise BadCarrierNonce(problem)
        return nonce

    def _frames(self, source: FrameSource, txn: str,
                stopped: Callable[[], bool]) -> Iterator[tuple[np.ndarray, int]]:
        for frame in source.frames():
            if stopped():
                log_event(log, "session_cancelled", txn=txn)
                raise SessionCancelled("session cancelled; nothing was recorded")
            self.preview.publish(frame[0])
            self.on_camera("")
            yield frame
