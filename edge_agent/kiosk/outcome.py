"""How the clerk's panel reads a finished session: pass, fail or inconclusive, and a text key per reason code.

A signed result has two decisions only (pass, fail), but a clerk at a busy counter must tell "this is not the
person, or an attack" (fail: do not hand over the goods) from "the check saw too little to say" (inconclusive:
the customer may simply try again). The split follows the signed liveness verdict and the match: a mismatch or
a SPOOF verdict is a fail whatever else; an INCONCLUSIVE (or missing) liveness verdict without a mismatch is
inconclusive. Reason codes are shown through the catalogue (``reason.<code>``); an unknown code keeps its key,
which the page shows as the raw code rather than nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["OUTCOMES", "outcome", "reason_key"]

OUTCOMES = ("pass", "fail", "inconclusive")
_FAIL_REASONS = {"face_mismatch", "pad_model_spoof", "planar_motion", "challenge_wrong_action",
                 "challenge_identity_changed"}


def outcome(decision: str, liveness: str, reasons: Iterable[str]) -> str:
    """``pass``, ``fail`` or ``inconclusive`` for the clerk, from the signed decision, liveness and reasons."""
    if decision == "pass":
        return "pass"
    if _FAIL_REASONS.intersection(reasons) or liveness in ("LIVENESS_SPOOF", "LIVENESS_LIVE"):
        return "fail"  # an attack, or a live face that is not the reference's
    return "inconclusive"


def reason_key(code: str) -> str:
    """The catalogue key of a reason code (``reason.face_match``)."""
    return f"reason.{code}"
