"""``edge-agent serve``: the terminal API over a Unix socket, one verification at a time.

Start-up never crashes on a bad device: a missing identity, a tampered model
or an unreadable outbox leaves the daemon running and answering Health with
the problem, while StartVerification answers FAILED_PRECONDITION. A camera
that disappears fails that session only. SIGTERM cancels the running
session (nothing is recorded for a session without a decision), stops the
API with a grace period and leaves the outbox consistent (every put is one
committed transaction).
"""

from __future__ import annotations

import grp
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import numpy as np

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc
from edge_agent._proto import carrier_pb2 as pb
from edge_agent.attest.result import parse_result, parse_signed
from edge_agent.camera.identity import PAIRING_FILE
from edge_agent.camera.source import CameraError, FrameSource, open_source
from edge_agent.carrier.client import CarrierClient
from edge_agent.carrier.sender import Sender
from edge_agent.config import Config
from edge_agent.device import DeviceState
from edge_agent.errors import BadInput, EdgeAgentError
from edge_agent.liveness.challenge import ChallengeConfig, random_actions
from edge_agent.liveness.session import LivenessConfig, LivenessSession
from edge_agent.modelset.install import model_directory
from edge_agent.outbox.store import Outbox, OutboxError
from edge_agent.recorder import ResultRecorder
from edge_agent.service.sdnotify import notify, watchdog_interval_s
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import decode_image
from edge_agent.vision.pipeline import FacePipeline

__all__ = ["Agent", "serve"]

log = logging.getLogger("edge_agent.service")


@dataclass
class Agent(apb_grpc.AgentServicer):
    """The servicer; everything it needs is passed in, so tests can build one around fakes."""

    config: Config
    pipeline: FacePipeline | None
    recorder: ResultRecorder | None
    client: CarrierClient | None
    device_id: str
    source_factory: Callable[[], FrameSource]
    problems: list[str] = field(default_factory=list)
    antispoof: AntiSpoof | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _active: str | None = None

    def Health(self, request: apb.HealthRequest, context: grpc.ServicerContext) -> apb.HealthResponse:
        backlog = self.recorder.outbox.backlog() if self.recorder else 0
        model_set = self.pipeline.manifest.version if self.pipeline else ""
        return apb.HealthResponse(healthy=not self.problems, problems=self.problems, outbox_backlog=backlog,
                                  model_set=model_set, session_active=self._active is not None,
                                  device_id=self.device_id)

    def Cancel(self, request: apb.CancelRequest, context: grpc.ServicerContext) -> apb.CancelResponse:
        if self._active is not None and self._active == request.transaction_id:
            self._cancel.set()
            return apb.CancelResponse(cancelled=True)
        return apb.CancelResponse(cancelled=False)

    def GetResult(self, request: apb.ResultRequest, context: grpc.ServicerContext) -> apb.ResultStatus:
        if self.recorder is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "agent unhealthy: " + "; ".join(self.problems))
        try:
            rec = self.recorder.outbox.get(request.transaction_id)
        except KeyError:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no result for transaction {request.transaction_id!r}")
        except OutboxError as exc:
            context.abort(grpc.StatusCode.DATA_LOSS, f"{exc.code}: {exc}")
        return apb.ResultStatus(transaction_id=rec.txn_id, state=rec.state, receipt_id=rec.receipt or "",
                                signed_result=rec.signed, counter=rec.counter, last_error=rec.last_error or "")

    def cancel_all(self) -> None:
        self._cancel.set()

    def StartVerification(self, request: apb.StartRequest,
                          context: grpc.ServicerContext) -> Iterator[apb.SessionEvent]:
        if self.problems or self.pipeline is None or self.recorder is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "agent unhealthy: " + "; ".join(self.problems))
        txn = request.transaction_id
        if not txn or len(txn) > 128:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "transaction_id must be 1-128 characters")
        if not self._lock.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "a verification is already running on this camera")
        try:
            self._active = txn
            self._cancel.clear()
            yield from self._session(request, context)
        finally:
            self._active = None
            self._lock.release()

    def _session(self, request: apb.StartRequest, context: grpc.ServicerContext) -> Iterator[apb.SessionEvent]:
        assert self.pipeline is not None and self.recorder is not None
        txn = request.transaction_id
        try:
            reference = self.pipeline.analyse(decode_image(bytes(request.reference_photo), name="reference photo"))
        except BadInput as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{exc.code}: {exc}")
        nonce = bytes(request.carrier_nonce)
        if not nonce:
            if self.client is None:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "no carrier configured and no nonce given")
            try:
                nonce = bytes(self.client.get_nonce(self.device_id, txn).nonce)
            except grpc.RpcError as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"carrier nonce unavailable: {exc.code().name}")
        cfg = self.config.liveness
        rng = random.Random(cfg.seed) if cfg.seed >= 0 else random.SystemRandom()
        actions = random_actions(rng, cfg.steps)
        session = LivenessSession(
            self.pipeline, self.pipeline.eye_landmarker(), actions,
            LivenessConfig(challenge=ChallengeConfig(step_timeout_ms=int(cfg.step_timeout_s * 1000))),
            antispoof=self.antispoof,
        )
        source = self.source_factory()
        hints = _HintThrottle()

        def frames() -> Iterator[tuple[np.ndarray, int]]:
            for frame in source.frames():
                if self._cancel.is_set() or not context.is_active():
                    log.info("session_cancelled txn=%s", txn)
                    context.abort(grpc.StatusCode.CANCELLED, "session cancelled; nothing was recorded")
                yield frame

        try:
            for t_ms, event in session.run(frames()):
                if event.kind == "prompt":
                    yield apb.SessionEvent(prompt=apb.Prompt(action=event.action or "", message=event.message,
                                                             step=event.step))
                elif event.kind == "progress":
                    yield apb.SessionEvent(progress=apb.Progress(fraction=event.progress, message=event.message))
                elif event.kind == "hint" and hints.due(event.message, t_ms):
                    yield apb.SessionEvent(hint=apb.Hint(message=event.message))
        except CameraError as exc:
            log.error("camera_failed txn=%s error=%s", txn, exc)
            context.abort(grpc.StatusCode.UNAVAILABLE, f"camera_error: {exc}")
        finally:
            source.close()
        live = session.result()
        match = live.match(reference.embedding, self.pipeline.threshold)
        try:
            record = self.recorder.record(txn, nonce, match, live.embedding, liveness=live.verdict,
                                          reasons=tuple(live.reasons))
        except OutboxError as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED if exc.code == "outbox_full"
                          else grpc.StatusCode.FAILED_PRECONDITION, f"{exc.code}: {exc}")
        # The summary is read back from what was signed, so the terminal never sees a second opinion.
        signed = parse_result(parse_signed(record.signed).result)
        decision = "pass" if signed.decision == pb.DECISION_PASS else "fail"
        log.info("session_done txn=%s decision=%s counter=%d", txn, decision, record.counter)
        yield apb.SessionEvent(result=apb.ResultSummary(
            transaction_id=txn, decision=decision, reason_codes=list(signed.reason_codes),
            liveness=pb.LivenessVerdict.Name(signed.liveness), counter=record.counter, stored=True))


