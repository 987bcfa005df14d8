"""One verification at a time, run for the pages: the agent's stream in a thread, its events broadcast.

The reference photo lives only in the running call and is dropped when the
session ends; preview frames pass through memory to the pages and the
newest one is forgotten at the end. The clerk's panel reads ``status``:
state, decision, its outcome for the clerk (outcome.py), reason codes and the error of an interrupted session.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from edge_agent.errors import BadInput, EdgeAgentError, KioskBusy
from edge_agent.kiosk.agent_link import AgentLink
from edge_agent.kiosk.broadcast import Broadcast
from edge_agent.kiosk.events import customer_event, interrupted
from edge_agent.kiosk.outcome import outcome
from edge_agent.logs import log_event
from edge_agent.transaction import check_transaction_id

__all__ = ["Runner"]

log = logging.getLogger(__name__)


def _now_ms() -> float:
    return time.time() * 1000


@dataclass
class Runner:
    """Runs the kiosk's one verification at a time and broadcasts its events and preview frames to the pages."""

    link: AgentLink
    session_timeout_s: float = 120.0
    preview_width: int = 480
    preview_fps: int = 12
    result_hold_s: float = 15.0  # how long the customer screen shows the outcome before the welcome again
    events: Broadcast = field(default_factory=Broadcast)
    frames: Broadcast = field(default_factory=lambda: Broadcast(latest_only=True))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _state: dict[str, Any] = field(default_factory=lambda: {"state": "idle"})
    _current: dict[str, Any] = field(default_factory=lambda: {"type": "idle", "seq": 0})
    _seq: int = 0
    _thread: threading.Thread | None = None
    _result_token: str = ""

    def status(self) -> dict[str, Any]:
        """A copy of the clerk's view of the current or last session: state, txn, step, decision or error."""
        with self._lock:
            return dict(self._state)

    def result_token(self) -> str:
        """The last finished session's token for GetResult: kept here, never sent to a page."""
        with self._lock:
            return self._result_token

    def current(self) -> dict[str, Any]:
        """What a customer page that connects now should show."""
        with self._lock:
            cur = dict(self._current)
        if cur["type"] == "result" and _now_ms() - cur["t_ms"] > self.result_hold_s * 1000:
            return {"type": "idle", "seq": cur["seq"]}
        return cur

    def _emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            event = {**event, "seq": self._seq, "t_ms": _now_ms()}
            if event["type"] != "hint":  # a page that connects now needs the prompt, not a passing hint
                self._current = event
        self.events.publish(event)

    def start(self, txn: str, photo: bytes, preview: bool = True) -> None:
        """Start session ``txn`` in a thread; KioskBusy while another runs, BadInput for a bad txn or no photo."""
        check_transaction_id(txn)  # the agent's own rule: an id the agent would refuse is refused here
        if not photo:
            raise BadInput("no reference photo")
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise KioskBusy(f"a verification is already running ({self._state.get('txn')})")
            self._state = {"state": "running", "txn": txn, "started_ms": _now_ms()}
            self._result_token = ""
            self._thread = threading.Thread(target=self._run, args=(txn, photo, preview), name="kiosk-session",
                                            daemon=True)
            self._thread.start()

    def cancel(self) -> bool:
        """Ask the agent to cancel the running session; False when none is running."""
        txn = self.status().get("txn")
        return bool(txn) and self.status()["state"] == "running" and self.link.cancel(str(txn))

    def _run(self, txn: str, photo: bytes, preview: bool) -> None:
        self._emit({"type": "start", "result_hold_s": self.result_hold_s})
        if preview:
            threading.Thread(target=self._relay_preview, name="kiosk-preview", daemon=True).start()
        final: dict[str, Any] = {"state": "error", "txn": txn}
        try:
            for ev in self.link.verify(txn, photo, self.session_timeout_s):
                shown = customer_event(ev)
                if ev.WhichOneof("event") == "result":
                    r = ev.result
                    final = {"state": "finished", "txn": txn, "decision": r.decision, "liveness": r.liveness,
                             "outcome": outcome(r.decision, r.liveness, r.reason_codes),
                             "reason_codes": list(r.reason_codes), "counter": r.counter, "stored": r.stored}
                    with self._lock:
                        self._result_token = r.result_token
                if shown is not None:
                    self._emit({**shown, "result_hold_s": self.result_hold_s} if shown["type"] == "result"
                               else shown)
                    if shown["type"] == "prompt":
                        with self._lock:
                            self._state = {**self._state, "step": shown["step"], "steps": shown["steps"],
                                           "action": shown["action"]}
            if final["state"] != "finished":
                raise EdgeAgentError("the session stream ended without a result")
        except EdgeAgentError as exc:
            log_event(log, "kiosk_session_interrupted", logging.WARNING, txn=txn, code=exc.code)
            final = {"state": "error", "txn": txn, "error": f"{exc.code}: {exc}"}
            self._emit({**interrupted(), "result_hold_s": self.result_hold_s})
        finally:
            del photo
            with self._lock:
                self._state = {**final, "finished_ms": _now_ms()}

    def _relay_preview(self) -> None:
        try:
            for frame in self.link.preview(self.preview_width, self.preview_fps, wait_ms=5000):
                self.frames.publish(frame.jpeg)
        except EdgeAgentError as exc:
            log_event(log, "kiosk_preview_unavailable", logging.WARNING, code=exc.code)
        finally:
            self.frames.publish(None)  # the session ended: pages drop the last frame
