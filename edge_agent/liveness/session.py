"""One liveness session over a stream of frames: signals, challenge, identity, passive PAD, match template.

Witnesses, each able to refuse on its own:

* the challenge (random order of blinks and turns, ``challenge.py``);
* identity continuity: frames are embedded and compared with the session's
  anchors at the match threshold (``pipeline.threshold``, so it follows
  whichever embedder the model set ships). The frontal anchor is the mean
  unit embedding of the first ``anchor_frames`` frames (each of them checked
  against the first); a turned or lowered head is compared with anchors
  gathered at its own pose (``poseanchors.py``). Only frames that can
  testify are compared (``usability.py``: a hand across the face, a smeared
  or half-hidden frame is skipped and counted, never called another person;
  the next usable frame is checked, whatever the gate says). Not every frame is embedded (that was over half the
  loop's cost); the invariant is: every frame that counts either was
  compared with the anchor at match strictness, or its aligned chip lies
  within ``continuity_distance`` (0.05, ``continuity.py``) of a frame that
  was, and no more than ``continuity_every`` - 1 frames in a row lean on
  one check. Always embedded: the anchor's frames, the frames that perform
  the step asked (closed eyes for a blink, a turned head for a turn), the
  frame that completes a step or the session (tried first on a copy of the
  challenge, so the event is never emitted before the check), and the first
  usable frame after unusable ones. PAD frames are held to the same invariant as every other counted
  frame, not embedded for being PAD frames: the embedding sees only the
  aligned chip, which the gate's distance already covers. The match
  template is drawn from embedded frames only (the sharpest frontal
  open-eye ones), so each of them was checked.
  One usable frame of another person anywhere (a score under the impostor
  level, ``usability.testimony``; between it and the match threshold a frame
  cannot testify) gives SPOOF ``identity_changed``;
  a second person (``rivals.py``) ends it INCONCLUSIVE ``multiple_faces``;
* passive PAD (MiniFASNet, ``vision/antispoof.py``), sampled over the whole
  challenge by time, turned frames included, on the crop its training used;
* nose-tip parallax (``parallax.py``): a flat picture moves as one plane;
* the recapture device's frame (``recapture.py``), on the PAD frames: a
  phone or monitor whose four edges enclose the face gives SPOOF
  ``recapture_device`` whatever else passed.

Frames are judged against the session itself, not fixed levels: a frame far
blurrier than the session's median (motion blur mid-turn) is skipped, not
fatal, so a dim webcam that shows a clear face still passes.

The session clock is the frames' own timestamps made monotonic: a timestamp
that goes backwards is not trusted (the clock holds), and the session ends
after ``session_limit_ms`` of that clock or ``max_frames`` frames, whichever
first, so a source with a stuck or hostile clock cannot keep it open.

Frames and embeddings live only in this object's memory; the result carries
the verdict, reason codes, scores and the match template (the mean of the
unit embeddings of several good frames), nothing else.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from edge_agent.liveness.challenge import Action, Challenge, ChallengeConfig, Event, State
from edge_agent.liveness.continuity import ContinuityGate, thumbnail
from edge_agent.liveness.fusion import session_pad_score
from edge_agent.liveness.parallax import ParallaxEvidence
from edge_agent.liveness.poseanchors import PoseAnchors
from edge_agent.liveness.recapture import DeviceFrameWitness
from edge_agent.liveness.rivals import RivalRules, RivalTracker
from edge_agent.liveness.signals import FrameSignals, head_pose
from edge_agent.liveness.usability import (
    FrameEvidence,
    Testimony,
    UnusableBudget,
    UsabilityRules,
    eyes_in_frame,
    judge,
    testimony,
)
from edge_agent.liveness.verdict import Verdict
from edge_agent.liveness.workers import INLINE, StageWorkers
from edge_agent.matching.matcher import MatchResult, cosine, decide
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.detector import Detection
from edge_agent.vision.eyes import EyeLandmarker, openness
from edge_agent.vision.landmarks import FaceMesh
from edge_agent.vision.pipeline import FacePipeline
from edge_agent.vision.quality import sharpness
from edge_agent.vision.tracker import FaceTracker

__all__ = ["LivenessResult", "LivenessSession", "SessionTuning", "template"]

# Failures that show an attack rather than a customer who was slow, left or fidgeted: only a usable frame of
# another person (usability.py). A wrong action, a lost face, too many unusable frames: INCONCLUSIVE, try again.
_SPOOF_REASONS = {"identity_changed"}
# What the customer is asked when the session ends for want of usable frames.
RETRY_VISIBLE = "please try again, keep your face in view"


@dataclass(frozen=True)
class SessionTuning:
    """The session's calibrated constants beside the challenge's: PAD and parallax thresholds, sizes, limits.

    Not operator settings: what a store may change is ``config.LivenessSettings`` (``[liveness]`` in
    config.toml: steps, time per step, seed), which the daemon turns into this and ``ChallengeConfig``.
    """

    challenge: ChallengeConfig = field(default_factory=ChallengeConfig)
    # Passive PAD: the session score is the median of MiniFASNet's per-frame real scores; below
    # pad_spoof_below the session is refused. Calibrated on real clips against made-up replays
    # (bench/liveness.py, docs/liveness.md).
    pad_spoof_below: float = 0.5
    pad_every_ms: int = 200  # one PAD frame per this much session time, turned frames included
    # ... and at most one in this many frames. At a camera's 25-30 frames/s the time rule binds; on a slow
    # loop (a Pi 4 at 6-8 frames/s) time alone would make every other frame a PAD frame.
    pad_every_frames: int = 3
    pad_min_frames: int = 3  # fewer PAD frames than this: no passive evidence, the session is not live
    min_parallax: float = 0.09  # nose-tip parallax / eye distance: live 0.13-0.18, flat 0.03-0.07 (bench/liveness.py)
    template_frames: int = 5  # embedded good frames whose mean unit embedding is matched against the reference
    anchor_frames: int = 5  # first frames whose mean unit embedding every later frame must match
    # Identity continuity's gate (continuity.py): a frame is embedded when its chip thumbnail lies further than
    # this from each of the last 8 embedded frames' (0.05: under a third of the nearest other person's on real data,
    # docs/liveness.md), or this many frames after it (200 ms at 30 frames/s, PAD's own period).
    continuity_distance: float = 0.05
    continuity_every: int = 6
    blur_ratio: float = 0.3  # a frame below this fraction of the session's median sharpness is skipped
    # Which frames can testify (usability.py; blur_ratio above is its sharpness level) and how many may not,
    # and when another detection is a second person (rivals.py).
    usability: UsabilityRules = field(default_factory=UsabilityRules)
    rivals: RivalRules = field(default_factory=RivalRules)
    session_limit_ms: int = 40_000  # the whole session, on the session clock
    max_frames: int = 2400  # and in frames (40 s at 60 frames/s): a stuck clock cannot keep a session open


@dataclass
class LivenessResult:
    """What a session leaves behind: verdict, reason codes, scores and the match template; never a frame."""

    verdict: Verdict
    reasons: list[str]
    parallax: float | None
    frames: int
    best_sharpness: float
    embedding: np.ndarray | None = field(repr=False)  # the match template: mean unit embedding of good frames
    ms_per_frame: float
    pad_score: float | None = None
    pad_frames: int = 0
    identity_min: float | None = None  # lowest cosine of any checked frame to the anchors at its pose
    template_frames: int = 0
    skipped_blurred: int = 0  # frames that could not testify (blurred, occluded, extreme pose...): usability.py
    embedded_frames: int = 0  # frames embedded and checked for identity (the rest lean on one that was)
    eye_frames: int = 0  # frames the eyelid model ran on (blink steps, embedded near-frontal frames)
    device_frames: int = 0  # PAD frames in which a device's frame enclosed the face (recapture.py)

    @property
    def live(self) -> bool:
        """Only LIVE can lead to a PASS; INCONCLUSIVE and SPOOF both refuse."""
        return self.verdict == Verdict.LIVE

    def match(self, reference: np.ndarray, threshold: float) -> MatchResult | None:
        """The session's template against the reference; None when no frame was usable."""
        return None if self.embedding is None else decide(reference, self.embedding, threshold)


