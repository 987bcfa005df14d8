"""The liveness domain's own verdict: what a session concluded about the person in front of the camera.

Kept apart from the carrier's wire enum (``carrier_pb2.LivenessVerdict``) so the
liveness code never depends on the protocol; ``edge_agent/attest/liveness.py``
is the one place that maps it onto the wire.
"""

from __future__ import annotations

import enum

__all__ = ["Verdict"]


class Verdict(enum.Enum):
    """A session's conclusion; only LIVE may ever back a signed pass."""

    LIVE = "live"  # the challenge was done by a live, three-dimensional face that passed PAD
    SPOOF = "spoof"  # evidence of an attack: replay, flat motion, a face swap, the wrong action
    INCONCLUSIVE = "inconclusive"  # no evidence either way: timed out, left, too few PAD frames
    NOT_RUN = "not_run"  # no liveness session (match-only flows)
