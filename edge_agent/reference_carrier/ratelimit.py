"""Per-device nonce issuance limit: a token bucket per device id, in each replica's memory.

One enrolled identity used to create 1,273 nonce rows a second (every row lives until it expires): a device
that is stolen or buggy could fill the carrier's database. A terminal needs one nonce per customer, a few a
minute; the default allows a burst of 30 and 2 a second after that, per replica. Beyond it the caller gets
RESOURCE_EXHAUSTED ``nonce_rate_limited`` (retry later), and the event is logged once per second per device.
"""

from __future__ import annotations

import threading

__all__ = ["TokenBuckets"]


class TokenBuckets:
    """``allow(key, now_s)``: whether ``key`` may have one more, refilling ``rate`` a second up to ``burst``."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, key: str, now_s: float) -> bool:
        """Take one token for ``key`` if there is one."""
        with self._lock:
            tokens, at = self._buckets.get(key, (self.burst, now_s))
            tokens = min(self.burst, tokens + max(0.0, now_s - at) * self.rate)
            allowed = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if allowed else tokens, now_s)
            if len(self._buckets) > self.max_keys:  # forget the full buckets: they are the default anyway
                full = [k for k, (t, a) in self._buckets.items() if t + (now_s - a) * self.rate >= self.burst]
                for k in full:
                    del self._buckets[k]
            return allowed