def template(embeddings: list[np.ndarray]) -> np.ndarray:
    """Mean of unit embeddings, itself of unit length: steadier than any one frame."""
    units = [e / np.linalg.norm(e) for e in embeddings]
    mean = np.mean(units, axis=0)
    out: np.ndarray = (mean / np.linalg.norm(mean)).astype(np.float32)
    return out


@dataclass(frozen=True)
class _Sighting:
    """One frame's face and what is read off it before anything is judged: the session's helpers share it."""

    rgb: np.ndarray = field(repr=False)
    t: int
    det: Detection
    mesh: np.ndarray = field(repr=False)
    presence: float
    chip: np.ndarray = field(repr=False)
    thumb: np.ndarray = field(repr=False)
    sharp: float
    yaw: float
    pitch: float
    roll: float
    eye_job: Future[float] | None = None  # the eyelid model, started with the frame in a blink step


@dataclass(frozen=True)
class _Pending:
    """A frame started and waiting for its checks (``_begin`` to ``_finish``): embedding, PAD, eyelid in flight."""

    sight: _Sighting
    signals: FrameSignals
    job: Future[np.ndarray] | None
    pad_job: Future[dict[str, float]] | None
    eye_job: Future[float] | None  # the eyelid model on a frame that feeds the baseline, not the step


