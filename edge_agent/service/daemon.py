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
import hmac
import logging
import os
import random
import re
import secrets
import signal
import sys
import threading
import time
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
from edge_agent.camera.identity import PAIRING_FILE, CameraIdentity
from edge_agent.camera.source import CameraError, FrameSource, open_source
from edge_agent.carrier.client import CarrierClient
from edge_agent.carrier.sender import Sender
from edge_agent.config import Config, ConfigError, check_api
from edge_agent.device import DeviceState
from edge_agent.errors import BadInput, EdgeAgentError
from edge_agent.liveness.challenge import ChallengeConfig, random_actions
from edge_agent.liveness.session import LivenessConfig, LivenessSession
from edge_agent.logs import log_event
from edge_agent.modelset.install import model_directory
from edge_agent.outbox.store import COUNTER_FILE, Outbox, OutboxCorrupt, OutboxError
from edge_agent.recorder import ResultRecorder
from edge_agent.service.preview import PreviewHub
from edge_agent.service.sdnotify import notify, watchdog_interval_s
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.image import decode_image
from edge_agent.vision.pipeline import FacePipeline, reference_format_of

__all__ = ["NONCE_BYTES", "TXN_ID", "Agent", "serve"]

log = logging.getLogger(__name__)

# Transaction ids travel into logs, the outbox and the carrier: a safe alphabet means no log line can be
# forged with spaces or "key=value" text, and no id can be mistaken for another.
TXN_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
NONCE_BYTES = (16, 64)  # a carrier nonce is 16-32 random bytes; more is an oversize result, less is guessable


def _refuse(context: grpc.ServicerContext, code: grpc.StatusCode, reason: str, message: str) -> None:
    """Abort a request with ``reason: message``, logged once as one line (no traceback, no request data)."""
    log_event(log, "request_refused", logging.WARNING, code=code.name, reason=reason)
    context.abort(code, f"{reason}: {message}")


def _check_txn(context: grpc.ServicerContext, txn: str) -> None:
    if not TXN_ID.fullmatch(txn):
        _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "bad_transaction_id",
                "transaction_id must be 1-64 characters of A-Z a-z 0-9 . _ : -")


