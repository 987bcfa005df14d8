"""The active challenge: a random sequence of blinks and head turns, as a pure state machine.

Feed it one ``FrameSignals`` per frame; it returns the events to show the
customer (prompts, progress, hints) and ends in PASSED or FAILED with a
reason. Rules:

* before each step the face must be frontal and steady (|yaw| <= frontal_deg
  for ``steady_frames`` frames), so a step is one deliberate action. "Frontal"
  is the customer's own resting pose: yaw is measured from the median of the
  first steady frames (within 2 x frontal_deg of the camera axis), since
  neither people nor terminals line up exactly;
* a turn counts when |yaw| >= turn_deg in the asked direction for
  ``hold_frames`` frames; turning the other way for as many frames (or
  turning during a blink step) fails the session (``wrong_action``):
  replayed footage performs its own order, not ours. One frame is not
  enough either way: a single misread pose must neither complete a step nor
  fail a real customer. The session calls it INCONCLUSIVE, not SPOOF: a real
  customer who glances aside or mishears a prompt does the same, so it is
  no evidence of an attack, only no evidence of a live person; the failure
  messages of such ends ask the customer to try again;
* a blink counts when eye openness falls below ``blink_close`` x the
  customer's own open-eye baseline and comes back above ``blink_open`` x it
  (hysteresis: noise between the two levels does nothing);
* each step has a time limit; the face may vanish for at most ``lost_ms``;
  a second face or an identity change (cosine to the session's anchors
  below ``identity_min``, which the session sets to the match threshold,
  and computes only on frames that can testify: ``usability.py``) fails the
  session at once.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from enum import StrEnum

from edge_agent.liveness.signals import FrameSignals

__all__ = ["Action", "Challenge", "ChallengeConfig", "Event", "EventKind", "State", "random_actions"]


class Action(StrEnum):
    """The three things a customer can be asked to do; ``random_actions`` draws their order."""

    BLINK = "blink"
    TURN_LEFT = "turn_left"
    TURN_RIGHT = "turn_right"


PROMPTS = {
    Action.BLINK: "blink slowly",
    Action.TURN_LEFT: "turn your head to your left",
    Action.TURN_RIGHT: "turn your head to your right",
}


class State(StrEnum):
    """Where the challenge stands: waiting for a steady frontal face, waiting for the prompted action, or over."""

    FRONTAL = "frontal"  # waiting for a steady frontal face before the next step
    ACTION = "action"  # waiting for the prompted action
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class ChallengeConfig:
    """The thresholds and time limits of the rules above; the session sets ``identity_min`` to the match threshold."""

    turn_deg: float = 18.0
    frontal_deg: float = 10.0
    hold_frames: int = 2
    steady_frames: int = 2
    blink_close: float = 0.78
    blink_open: float = 0.9
    step_timeout_ms: int = 5000
    frontal_timeout_ms: int = 5000
    lost_ms: int = 600
    # SFace cosine (the default embedder since model set 2026.12.1): different people score below ~0.41 (its
    # FMR 1e-4 threshold on lfw-dev), the same person's frontal frames seconds apart well above 0.5.
    identity_min: float = 0.5


class EventKind(StrEnum):
    """What a challenge event tells the customer; string-valued, so ``kind == "hint"`` still reads."""

    PROMPT = "prompt"  # do this action now
    PROGRESS = "progress"  # an action was done
    HINT = "hint"  # what to correct (face the camera, come closer...)
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class Event:
    """One thing the challenge says to the customer. No biometric data."""

    kind: EventKind
    message: str
    progress: float = 0.0
    step: int = -1
    action: str | None = None
    reason: str | None = None


def random_actions(rng: random.Random, n: int = 3) -> list[Action]:
    """``n`` actions, each of the three at most once per round of three, in random order."""
    pool: list[Action] = []
    while len(pool) < n:
        chunk = list(Action)
        rng.shuffle(chunk)
        pool += chunk
    return pool[:n]


@dataclass
class Challenge:
    """One customer's challenge: fed one frame's signals at a time, it prompts each action, then PASSED or FAILED."""

    actions: list[Action]
    config: ChallengeConfig = field(default_factory=ChallengeConfig)
    state: State = State.FRONTAL
    step: int = 0
    reason: str | None = None
    _since_ms: int | None = None
    _last_face_ms: int | None = None
    _steady: int = 0
    _held: int = 0
    _wrong: int = 0  # consecutive frames of the action not asked (a turn during a blink, the other way)
    _closed: bool = False
    _open_samples: list[float] = field(default_factory=list)
    _yaw_samples: list[float] = field(default_factory=list)

    def copy(self) -> Challenge:
        """An independent copy, to try a frame on without changing this challenge (its sample lists are its own)."""
        return dataclasses.replace(self, _open_samples=list(self._open_samples), _yaw_samples=list(self._yaw_samples))

    @property
    def done(self) -> bool:
        """Ended, PASSED or FAILED: later frames change nothing."""
        return self.state in (State.PASSED, State.FAILED)

    @property
    def progress(self) -> float:
        """The share of actions done, carried by every event so the screen can show it."""
        return self.step / len(self.actions) if self.actions else 1.0

    @property
    def baseline(self) -> float | None:
        """The customer's open-eye openness: median of steady frontal frames."""
        if len(self._open_samples) < 2:
            return None
        s = sorted(self._open_samples[-30:])
        return s[len(s) // 2]

    @property
    def yaw_rest(self) -> float | None:
        """The resting yaw (median of the first steady frames) that turns are measured from; None until then."""
        if len(self._yaw_samples) < self.config.steady_frames:
            return None
        s = sorted(self._yaw_samples[: 4 * self.config.steady_frames])
        return s[len(s) // 2]

    def _rel_yaw(self, yaw: float) -> float:
        return yaw - (self.yaw_rest or 0.0)

    # -- what a frame must show: the session asks these instead of re-deriving the rules ------------------
    def near_frontal(self, yaw: float, widen: float = 1.0) -> bool:
        """Whether ``yaw`` is within ``widen`` x frontal_deg of the resting yaw (of the camera axis until known)."""
        return abs(self._rel_yaw(yaw)) <= widen * self.config.frontal_deg

    @property
    def reads_eyes(self) -> bool:
        """Whether every frame's eye openness is needed now: during a blink step, and only then."""
        return self.state is State.ACTION and self.actions[self.step] is Action.BLINK

    def performs_step(self, yaw: float, eye_open: float | None) -> bool:
        """Whether a frame shows the action asked: eyes closed against the baseline during a blink, a head turned
        at least turn_deg (either way) during a turn; nothing outside a step."""
        if self.state is not State.ACTION:
            return False
        if self.reads_eyes:
            base = self.baseline
            return base is not None and eye_open is not None and eye_open < self.config.blink_close * base
        return abs(self._rel_yaw(yaw)) >= self.config.turn_deg

    def open_eyed(self, eye_open: float | None) -> bool:
        """Eyes read and open: at least 90 % of the open-eye baseline (any reading before the baseline exists)."""
        base = self.baseline
        return eye_open is not None and (base is None or eye_open >= 0.9 * base)

    def completes(self, signals: FrameSignals) -> bool:
        """Whether this frame would complete a step or the challenge, tried on a copy so this one is unchanged."""
        return any(e.kind in (EventKind.PROGRESS, EventKind.PASSED) for e in self.copy().update(signals))

    def _fail(self, reason: str, message: str) -> list[Event]:
        self.state, self.reason = State.FAILED, reason
        return [Event(EventKind.FAILED, message, self.progress, self.step, reason=reason)]

    def _prompt(self, t_ms: int) -> list[Event]:
        action = self.actions[self.step]
        self.state, self._since_ms, self._held, self._wrong, self._closed = State.ACTION, t_ms, 0, 0, False
        return [Event(EventKind.PROMPT, PROMPTS[action], self.progress, self.step, action.value)]

    def abort(self, reason: str, message: str) -> list[Event]:
        """End the session from outside the state machine (session time limit)."""
        return [] if self.done else self._fail(reason, message)

    def tick(self, t_ms: int) -> list[Event]:
        """A frame that counts for nothing (skipped as blurred): only the time limits move."""
        return [] if self.done else self._timeouts(t_ms)

    def update(self, s: FrameSignals) -> list[Event]:
        """One frame: a second face, another person or a face gone over ``lost_ms`` fails; else the step moves on."""
        if self.done:
            return []
        if self._since_ms is None:
            self._since_ms = s.t_ms
        if s.faces > 1:
            return self._fail("multiple_faces", "more than one face in view")
        if s.faces == 0:
            if self._last_face_ms is not None and s.t_ms - self._last_face_ms > self.config.lost_ms:
                return self._fail("face_lost", "please try again, keep your face in view")
            return self._timeouts(s.t_ms) or [Event(EventKind.HINT, "look at the camera", self.progress, self.step)]
        self._last_face_ms = s.t_ms
        if s.identity is not None and s.identity < self.config.identity_min:
            return self._fail("identity_changed", "a different person appeared during the check")
        if self.state is State.FRONTAL:
            return self._frontal(s)
        return self._action(s)

    def _timeouts(self, t_ms: int) -> list[Event]:
        assert self._since_ms is not None
        limit = self.config.step_timeout_ms if self.state is State.ACTION else self.config.frontal_timeout_ms
        if t_ms - self._since_ms > limit:
            what = self.actions[self.step].value if self.state is State.ACTION else "face the camera"
            return self._fail("timeout", f"too slow: {what}")
        return []

    def _frontal(self, s: FrameSignals) -> list[Event]:
        c = self.config
        rest = self.yaw_rest
        yaw = self._rel_yaw(s.yaw)
        if rest is None and abs(s.yaw) <= 2 * c.frontal_deg:
            self._yaw_samples.append(s.yaw)
            yaw = 0.0
        if abs(yaw) <= c.frontal_deg:
            self._steady += 1
            base = self.baseline
            if s.eye_open is not None and (base is None or s.eye_open >= c.blink_open * base):
                self._open_samples.append(s.eye_open)
        else:
            self._steady = 0
        if self._steady >= c.steady_frames and self.baseline is not None and self.yaw_rest is not None:
            self._steady = 0
            if self.step >= len(self.actions):
                self.state = State.PASSED
                return [Event(EventKind.PASSED, "thank you", 1.0, self.step)]
            return self._prompt(s.t_ms)
        return self._timeouts(s.t_ms) or (
            [Event(EventKind.HINT, "look straight at the camera", self.progress, self.step)] if abs(yaw) > c.frontal_deg
            else []
        )

    def _action(self, s: FrameSignals) -> list[Event]:
        c = self.config
        action = self.actions[self.step]
        yaw = self._rel_yaw(s.yaw)
        if action is Action.BLINK:
            self._wrong = self._wrong + 1 if abs(yaw) >= c.turn_deg else 0
            if self._wrong >= c.hold_frames:
                return self._fail("wrong_action", "please try again: blink while looking at the camera")
            if s.eye_open is None:  # openness not measured: this frame says nothing about the blink
                return self._timeouts(s.t_ms)
            base = self.baseline or s.eye_open
            if not self._closed and s.eye_open < c.blink_close * base:
                self._closed = True
            elif self._closed and s.eye_open > c.blink_open * base:
                return self._complete(s.t_ms)
        else:
            sign = 1.0 if action is Action.TURN_LEFT else -1.0
            self._wrong = self._wrong + 1 if sign * yaw <= -c.turn_deg else 0
            if self._wrong >= c.hold_frames:
                return self._fail("wrong_action", "please try again: turn your head the way the screen asks")
            self._held = self._held + 1 if sign * yaw >= c.turn_deg else 0
            if self._held >= c.hold_frames:
                return self._complete(s.t_ms)
        return self._timeouts(s.t_ms)

    def _complete(self, t_ms: int) -> list[Event]:
        self.step += 1
        self.state, self._since_ms, self._steady = State.FRONTAL, t_ms, 0
        msg = "done" if self.step >= len(self.actions) else "now look straight at the camera"
        return [Event(EventKind.PROGRESS, msg, self.progress, self.step - 1, self.actions[self.step - 1].value)]