def _sighting(pipeline: FacePipeline, rgb: np.ndarray, t: int, det: Detection, face: FaceMesh,
              eye_job: Future[float] | None = None) -> _Sighting:
    """The chip, its thumbnail and sharpness and the head pose, read once per frame for every later judgement."""
    mesh = face.points
    chip = pipeline.align(rgb, mesh)
    yaw, pitch, roll = head_pose(mesh, rgb.shape)
    return _Sighting(rgb, t, det, mesh, face.presence, chip, thumbnail(chip), sharpness(chip), yaw, pitch, roll,
                     eye_job)


def _signals(sight: _Sighting, eye_open: float | None) -> FrameSignals:
    """What the challenge reads off a usable frame: pose, eyes, the face's width and centre in the frame."""
    xs, ys, (height, width) = sight.mesh[:, 0], sight.mesh[:, 1], sight.rgb.shape[:2]
    return FrameSignals(sight.t, 1, eye_open, sight.yaw, sight.pitch, sight.roll, float((xs.max() - xs.min()) / width),
                        (float(xs.mean() / width), float(ys.mean() / height)))


class LivenessSession:
    """One customer's liveness check: the face pipeline on every frame, feeding the challenge and the witnesses."""

    def __init__(self, pipeline: FacePipeline, eyes: EyeLandmarker, actions: list[Action],
                 config: SessionTuning | None = None, antispoof: AntiSpoof | None = None,
                 workers: StageWorkers | None = None) -> None:
        self.pipeline = pipeline
        # The embedder, PAD and the eyelid model run on these (workers.py); a frame counts once its calls are in.
        self.workers = workers or INLINE
        self.eyes = eyes
        self.config = config or SessionTuning()
        # Identity continuity compares at match strictness, whatever embedder the model set ships.
        self.challenge = Challenge(actions, dataclasses.replace(self.config.challenge,
                                                                identity_min=pipeline.threshold))
        self.parallax = ParallaxEvidence()
        self.recapture = DeviceFrameWitness()
        self.antispoof = antispoof
        self.tracker = FaceTracker(pipeline.detector, pipeline.landmarker)
        self._anchors: list[np.ndarray] = []
        self._anchor: np.ndarray | None = None
        self._good: list[tuple[float, np.ndarray]] = []  # (sharpness, embedding): embedded frontal open-eye frames
        self._sharp: list[float] = []
        self._frames = 0
        self._skipped = 0
        self._busy_ms = 0.0
        self._clock: int | None = None
        self._start: int | None = None
        self._pad_scores: list[dict[str, float]] = []  # per PAD frame: each witness model's real probability
        self._last_pad: int | None = None
        self._since_pad = 0  # frames since the last PAD frame
        self._identity_min: float | None = None
        self._gate = ContinuityGate(self.config.continuity_distance, self.config.continuity_every)
        self._embedded = 0
        self._eye_frames = 0
        self._rivals = RivalTracker(self.config.rivals)
        # The session's blur level (blur_ratio) is the usability judgement's sharpness level: one knob, as before.
        self._usability = dataclasses.replace(self.config.usability, min_sharp_ratio=self.config.blur_ratio)
        self._budget = UnusableBudget(self._usability)
        self._poses = PoseAnchors(pipeline.threshold)
        self._rest: tuple[float, float] | None = None  # (yaw, pitch) of the anchor's frames: pose bin (0, 0)
        self._anchor_poses: list[tuple[float, float]] = []
        self._last_box: np.ndarray | None = None
        self._pending: _Pending | None = None  # the started frame whose checks are in flight
        self._unjudged = "pose_unanchored"  # why the last embedded frame could not testify (_identity)

    def run(self, frames: Iterable[tuple[np.ndarray, int]]) -> Iterator[tuple[int, Event]]:
        """Feed frames until the challenge ends, yielding (session time, event); stops reading the source then."""
        for rgb, t_ms in frames:
            for event in self.feed(rgb, t_ms):
                yield self._clock or 0, event
            if self.challenge.done:
                return
        for event in self.flush():
            yield self._clock or 0, event

    def run_to_end(self, frames: Iterable[tuple[np.ndarray, int]]) -> LivenessResult:
        """The result of a whole clip, for callers that need no events (tests, the benchmark)."""
        for _ in self.run(frames):
            pass
        return self.result()

    def _tick(self, t_ms: int) -> int:
        """The session clock: the source's timestamps, never going backwards."""
        self._clock = t_ms if self._clock is None else max(self._clock, t_ms)
        if self._start is None:
            self._start = self._clock
        return self._clock

    def feed(self, rgb: np.ndarray, t_ms: int) -> list[Event]:
        """One frame at its source time, returning the events to show; past a session limit it ends the session."""
        if self.challenge.done:
            return []
        t0 = time.perf_counter()
        self._frames += 1
        t = self._tick(int(t_ms))
        assert self._start is not None
        if t - self._start > self.config.session_limit_ms or self._frames > self.config.max_frames:
            events = self._finish()  # the frame in flight still counts (a different person in it: SPOOF)
            return events if self.challenge.done else events + self.challenge.abort("session_timeout",
                                                                                    "the check took too long")
        seen = self._perceive(rgb, t)
        # With a worker pool, the last frame's checks ran beside this frame's perception; it ends now, and this
        # frame starts and waits for the next (its events come one frame late). Inline, a frame ends at once.
        events = self._finish()
        if not self.challenge.done:
            events += self._begin(seen, t)
            if self.workers.size == 0:
                events += self._finish()
        self._busy_ms += (time.perf_counter() - t0) * 1000
        return events

    def flush(self) -> list[Event]:
        """End the frame still waiting for its checks (the source ended); its events."""
        return self._finish() if not self.challenge.done else []

    def _frame(self, rgb: np.ndarray, t: int) -> list[Event]:
        """One frame, start to end: what it shows, then what it means (its checks collected before it returns)."""
        return self._begin(self._perceive(rgb, t), t) + self._finish()

    def _perceive(self, rgb: np.ndarray, t: int) -> _Sighting | int:
        """What the frame shows, read without the session's verdict state: the subject's face read once (mesh,
        chip, pose), or how many faces there are when there is none to judge (0, or 2 for a second person).

        It depends only on earlier frames' faces, so with a worker pool the next frame is read while this one's
        checks still run (``feed``). The challenge's step is read only to start the eyelid model early."""
        found = self._locate(rgb)
        if isinstance(found, int):
            return found
        # In a blink step the eyelid model reads every frame: started now, it runs on a worker while this thread
        # aligns the chip and the last frame's checks finish (one eyelid call in flight at a time).
        eye_job = None
        if self.challenge.reads_eyes and (self._pending is None or self._pending.eye_job is None):
            eye_job = self.workers.submit(self._eye_open, rgb, found[1].points)
        return _sighting(self.pipeline, rgb, t, *found, eye_job)

    def _begin(self, seen: _Sighting | int, t: int) -> list[Event]:
        """What the frame means, up to its checks: usability, then PAD and the embedding started on the workers.
        The second half (``_finish``) waits for them; nothing of the frame counts before it."""
        if isinstance(seen, int):
            self._last_box = None
            return self.challenge.update(FrameSignals(t, seen))
        sight, ch = seen, self.challenge
        # Collected whatever follows, so that no two calls to the eyelid model are ever in flight.
        early = sight.eye_job.result() if sight.eye_job is not None else None
        refused = self._judge_usability(sight)
        if refused is not None:
            return refused
        resumed = self._budget.in_run  # the first usable frame after an unusable run: checked, whatever the gate
        pad_job = self._pad_job(sight)
        # The eyelid model (the loop's second cost after the embedder) runs only where openness is used: every
        # frame of a blink step, and the embedded near-frontal frames, which feed the open-eye baseline and are
        # the template's candidates. Elsewhere the challenge reads nothing from the eyes.
        eye_open = (self._eye_open(sight.rgb, sight.mesh) if early is None else early) if ch.reads_eyes else None
        # Embedded whatever the gate says: the anchor's frames and the frames that perform the step asked
        # (closed eyes for a blink, a turned head for a turn). The template draws only on embedded frames, so
        # it needs no embedding of its own.
        used = self._anchor is None or ch.performs_step(sight.yaw, eye_open) or resumed
        job = self._embed(sight.chip, sight.thumb) if used or self._gate.needs_embedding(sight.thumb) else None
        signals = _signals(sight, eye_open)
        if job is None and ch.completes(signals):
            # The frame that completes a step (or the session) must never be one that was not embedded.
            job = self._embed(sight.chip, sight.thumb)
        eye_job = None
        if job is not None and eye_open is None and ch.near_frontal(sight.yaw, widen=2):
            if early is not None:  # a baseline sample or template candidate, read early for a step just ended
                signals = dataclasses.replace(signals, eye_open=early)
            else:
                eye_job = self.workers.submit(self._eye_open, sight.rgb, sight.mesh)
        self._pending = _Pending(sight, signals, job, pad_job, eye_job)
        return []

    def _finish(self) -> list[Event]:
        """The started frame's second half: its checks collected (identity before the challenge sees the frame),
        then its testimony counted. Nothing to do when the frame ended in its first half."""
        p, self._pending = self._pending, None
        if p is None:
            return []
        signals, emb = p.signals, None
        if p.eye_job is not None:
            signals = dataclasses.replace(signals, eye_open=p.eye_job.result())
        if p.job is not None:
            emb = p.job.result()  # checked here, before the challenge sees the frame
            identity = self._identity(emb, p.sight.yaw, p.sight.pitch)
            if identity is None:  # no anchor near this pose, or a score that is no evidence: it cannot testify
                self._gate.reset()  # and no later frame may lean on it
                if p.pad_job is not None:
                    p.pad_job.result()  # collected, not counted: this frame testifies to nothing
                return self._unusable(p.sight.t, self._unjudged)
            signals = dataclasses.replace(signals, identity=identity)
        self._testify(p.sight, signals, emb, p.pad_job)
        return self.challenge.update(signals)

    def _locate(self, rgb: np.ndarray) -> tuple[Detection, FaceMesh] | int:
        """The customer's face (region, mesh), or how many faces there are when there is none to judge (0, or 2
        when the rival rule, rivals.py, sees a second person)."""
        # The face is tracked from the last frame's mesh; the detector runs at the start, when the track is lost,
        # every DETECT_EVERY frames, and on every frame while a possible second person is in view
        # (vision/tracker.py); the rival rule applies to each list it gives.
        located = self.tracker.locate(rgb)
        if located.faces is None:
            assert located.region is not None and located.mesh is not None
            return located.region, located.mesh
        det, rival = self._rivals.update(located.faces)
        if self._rivals.suspect:
            self.tracker.detect_next()
        if det is None or rival:
            return 2 if rival else 0
        return det, self.tracker.mesh_of(rgb, det)

    def _judge_usability(self, sight: _Sighting) -> list[Event] | None:
        """None for a frame that can testify; else the answer to one that cannot (usability.py)."""
        sharp, yaw, pitch, det = sight.sharp, sight.yaw, sight.pitch, sight.det
        self._sharp.append(sharp)
        ratio = sharp / max(float(np.median(self._sharp[-60:])), 1e-9) if len(self._sharp) >= 3 else 1.0
        rest_yaw, rest_pitch = self._rest or (self.challenge.yaw_rest or 0.0, 0.0)
        box = np.asarray(det.box, np.float64)
        jump = 0.0 if self._last_box is None else float(
            np.linalg.norm((box[:2] + box[2:]) / 2 - (self._last_box[:2] + self._last_box[2:]) / 2)
            / max(self._last_box[2] - self._last_box[0], 1.0))
        self._last_box = box
        why = judge(FrameEvidence(det.score, sight.presence, ratio, jump, eyes_in_frame(sight.mesh, sight.rgb.shape),
                                  yaw - rest_yaw, pitch - rest_pitch), self._usability)
        if why is None:
            return None
        if why == "blurred" and det.score >= self._usability.sure_detection and self._of_another(
                self._embed(sight.chip, sight.thumb).result(), yaw - rest_yaw, pitch - rest_pitch):
            # A whole, surely detected face that is only blurred next to the session is still checked (it
            # counts for nothing else): a swapped-in frame must not hide behind blur. An occluded face
            # (weak detection) or one at another pose is not judged.
            return self.challenge.abort("identity_changed", "a different person appeared during the check")
        return self._unusable(sight.t, why)

    def _pad_job(self, sight: _Sighting) -> Future[dict[str, float]] | None:
        """This frame's PAD scores, started on the workers when one is due (pad_every_ms and pad_every_frames)."""
        t = sight.t
        self._since_pad += 1
        pad_due = self.antispoof is not None and (self._last_pad is None
                                                  or (t - self._last_pad >= self.config.pad_every_ms
                                                      and self._since_pad >= self.config.pad_every_frames))
        return self.workers.submit(self.antispoof.scores, sight.rgb, sight.det) if pad_due and self.antispoof \
            else None

    def _testify(self, sight: _Sighting, signals: FrameSignals, emb: np.ndarray | None,
                 pad_job: Future[dict[str, float]] | None) -> None:
        """A usable frame's testimony: identity low mark, template candidate, PAD score, device frame, parallax."""
        self._budget.usable()
        if emb is None:
            self._gate.skipped()
        else:
            assert signals.identity is not None
            self._identity_min = signals.identity if self._identity_min is None else min(self._identity_min,
                                                                                         signals.identity)
            if self.challenge.near_frontal(sight.yaw) and self.challenge.open_eyed(signals.eye_open):
                self._good.append((sight.sharp, emb))
        if pad_job is not None:
            self._last_pad, self._since_pad = sight.t, 0
            self._pad_scores.append(pad_job.result())
            self.recapture.add(sight.rgb, sight.det.box)
        self.parallax.add(sight.yaw, sight.mesh)

    def _unusable(self, t: int, why: str) -> list[Event]:
        """A frame that cannot testify: it counts for nothing (no step, PAD, parallax, template, and no identity
        verdict either way), the next usable frame is checked, and past the budget the customer is asked to try
        again (usability.py)."""
        self._skipped += 1
        if self._budget.unusable_frame(t, why):
            return self.challenge.abort("frames_unusable", RETRY_VISIBLE)
        return self.challenge.tick(t)

    def _eye_open(self, rgb: np.ndarray, mesh: np.ndarray) -> float:
        """Mean openness of both eyes from the eyelid model."""
        self._eye_frames += 1
        contours = self.eyes.contours(rgb, mesh)
        return (openness(contours[0]) + openness(contours[1])) / 2

    def _embed(self, chip: np.ndarray, thumb: np.ndarray) -> Future[np.ndarray]:
        """The chip's embedding, started on the workers; later frames within the gate's distance of this one lean
        on its check."""
        self._embedded += 1
        self._gate.embedded(thumb)
        return self.workers.submit(self.pipeline.embed_chip, chip)

    def _identity(self, emb: np.ndarray, yaw: float, pitch: float) -> float | None:
        """Cosine to the anchors at this pose (poseanchors.py); while the frontal anchor forms, the lowest cosine
        to the frames that form it. None when the frame cannot testify (``self._unjudged`` says why): no anchor
        near this pose, or a score between the impostor level and the match threshold (usability.testimony),
        which is no evidence either way. Only a frame that matched joins the anchors."""
        if self._anchor is not None:
            assert self._rest is not None
            rel = (yaw - self._rest[0], pitch - self._rest[1])
            score = self._poses.score(emb, *rel)
            if score is None:
                self._unjudged = "pose_unanchored"
                return None
        else:
            score = min((cosine(a, emb) for a in self._anchors), default=1.0)
        said = testimony(score, self.pipeline.threshold, self._usability)
        if said is Testimony.UNSURE:
            self._unjudged = "identity_unsure"
            return None
        if said is Testimony.OTHER:
            return score  # below the match threshold: the challenge ends the session (identity_changed)
        if self._anchor is not None:
            self._poses.admit(emb, *rel)
            return score
        self._anchors.append(emb)
        self._anchor_poses.append((yaw, pitch))
        if len(self._anchors) == self.config.anchor_frames:
            self._anchor = template(self._anchors)
            self._poses.set_frontal(self._anchor)
            self._rest = (float(np.median([p[0] for p in self._anchor_poses])),
                          float(np.median([p[1] for p in self._anchor_poses])))
            score = min([score] + [cosine(self._anchor, a) for a in self._anchors])
        return score

    def _of_another(self, emb: np.ndarray, rel_yaw: float, rel_pitch: float) -> bool:
        """Whether a frame that cannot testify is nonetheless plainly another person: below the impostor level
        (usability.testimony) against the anchors at its pose (or, while the frontal anchor forms, against its
        first frames). Nothing is admitted to the anchors."""
        if self._anchor is not None:
            score = self._poses.score(emb, rel_yaw, rel_pitch)
        else:
            score = min((cosine(a, emb) for a in self._anchors), default=None)
        return score is not None and testimony(score, self.pipeline.threshold, self._usability) is Testimony.OTHER

    def _template(self) -> tuple[np.ndarray | None, int, float]:
        best = sorted(self._good, key=lambda g: -g[0])[: self.config.template_frames]
        if not best:
            return None, 0, 0.0
        return template([e for _, e in best]), len(best), best[0][0]

    def result(self) -> LivenessResult:
        """The verdict from every witness, with the match template; before the challenge ends, INCONCLUSIVE."""
        self.flush()  # no check left in flight
        ch = self.challenge
        reasons: list[str] = []
        score = self.parallax.score()
        pad = session_pad_score(self._pad_scores) if self._pad_scores else None
        if ch.state is State.PASSED:
            reasons.append("challenge_passed")
            verdict = Verdict.LIVE
            if pad is None or len(self._pad_scores) < self.config.pad_min_frames:
                reasons.append("pad_unavailable")
                verdict = Verdict.INCONCLUSIVE
            elif pad < self.config.pad_spoof_below:
                reasons.append("pad_model_spoof")
                verdict = Verdict.SPOOF
            else:
                reasons.append("pad_model_ok")
            if score is None or score < self.config.min_parallax:
                reasons.append("planar_motion")
                verdict = Verdict.SPOOF
            else:
                reasons.append("parallax_ok")
        else:
            reasons.append(f"challenge_{ch.reason or 'incomplete'}")
            verdict = Verdict.SPOOF if ch.reason in _SPOOF_REASONS else Verdict.INCONCLUSIVE
        if self.recapture.attack:  # positive evidence of a replay device, whatever the other witnesses said
            reasons.append("recapture_device")
            verdict = Verdict.SPOOF
        emb, used, best_sharp = self._template()
        if verdict == Verdict.LIVE and emb is None:
            reasons.append("no_template")
            verdict = Verdict.INCONCLUSIVE
        return LivenessResult(
            verdict, reasons, score, self._frames, best_sharp, emb, self._busy_ms / max(1, self._frames),
            pad, len(self._pad_scores), self._identity_min, used, self._skipped, self._embedded,
            self._eye_frames, self.recapture.frames_seen,
        )