def _check_nonce(nonce: bytes) -> str | None:
    low, high = NONCE_BYTES
    if not low <= len(nonce) <= high:
        return f"carrier nonce must be {low}-{high} bytes, got {len(nonce)}"
    return None


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
    warnings: list[str] = field(default_factory=list)  # not fatal, e.g. terminals cannot reach the socket
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _cancel: threading.Event = field(default_factory=threading.Event)
    _active: str | None = None
    preview: PreviewHub = field(default_factory=PreviewHub)
    _camera_error: str = ""
    # txn -> (result token, monotonic end time) of sessions that ended within config.api.result_window_s
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock_tokens: threading.Lock = field(default_factory=threading.Lock)

    def Health(self, request: apb.HealthRequest, context: grpc.ServicerContext) -> apb.HealthResponse:
        backlog = self.recorder.outbox.backlog() if self.recorder else 0
        model_set = self.pipeline.manifest.version if self.pipeline else ""
        last_ack = self.recorder.outbox.last_acked_ms() if self.recorder else 0
        return apb.HealthResponse(healthy=not self.problems, problems=self.problems, outbox_backlog=backlog,
                                  model_set=model_set, session_active=self._active is not None,
                                  device_id=self.device_id, camera_source=self.config.camera.source,
                                  camera_error=self._camera_error, last_carrier_ack_unix_ms=last_ack,
                                  warnings=self.warnings)

    def Cancel(self, request: apb.CancelRequest, context: grpc.ServicerContext) -> apb.CancelResponse:
        _check_txn(context, request.transaction_id)
        if self._active is not None and self._active == request.transaction_id:
            self._cancel.set()
            return apb.CancelResponse(cancelled=True)
        return apb.CancelResponse(cancelled=False)

    def _remember(self, txn: str) -> str:
        """A fresh result token for ``txn``; tokens older than the result window are forgotten."""
        now = time.monotonic()
        with self._lock_tokens:
            for old in [t for t, (_, at) in self._tokens.items() if now - at > self.config.api.result_window_s]:
                del self._tokens[old]
            token = secrets.token_urlsafe(18)
            self._tokens[txn] = (token, now)
        return token

    def _owns(self, txn: str, token: str) -> bool:
        with self._lock_tokens:
            known = self._tokens.get(txn)
        if known is None or time.monotonic() - known[1] > self.config.api.result_window_s:
            return False
        return hmac.compare_digest(known[0].encode(), token.encode())

    def GetResult(self, request: apb.ResultRequest, context: grpc.ServicerContext) -> apb.ResultStatus:
        """Only the client that ran the session (it holds the result token), and only within the window.

        Any other request gets the same NOT_FOUND as an unknown id: which transactions this device has
        verified is not for every socket client to learn.
        """
        _check_txn(context, request.transaction_id)
        if self.recorder is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "agent_unhealthy: " + "; ".join(self.problems))
        if not self._owns(request.transaction_id, request.result_token):
            _refuse(context, grpc.StatusCode.NOT_FOUND, "no_result",
                    "no result for this transaction and result token (results are kept for "
                    f"{self.config.api.result_window_s:g} s after the session, for the client that ran it)")
        try:
            rec = self.recorder.outbox.get(request.transaction_id)
        except KeyError:
            context.abort(grpc.StatusCode.NOT_FOUND, "no_result: the result is no longer in the outbox")
        except OutboxError as exc:
            context.abort(grpc.StatusCode.DATA_LOSS, f"{exc.code}: {exc}")
        return apb.ResultStatus(transaction_id=rec.txn_id, state=rec.state, receipt_id=rec.receipt or "",
                                signed_result=rec.signed, counter=rec.counter, last_error=rec.last_error or "")

    def Preview(self, request: apb.PreviewRequest, context: grpc.ServicerContext) -> Iterator[apb.PreviewFrame]:
        if not self.preview.watch():
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "the preview is already being watched")
        try:
            for img in self.preview.frames(request.max_width, request.max_fps, request.wait_ms, context.is_active):
                yield apb.PreviewFrame(jpeg=img.jpeg, width=img.width, height=img.height,
                                       transaction_id=img.transaction_id)
        finally:
            self.preview.unwatch()

    def cancel_all(self) -> None:
        self._cancel.set()

    def StartVerification(self, request: apb.StartRequest,
                          context: grpc.ServicerContext) -> Iterator[apb.SessionEvent]:
        if self.problems or self.pipeline is None or self.recorder is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "agent_unhealthy: " + "; ".join(self.problems))
        txn = request.transaction_id
        _check_txn(context, txn)
        if request.carrier_nonce and (problem := _check_nonce(bytes(request.carrier_nonce))):
            _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "bad_nonce", problem)
        self._check_unused(txn, context)
        if not self._lock.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "a verification is already running on this camera")
        try:
            self._active = txn
            self._cancel.clear()
            self.preview.start(txn)
            yield from self._session(request, context)
        finally:
            self.preview.end()
            self._active = None
            self._lock.release()

    def _check_unused(self, txn: str, context: grpc.ServicerContext) -> None:
        """A transaction id gets one result: refuse a reused one before the customer does the challenge."""
        assert self.recorder is not None
        try:
            self.recorder.outbox.get(txn)
        except KeyError:
            return
        except OutboxCorrupt as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{exc.code}: {exc}")
        _refuse(context, grpc.StatusCode.ALREADY_EXISTS, "duplicate_transaction",
                "this transaction id already has a signed result on this device; start a new transaction")

    def _session(self, request: apb.StartRequest, context: grpc.ServicerContext) -> Iterator[apb.SessionEvent]:
        assert self.pipeline is not None and self.recorder is not None
        txn = request.transaction_id
        try:
            reference_rgb = decode_image(bytes(request.reference_photo), name="reference photo")
            reference = self.pipeline.analyse(reference_rgb)
        except BadInput as exc:
            _refuse(context, grpc.StatusCode.INVALID_ARGUMENT, exc.code, str(exc))
        nonce = bytes(request.carrier_nonce)
        if not nonce:
            if self.client is None:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                              "no_nonce: no carrier is configured to issue a nonce and the request gave none")
            try:
                nonce = bytes(self.client.get_nonce(self.device_id, txn).nonce)
            except grpc.RpcError as exc:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"carrier nonce unavailable: {exc.code().name}")
            if problem := _check_nonce(nonce):
                _refuse(context, grpc.StatusCode.UNAVAILABLE, "bad_carrier_nonce", problem)
        started = time.monotonic()
        log_event(log, "session_started", txn=txn)
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
                    log_event(log, "session_cancelled", txn=txn)
                    context.abort(grpc.StatusCode.CANCELLED, "session cancelled; nothing was recorded")
                self.preview.publish(frame[0])
                self._camera_error = ""
                yield frame

        try:
            for t_ms, event in session.run(frames()):
                if event.kind == "prompt":
                    yield apb.SessionEvent(prompt=apb.Prompt(action=event.action or "", message=event.message,
                                                             step=event.step, steps=len(actions),
                                                             time_limit_ms=int(cfg.step_timeout_s * 1000)))
                elif event.kind == "progress":
                    yield apb.SessionEvent(progress=apb.Progress(fraction=event.progress, message=event.message))
                elif event.kind == "hint" and hints.due(event.message, t_ms):
                    yield apb.SessionEvent(hint=apb.Hint(message=event.message))
        except CameraError as exc:
            log_event(log, "camera_failed", logging.ERROR, txn=txn, error=str(exc))
            self._camera_error = str(exc)
            context.abort(grpc.StatusCode.UNAVAILABLE, f"camera_error: {exc}")
        finally:
            source.close()
        identity = getattr(source, "identity", None)  # a camera's, checked against the pairing; None for a file
        live = session.result()
        match = live.match(reference.embedding, self.pipeline.threshold_for(reference_format_of(reference_rgb)))
        try:
            record = self.recorder.record(txn, nonce, match, live.embedding, liveness=live.verdict,
                                          reasons=tuple(live.reasons),
                                          camera=identity.digest if isinstance(identity, CameraIdentity) else b"")
        except OutboxError as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED if exc.code == "outbox_full"
                          else grpc.StatusCode.FAILED_PRECONDITION, f"{exc.code}: {exc}")
        # The summary is read back from what was signed, so the terminal never sees a second opinion.
        signed = parse_result(parse_signed(record.signed).result)
        decision = "pass" if signed.decision == pb.DECISION_PASS else "fail"
        log_event(log, "session_done", txn=txn, decision=decision, liveness=pb.LivenessVerdict.Name(signed.liveness),
                  counter=record.counter, duration_ms=round((time.monotonic() - started) * 1000))
        yield apb.SessionEvent(result=apb.ResultSummary(
            transaction_id=txn, decision=decision, reason_codes=list(signed.reason_codes),
            liveness=pb.LivenessVerdict.Name(signed.liveness), counter=record.counter, stored=True,
            result_token=self._remember(txn)))


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
        t0 = time.monotonic()
        pipeline = FacePipeline.from_directory(models, precision=config.models.precision,
                                               num_threads=config.models.threads)
        antispoof = AntiSpoof.require(pipeline.manifest)
        log_event(log, "models_loaded", model_set=pipeline.manifest.version,
                  ms=round((time.monotonic() - t0) * 1000))
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
        outbox = Outbox(state.outbox_path, counter_file=state.root / COUNTER_FILE)
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


