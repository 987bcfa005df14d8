"""Delivers the outbox to the carrier: in counter order, at least once, backing off when it cannot.

Only ``CarrierUnavailable`` (UNAVAILABLE, DEADLINE_EXCEEDED) is retried (with exponential backoff
and full jitter, so a fleet coming back online does not stampede). Any other
answer (``CarrierRefused``) is the carrier's final word on that record: it is marked rejected,
kept for the status report, and the next record goes out. A record is marked
acknowledged only after the carrier's ack arrives; a crash between the two
resends it, and the carrier's deduplication by transaction id returns the
original receipt.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.clock import Clock, SystemClock
from edge_agent.errors import CarrierRefused, CarrierUnavailable
from edge_agent.faults import crash_point
from edge_agent.logs import log_event
from edge_agent.outbox.store import Outbox

__all__ = ["DrainReport", "Sender"]

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

    def backoff_ms(self, attempts: int) -> int:
        """Full-jitter exponential backoff for a record tried ``attempts`` times."""
        return int(self.rng.uniform(0, min(self.cap_ms, self.base_ms * 2 ** min(attempts, 30))))

    def drain(self) -> DrainReport:
        """Send what is due until the outbox is empty or the carrier is unavailable."""
        acked = rejected = 0
        while True:
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
        """Drain until ``stop`` is set, sleeping until the next record is due."""
        while not stop.is_set():
            report = self.drain()
            wait = idle_s
            if report.waiting:
                rec = self.outbox.next_pending()
                if rec is not None:
                    wait = max(0.05, min(idle_s * 30, (rec.next_attempt_ms - self.clock.now_ms()) / 1000))
            stop.wait(wait)
