"""ISO/IEC 30107-3 error rates of the passive decision over a labelled set of presentations.

Pure logic. The project's own APCER / BPCER figures rest on eight generated
clips and made-up replays; the figures that count come from a pilot's
footage: real customers at the kiosk and real attacks filmed with real
phones, monitors and prints. ``edge-agent pad-eval`` walks such a folder and
hands each presentation's outcome to ``summarise``.

Counting, fail closed and stated in the output:

* BPCER = bona fide presentations not accepted / bona fide presentations.
  A presentation with no decision (unreadable, no usable face) counts as
  not accepted: the customer was refused. It is also counted apart.
* APCER per attack species = attacks accepted / attacks of that species.
  An attack with no decision was not accepted. The worst species is
  reported too (30107-3's APCER of the most successful species), since an
  attacker picks the species that works.
* Each rate carries a one-sided 95 % Clopper-Pearson upper bound: 0 errors
  in 8 presentations bounds the rate only below 31 %, which a bare "0 %"
  hides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["BONA_FIDE", "Outcome", "summarise", "upper_bound"]

BONA_FIDE = "bona_fide"
DECISIONS = ("bona_fide", "attack", "no_decision")


@dataclass(frozen=True)
class Outcome:
    """One presentation: what it was (``BONA_FIDE`` or an attack species) and what the decision said."""

    name: str
    truth: str  # BONA_FIDE, or the attack species (the folder it came from)
    decision: str  # one of DECISIONS
    score: float | None = None
    error: str | None = None  # the refusal code when there was no decision

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {self.decision!r}")


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k), X ~ Binomial(n, p), 0 < p < 1; each term in log space (math.comb(5000, 300) is no float)."""
    log_p, log_q = math.log(p), math.log1p(-p)
    return sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p
                        + (n - i) * log_q) for i in range(k + 1))


def upper_bound(errors: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on an error rate seen as ``errors`` in ``n``.

    The p at which seeing ``errors`` or fewer has probability 1 - confidence;
    bisection, since the binomial CDF falls monotonically in p.
    """
    if not 0 <= errors <= n or n == 0:
        raise ValueError(f"need 0 <= errors <= n and n > 0, got {errors} of {n}")
    if errors == n:
        return 1.0
    low, high = errors / n, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if _binom_cdf(errors, n, mid) > 1 - confidence:
            low = mid
        else:
            high = mid
    return high


def _rate(errors: int, count: int, no_decision: int) -> dict[str, Any]:
    return {"count": count, "errors": errors, "no_decision": no_decision,
            "rate": round(errors / count, 4), "upper_95": round(upper_bound(errors, count), 4)}


def summarise(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    """BPCER, APCER per species and at the worst species; a kind with no presentations is left out."""
    items = list(outcomes)
    out: dict[str, Any] = {"presentations": len(items)}
    bona = [o for o in items if o.truth == BONA_FIDE]
    if bona:
        out["bpcer"] = _rate(sum(o.decision != "bona_fide" for o in bona), len(bona),
                             sum(o.decision == "no_decision" for o in bona))
    species = sorted({o.truth for o in items} - {BONA_FIDE})
    apcer = {}
    for s in species:
        attacks = [o for o in items if o.truth == s]
        apcer[s] = _rate(sum(o.decision == "bona_fide" for o in attacks), len(attacks),
                         sum(o.decision == "no_decision" for o in attacks))
    if apcer:
        out["apcer"] = apcer
        worst = max(species, key=lambda s: (apcer[s]["rate"], apcer[s]["upper_95"]))
        out["apcer_worst"] = {"species": worst, **apcer[worst]}
    return out