def _bind_unix(server: grpc.Server, path: Path, group: str) -> str | None:
    """Binds the terminal socket (0660, group ``group``); returns why a terminal cannot reach it, if so.

    Not systemd socket activation: grpcio's wheels cannot serve on an inherited
    listening fd. The unit gives the agent the terminal group as a supplementary
    group (so it may chgrp its own socket) and a runtime folder others may pass through.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    old = os.umask(0o117)  # socket created 0660
    try:
        server.add_insecure_port(f"unix:{path}")
    finally:
        os.umask(old)
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        return f"socket_group: group {group!r} does not exist, so no terminal can open {path}"
    try:
        os.chown(path, -1, gid)
    except OSError as exc:
        return (f"socket_group: cannot give {path} to group {group!r} ({exc.strerror}): the agent's user must be "
                f"a member (SupplementaryGroups= in edge-agent.service)")
    for folder in path.parents:
        st = folder.stat()
        if not (st.st_mode & 0o001 or (st.st_gid == gid and st.st_mode & 0o010)):
            return f"socket_group: group {group!r} cannot pass through {folder} (mode {st.st_mode & 0o777:o})"
    return None


PRUNE_EVERY_S = 3600.0


def _prune(path: Path, config: Config) -> None:
    """Acknowledged records past the retention go; on its own connection (a connection is one thread's)."""
    try:
        box = Outbox(path)
        try:
            n = box.prune(int(config.outbox.retention_days * 86_400_000))
        finally:
            box.close()
    except OutboxError as exc:
        log_event(log, "outbox_prune_failed", logging.ERROR, code=exc.code)
        return
    if n:
        log_event(log, "outbox_pruned", records=n)


def _tcp_credentials(config: Config) -> grpc.ServerCredentials | None:
    """``api.tcp``: plaintext (None) on loopback only (``check_api``), else mutual TLS with the terminals' CA."""
    api = config.api
    check_api(api)
    if not api.tls_cert:
        return None
    try:
        cert, key, ca = (Path(p).read_bytes() for p in (api.tls_cert, api.tls_key, api.tls_client_ca))
    except OSError as exc:
        raise ConfigError(f"api.tls_*: cannot read {exc.filename}: {exc.strerror}") from None
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=True)


