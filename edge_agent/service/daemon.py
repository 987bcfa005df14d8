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
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import grpc

from edge_agent._proto import agent_pb2 as apb
from edge_agent._proto import agent_pb2_grpc as apb_grpc
from edge_agent.camera.identity import PAIRING_FILE
from edge_agent.camera.source import FrameSource, open_source
from edge_agent.carrier.client import Carrier, CarrierClient
from edge_agent.carrier.sender import Sender, SenderWatch
from edge_agent.config import Config, check_api
from edge_agent.device import DeviceState
from edge_agent.errors import (
    EXIT_OK,
    AgentRunning,
    AgentUnhealthy,
    BadNonce,
    ConfigError,
    DuplicateTransaction,
    EdgeAgentError,
    NoResult,
    OutboxError,
    PreviewBusy,
    SessionBusy,
    exit_code_of,
    grpc_status_of,
)
from edge_agent.liveness.challenge import Event, EventKind
from edge_agent.logs import log_event
from edge_agent.modelset.install import model_directory
from edge_agent.outbox.store import COUNTER_FILE, Outbox
from edge_agent.recorder import ResultRecorder
from edge_agent.service.admission import agent_server
from edge_agent.service.preview import PreviewHub
from edge_agent.service.sdnotify import notify, watchdog_interval_s
from edge_agent.service.session import NONCE_BYTES, SessionOutcome, SessionRunner, check_nonce
from edge_agent.transaction import TXN_ID, check_transaction_id
from edge_agent.vision.antispoof import AntiSpoof
from edge_agent.vision.pipeline import FacePipeline

__all__ = ["NONCE_BYTES", "TXN_ID", "Agent", "serve"]

log = logging.getLogger(__name__)



def _refuse(context: grpc.ServicerContext, exc: EdgeAgentError) -> NoReturn:
    """Abort a request with ``code: message`` and the status ``errors.py`` gives the error, logged once as one
    line (no traceback, no request data). The one place the agent API turns errors into statuses."""
    status = grpc.StatusCode[grpc_status_of(exc)]
    log_event(log, "request_refused", logging.WARNING, code=status.name, reason=exc.code)
    context.abort(status, f"{exc.code}: {exc}")
    raise AssertionError("context.abort returned")  # grpc's abort always raises


def _api_event(event: Event, steps: int, time_limit_ms: int) -> apb.SessionEvent:
    """A liveness event as the agent API sends it."""
    if event.kind is EventKind.PROMPT:
        return apb.SessionEvent(prompt=apb.Prompt(action=event.action or "", message=event.message, step=event.step,
                                                  steps=steps, time_limit_ms=time_limit_ms))
    if event.kind is EventKind.PROGRESS:
        return apb.SessionEvent(progress=apb.Progress(fraction=event.progress, message=event.message))
    return apb.SessionEvent(hint=apb.Hint(message=event.message))


