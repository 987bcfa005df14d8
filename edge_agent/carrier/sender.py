"""Delivers the outbox to the carrier: in counter order, at least once, backing off when it cannot.

Only ``CarrierUnavailable`` (UNAVAILABLE, DEADLINE_EXCEEDED) is retried (with exponential backoff
and full jitter, so a fleet coming back online does not stampede). Any other
answer (``CarrierRefused``) is the carrier's final word on that record: it is marked rejected,
kept for the status report, and the next record goes out. A record is marked
acknowledged only after the carrier's ack arrives; a crash between the two
resends it, and the carrier's deduplication by transaction id returns the
original receipt.

``run`` never stops on its own: any other failure (a full disk under the outbox, a broken
connection to it, a bug) is logged as one line with its code and retried with the same backoff,
so delivery resumes by itself once the fault clears. ``SenderWatch`` tells Health and the
systemd watchdog when the sender thread died or stopped making rounds, so it cannot go quiet.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.clock import Clock, SystemClock
from edge_agent.errors import CarrierRefused, CarrierUnavailable, EdgeAgentError
from edge_agent.faults import crash_point
from edge_agent.logs import log_event
from edge_agent.outbox.store import Outbox

__all__ = ["DrainReport", "Sender", "SenderWatch"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainReport:
    """What one drain did: records acknowledged, rejected, and whether it stopped to wait."""

    acked: int
    rejected: int
    waiting: bool  # a retryable failure stopped the drain; records remain pending


class Sender:
    """Delivers the outbox in counter order through ``submit`` (``Carrier.submit``)."""

    def __init__(self, outbox: Outbox, submit: Callable[[bytes], pb.SubmitAck], *, clock: Clock | None = None,
                 rng: random.Random | None = None, base_ms: int = 500, cap_ms: int = 60_000) -> None:
        self.outbox = outbox
        self.submit = submit
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.beat = time.monotonic()  # the last time the loop made progress (a round or a record)
        self.failures = 0  # consecutive rounds that ended in an error
        self.last_error = ""

    def backoff_ms(self, attempts: int) -> int:
        """Full-jitter exponential backoff for a record tried ``attempts`` times."""
        return int(self.rng.uniform(0, min(self.cap_ms, self.base_ms * 2 ** min(attempts, 30))))

    def drain(self) -> DrainReport:
        """Send what is due until the outbox is empty or the carrier is unavailable."""
        acked = rejected = 0
        while True:
            self.beat = time.monotonic()
            rec = self.outbox.next_pending()
            if rec is None:
                return DrainReport(acked, rejected, False)
            now = self.clock.now_ms()
            if rec.next_attempt_ms > now:
                return DrainReport(acked, rejected, True)
            crash_point("sender.before_submit")
            try:
                ack = self.submit(rec.signed)
            except CarrierUnavailable as exc:
                self.outbox.mark_retry(rec.txn_id, f"{exc.status}: {exc.detail}", now + self.backoff_ms(rec.attempts))
                log_event(log, "submit_retry", logging.WARNING, txn=rec.txn_id, attempt=rec.attempts + 1,
                          code=exc.status)
                return DrainReport(acked, rejected, True)
            except CarrierRefused as exc:
                self.outbox.mark_rejected(rec.txn_id, f"{exc.status}: {exc.detail}")
                log_event(log, "submit_rejected", logging.ERROR, txn=rec.txn_id, code=exc.status)
                rejected += 1
                continue
            crash_point("sender.after_submit")
            self.outbox.mark_acked(rec.txn_id, ack.receipt_id, ack.accepted_at_unix_ms)
            log_event(log, "submit_acked", txn=rec.txn_id, duplicate=ack.duplicate)
            acked += 1

    def run(self, stop: threading.Event, idle_s: float = 1.0) -> None:
        """Drain until ``stop`` is set, sleeping until the next record is due; an error waits and tries again."""
        while not stop.is_set():
            self.beat = time.monotonic()
            try:
                wait = self._round(idle_s)
            except Exception as exc:  # the sender must outlive any single failure
                self.failures += 1
                code = exc.code if isinstance(exc, EdgeAgentError) else type(exc).__name__
                self.last_error = f"{code}: {exc}"
                wait = max(0.05, self.backoff_ms(self.failures) / 1000)
                log_event(log, "sender_error", logging.ERROR, code=code, failures=self.failures,
                          retry_s=round(wait, 2))
            else:
                if self.failures:
                    log_event(log, "sender_recovered", failures=self.failures)
                self.failures, self.last_error = 0, ""
            stop.wait(wait)

    def _round(self, idle_s: float) -> float:
        report = self.drain()
        wait = idle_s
        if report.waiting:
            rec = self.outbox.next_pending()
            if rec is not None:
                wait = max(0.05, min(idle_s * 30, (rec.next_attempt_ms - self.clock.now_ms()) / 1000))
        return wait


class SenderWatch:
    """Whether the sender thread still delivers: for Health (a reason) and the systemd watchdog (alive or not).

    Stuck means no round and no record for ``stuck_after_s``: longer than the longest wait between rounds
    (``cap_ms``) plus a carrier deadline, so a slow carrier is not mistaken for a hung sender.
    """

    def __init__(self, sender: Sender, thread: threading.Thread, stuck_after_s: float = 300.0) -> None:
        self.sender, self.thread, self.stuck_after_s = sender, thread, stuck_after_s

    def alive(self) -> bool:
        """False when the thread died or is stuck: the watchdog is then no longer fed."""
        return self.thread.is_alive() and time.monotonic() - self.sender.beat < self.stuck_after_s

    def problem(self) -> str:
        """Why delivery is not working ("" when it is)."""
        if not self.thread.is_alive():
            return "sender_dead: the delivery thread has stopped; results are not being sent"
        idle = time.monotonic() - self.sender.beat
        if idle >= self.stuck_after_s:
            return f"sender_stuck: no delivery round for {idle:.0f} s"
        if self.sender.failures:
            return f"sender_failing: {self.sender.failures} rounds failed, retrying ({self.sender.last_error})"
        return ""