def serve(config: Config) -> int:
    from edge_agent.provision.lock import AgentRunning, agent_lock

    try:
        tcp_credentials = _tcp_credentials(config) if config.api.tcp else None
    except ConfigError as exc:
        log_event(log, "config_refused", logging.ERROR, code=exc.code)
        print(f"edge-agent: error: {exc}", file=sys.stderr, flush=True)
        return 2
    try:
        with agent_lock(Path(config.state_dir), "serve"):
            return _serve(config, tcp_credentials)
    except AgentRunning as exc:
        log_event(log, "agent_already_running", logging.ERROR, state=config.state_dir)
        print(f"edge-agent: error: {exc}", file=sys.stderr, flush=True)
        return 3


def _serve(config: Config, tcp_credentials: grpc.ServerCredentials | None) -> int:
    agent, outbox = build_agent(config)
    if agent.problems:
        log_event(log, "agent_unhealthy", logging.ERROR, problems="; ".join(agent.problems))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         options=[("grpc.max_receive_message_length", 16 * 1024 * 1024)])
    apb_grpc.add_AgentServicer_to_server(agent, server)  # type: ignore[no-untyped-call]
    sock = Path(config.api.socket)
    socket_problem = _bind_unix(server, sock, config.api.socket_group)
    if socket_problem:
        log_event(log, "socket_group_unset", logging.WARNING, group=config.api.socket_group, problem=socket_problem)
        agent.warnings.append(socket_problem)
    if config.api.tcp and tcp_credentials is None:
        server.add_insecure_port(config.api.tcp)
    elif config.api.tcp and tcp_credentials is not None:
        server.add_secure_port(config.api.tcp, tcp_credentials)
    server.start()

    stop = threading.Event()
    sender_thread = None
    if agent.client is not None and outbox is not None:
        sender_outbox = Outbox(outbox.path)
        sender = Sender(sender_outbox, agent.client.submit)
        sender_thread = threading.Thread(target=sender.run, args=(stop,), name="sender", daemon=True)
        sender_thread.start()

    def on_signal(signum: int, _frame: object) -> None:
        log_event(log, "stopping", signal=signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    notify("READY=1")
    print(f"edge-agent serving on unix:{sock}" + (f" and {config.api.tcp}" if config.api.tcp else ""), flush=True)
    interval = watchdog_interval_s()
    next_prune = 0.0
    while not stop.wait(interval or 1.0):
        if interval:
            notify("WATCHDOG=1")
        if outbox is not None and time.monotonic() >= next_prune:
            next_prune = time.monotonic() + PRUNE_EVERY_S
            _prune(outbox.path, config)
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
