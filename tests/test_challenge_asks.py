"""The challenge says what a frame must show (the session asks instead of re-deriving the rules): pure logic."""

from __future__ import annotations

from test_challenge import CLOSED, OPEN, B, Clip, L, play

from edge_agent.liveness.challenge import Challenge, State
from edge_agent.liveness.signals import FrameSignals


def test_eyes_are_read_only_during_a_blink_step() -> None:
    assert not Challenge([B]).reads_eyes  # still frontal: no step yet
    blink = play([B], Clip().hold(6))
    assert blink.state is State.ACTION and blink.reads_eyes
    assert not play([L], Clip().hold(6)).reads_eyes


def test_a_frame_performs_the_step_asked_and_nothing_outside_a_step() -> None:
    blink = play([B], Clip().hold(6))
    assert blink.performs_step(0.0, CLOSED) and not blink.performs_step(0.0, OPEN)
    assert not blink.performs_step(0.0, None)
    turn = play([L], Clip().hold(6))
    assert turn.performs_step(30.0, None) and turn.performs_step(-30.0, None) and not turn.performs_step(5.0, None)
    assert not Challenge([L]).performs_step(30.0, None)


def test_frontal_and_open_eyes_are_measured_from_the_customer_at_rest() -> None:
    ch = play([B], Clip().hold(6, yaw=6.0))
    assert ch.yaw_rest == 6.0 and ch.near_frontal(15.0) and not ch.near_frontal(-5.0)
    assert ch.near_frontal(-5.0, widen=2)
    assert ch.open_eyed(OPEN) and not ch.open_eyed(CLOSED) and not ch.open_eyed(None)
    assert Challenge([B]).open_eyed(CLOSED)  # no baseline yet: any reading


def test_completes_tries_the_frame_on_a_copy() -> None:
    clip = Clip().hold(6).hold(2, eye_open=CLOSED)
    ch = play([B], clip)
    reopen = FrameSignals(clip.t, 1, OPEN, 0.0)
    assert ch.completes(reopen) and ch.state is State.ACTION  # unchanged
    assert not ch.completes(FrameSignals(clip.t, 1, CLOSED, 0.0))