@dataclass
class _HintThrottle:
    """The session emits a hint per frame; the customer needs one when it changes, or a reminder."""

    repeat_ms: int = 2000
    _last: str = ""
    _at_ms: int = -(10**9)

    def due(self, message: str, t_ms: int) -> bool:
        if message == self._last and t_ms - self._at_ms < self.repeat_ms:
            return False
        self._last, self._at_ms = message, t_ms
        return True


def build_agent(config: Config) -> tuple[Agent, Outbox | None]:
    """Everything the agent needs, collecting problems instead of raising them."""
    config = config.effective()
    problems: list[str] = []
    pipeline = antispoof = None
    try:
        models = model_directory(config.models.directory, Path(config.state_dir))
        pipeline = FacePipeline.from_directory(models, precision=config.models.precision,
                                               num_threads=config.models.threads)
        antispoof = AntiSpoof.require(pipeline.manifest)
    except EdgeAgentError as exc:
        problems.append(f"{exc.code}: {exc}")
    state = DeviceState(Path(config.state_dir))
    recorder = client = None
    outbox = None
    device_id = ""
    try:
        ident = state.identity()
        device_id = ident.device_id
        client = CarrierClient(config.carrier.target or ident.carrier_target, ident.credentials,
                               deadline_s=config.carrier.deadline_s)
        outbox = Outbox(state.outbox_path)
        if pipeline is not None:
            recorder = ResultRecorder(device_id, state.keys, outbox, pipeline.manifest.sha256,
                                      send_similarity=config.carrier.send_similarity)
    except EdgeAgentError as exc:
        problems.append(f"{exc.code}: {exc}")
    cam = config.camera
    agent = Agent(config, pipeline, recorder, client, device_id,
                  lambda: open_source(cam.source, width=cam.width, height=cam.height, fps=cam.fps,
                                      pairing=Path(config.state_dir) / PAIRING_FILE),
                  problems, antispoof)
    return agent, outbox


def _bind_unix(server: grpc.Server, path: Path, group: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    old = os.umask(0o117)  # socket created 0660
    try:
        server.add_insecure_port(f"unix:{path}")
    finally:
        os.umask(old)
    try:
        os.chown(path, -1, grp.getgrnam(group).gr_gid)
    except (KeyError, PermissionError):
        log.warning("socket_group_unset group=%s", group)


def serve(config: Config) -> int:
    from edge_agent.provision.lock import AgentRunning, agent_lock

    try:
        with agent_lock(Path(config.state_dir), "serve"):
            return _serve(config)
    except AgentRunning as exc:
        log.error("agent_already_running state=%s", config.state_dir)
        print(f"edge-agent: error: {exc}", file=sys.stderr, flush=True)
        return 3


def _serve(config: Config) -> int:
    agent, outbox = build_agent(config)
    if agent.problems:
        log.error("agent_unhealthy problems=%s", "; ".join(agent.problems))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)])
    apb_grpc.add_AgentServicer_to_server(agent, server)  # type: ignore[no-untyped-call]
    sock = Path(config.api.socket)
    _bind_unix(server, sock, config.api.socket_group)
    if config.api.tcp:
        server.add_insecure_port(config.api.tcp)
    server.start()

    stop = threading.Event()
    sender_thread = None
    if agent.client is not None and outbox is not None:
        sender_outbox = Outbox(outbox.path)
        sender = Sender(sender_outbox, agent.client.submit)
        sender_thread = threading.Thread(target=sender.run, args=(stop,), name="sender", daemon=True)
        sender_thread.start()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stopping signal=%d", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    notify("READY=1")
    print(f"edge-agent serving on unix:{sock}" + (f" and {config.api.tcp}" if config.api.tcp else ""), flush=True)
    interval = watchdog_interval_s()
    while not stop.wait(interval or 1.0):
        if interval:
            notify("WATCHDOG=1")
    notify("STOPPING=1")
    agent.cancel_all()
    server.stop(grace=10).wait()
    if sender_thread is not None:
        sender_thread.join(10)
    if outbox is not None:
        outbox.close()
    sock.unlink(missing_ok=True)
    print("edge-agent stopped", flush=True)
    return 0
