"""The liveness verdict on the wire: the one mapping from the domain's ``Verdict`` to ``carrier_pb2``."""

from __future__ import annotations

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.liveness.verdict import Verdict

__all__ = ["liveness_name", "liveness_to_proto"]

_TO_PROTO = {
    Verdict.LIVE: pb.LIVENESS_LIVE,
    Verdict.SPOOF: pb.LIVENESS_SPOOF,
    Verdict.INCONCLUSIVE: pb.LIVENESS_INCONCLUSIVE,
    Verdict.NOT_RUN: pb.LIVENESS_NOT_RUN,
}


def liveness_to_proto(verdict: Verdict) -> int:
    """The ``carrier_pb2.LivenessVerdict`` value signed into a result."""
    return _TO_PROTO[verdict]


def liveness_name(verdict: Verdict) -> str:
    """The wire name (``LIVENESS_LIVE``...), as the CLI and the agent API print it."""
    return pb.LivenessVerdict.Name(_TO_PROTO[verdict])
