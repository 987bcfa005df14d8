"""Wall-clock time behind an interface, so tests can move time without sleeping."""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """Milliseconds since the epoch, behind an interface so tests can move time."""

    def now_ms(self) -> int:
        """Now, in milliseconds since the epoch."""
        ...


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        """Now, from ``time.time()``."""
        return time.time_ns() // 1_000_000


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, start_ms: int = 1_800_000_000_000) -> None:
        self.t = start_ms

    def now_ms(self) -> int:
        """The fake's current time."""
        return self.t

    def advance(self, ms: int) -> None:
        """Move time forward by ``ms``, as a test needs to pass a deadline or an expiry."""
        self.t += ms