@dataclass
class Agent(apb_grpc.AgentServicer):
    """The servicer; everything it needs is passed in, so tests can build one around fakes."""

    config: Config
    pipeline: FacePipeline | None
    recorder: ResultRecorder | None
    client: Carrier | None
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
    sender_watch: SenderWatch | None = None  # set by serve: a dead, stuck or failing sender is a problem

    def Health(self, request: apb.HealthRequest, context: grpc.ServicerContext) -> apb.HealthResponse:
        """Whether the agent can verify, and what is wrong if not."""
        backlog = self.recorder.outbox.backlog() if self.recorder else 0
        model_set = self.pipeline.manifest.version if self.pipeline else ""
        last_ack = self.recorder.outbox.last_acked_ms() if self.recorder else 0
        delivery = self.sender_watch.problem() if self.sender_watch else ""
        problems = [*self.problems, *([delivery] if delivery else [])]
        return apb.HealthResponse(healthy=not problems, problems=problems, outbox_backlog=backlog,
                                  model_set=model_set, session_active=self._active is not None,
                                  device_id=self.device_id, camera_source=self.config.camera.source,
                                  camera_error=self._camera_error, last_carrier_ack_unix_ms=last_ack,
                                  warnings=self.warnings)

    def Cancel(self, request: apb.CancelRequest, context: grpc.ServicerContext) -> apb.CancelResponse:
        """Stop the running session of this transaction; nothing is recorded for it."""
        try:
            check_transaction_id(request.transaction_id)
        except EdgeAgentError as exc:
            _refuse(context, exc)
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
        try:
            check_transaction_id(request.transaction_id)
            if self.recorder is None:
                raise AgentUnhealthy("; ".join(self.problems))
            if not self._owns(request.transaction_id, request.result_token):
                raise NoResult("no result for this transaction and result token (results are kept for "
                               f"{self.config.api.result_window_s:g} s after the session, for the client that ran it)")
            try:
                rec = self.recorder.outbox.get(request.transaction_id)
            except KeyError:
                raise NoResult("the result is no longer in the outbox") from None
        except EdgeAgentError as exc:
            _refuse(context, exc)
        return apb.ResultStatus(transaction_id=rec.txn_id, state=rec.state, receipt_id=rec.receipt or "",
                                signed_result=rec.signed, counter=rec.counter, last_error=rec.last_error or "")

    def Preview(self, request: apb.PreviewRequest, context: grpc.ServicerContext) -> Iterator[apb.PreviewFrame]:
        """The camera's frames, downscaled, while a session runs (one watcher at a time)."""
        if not self.preview.watch():
            _refuse(context, PreviewBusy("the preview is already being watched"))
        try:
            for img in self.preview.frames(request.max_width, request.max_fps, request.wait_ms, context.is_active):
                yield apb.PreviewFrame(jpeg=img.jpeg, width=img.width, height=img.height,
                                       transaction_id=img.transaction_id)
        finally:
            self.preview.unwatch()

    def busy(self) -> bool:
        """Whether a session holds the camera (the admission interceptor refuses a start unread meanwhile)."""
        return self._lock.locked()

    def cancel_all(self) -> None:
        """Stop whatever session runs (on SIGTERM)."""
        self._cancel.set()

    def StartVerification(self, request: apb.StartRequest,
                          context: grpc.ServicerContext) -> Iterator[apb.SessionEvent]:
        """One session at a time; every refusal comes before the first event, or ends the stream unrecorded."""
        try:
            yield from self._start(request, context)
        except EdgeAgentError as exc:
            _refuse(context, exc)

    def _start(self, request: apb.StartRequest, context: grpc.ServicerContext) -> Iterator[apb.SessionEvent]:
        if self.problems or self.pipeline is None or self.recorder is None:
            raise AgentUnhealthy("; ".join(self.problems))
        txn = request.transaction_id
        check_transaction_id(txn)
        if request.carrier_nonce and (problem := check_nonce(bytes(request.carrier_nonce))):
            raise BadNonce(problem)
        self._check_unused(txn)
        self.recorder.outbox.check_space()  # a full disk or no inodes: say so before the customer's challenge
        if not self._lock.acquire(blocking=False):
            raise SessionBusy("a verification is already running on this camera")
        try:
            self._active = txn
            self._cancel.clear()
            self.preview.start(txn)
            runner = SessionRunner(self.config, self.pipeline, self.recorder, self.client, self.device_id,
                                   self.source_factory, self.antispoof, self.preview, self._camera_status)
            events = runner.run(txn, bytes(request.reference_photo), bytes(request.carrier_nonce),
                                stopped=lambda: self._cancel.is_set() or not context.is_active())
            outcome = yield from _translated(events, runner.steps, runner.step_time_limit_ms)
            yield apb.SessionEvent(result=apb.ResultSummary(
                transaction_id=txn, decision=outcome.summary.decision, reason_codes=list(outcome.summary.reason_codes),
                liveness=outcome.summary.liveness, counter=outcome.counter, stored=True,
                result_token=self._remember(txn)))
        finally:
            self.preview.end()
            self._active = None
            self._lock.release()

    def _camera_status(self, error: str) -> None:
        self._camera_error = error

    def _check_unused(self, txn: str) -> None:
        """A transaction id gets one result: refuse a reused one before the customer does the challenge."""
        assert self.recorder is not None
        try:
            self.recorder.outbox.get(txn)
        except KeyError:
            return
        raise DuplicateTransaction(
            "this transaction id already has a signed result on this device; start a new transaction")


def _translated(events: Generator[Event, None, SessionOutcome], steps: int,
                time_limit_ms: int) -> Generator[apb.SessionEvent, None, SessionOutcome]:
    """The runner's liveness events as agent API events; returns the runner's outcome."""
    while True:
        try:
            event = next(events)
        except StopIteration as done:
            outcome: SessionOutcome = done.value
            return outcome
        yield _api_event(event, steps, time_limit_ms)


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
    """Run the agent until SIGTERM; returns the process exit code."""
    from edge_agent.device import agent_lock

    try:
        tcp_credentials = _tcp_credentials(config) if config.api.tcp else None
    except ConfigError as exc:
        log_event(log, "config_refused", logging.ERROR, code=exc.code)
        print(f"edge-agent: error: {exc}", file=sys.stderr, flush=True)
        return exit_code_of(exc)
    try:
        with agent_lock(Path(config.state_dir), "serve"):
            return _serve(config, tcp_credentials)
    except AgentRunning as exc:
        log_event(log, "agent_already_running", logging.ERROR, state=config.state_dir)
        print(f"edge-agent: error: {exc}", file=sys.stderr, flush=True)
        return exit_code_of(exc)


def _serve(config: Config, tcp_credentials: grpc.ServerCredentials | None) -> int:
    agent, outbox = build_agent(config)
    if agent.problems:
        log_event(log, "agent_unhealthy", logging.ERROR, problems="; ".join(agent.problems))
    server = agent_server(agent.busy)
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
        agent.sender_watch = SenderWatch(sender, sender_thread)

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
        if interval and (agent.sender_watch is None or agent.sender_watch.alive()):
            notify("WATCHDOG=1")  # a dead or stuck sender is not fed: systemd restarts the agent
        elif interval:
            log_event(log, "watchdog_withheld", logging.ERROR,
                      problem=agent.sender_watch.problem() if agent.sender_watch else "")
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
    return EXIT_OK
