"""The reference carrier server: enrolment, nonces, verification of signed results, audit.

Every handler takes raw request bytes and parses them itself, so malformed
input gets INVALID_ARGUMENT (gRPC's own deserialiser would answer INTERNAL)
and never reaches the business logic. Status codes are the API's error
vocabulary, each the status of the ``edge_agent/errors.py`` class raised (its base decides):

* INVALID_ARGUMENT   malformed or non-canonical message
* UNAUTHENTICATED    no client certificate, or a signature that does not verify
* INVALID_ARGUMENT   also a signed result that cannot be true (``validate``: a PASS without a LIVE
                     verdict, reasons or commitment, a manifest that is not a digest, a counter >= 2^63)
* PERMISSION_DENIED  unknown or revoked device, a replaced certificate, bad enrolment token, result for
                     another device
* FAILED_PRECONDITION unknown, foreign, reused or expired nonce, a nonce issued for another transaction;
                     counter not increasing
* ALREADY_EXISTS     this device's transaction id was accepted with a different result
* RESOURCE_EXHAUSTED message larger than the limit (gRPC itself)
* UNAVAILABLE        the database cannot be reached (devices retry)

Every refusal's message starts with a stable reason code (``nonce_used: ...``).
Transactions belong to a device: acceptance is keyed on (device, transaction)
and no message says anything about another device's transactions or nonces.

A resubmission of an accepted result (same bytes) is OK with ``duplicate``
set and the original receipt: the device's at-least-once delivery relies on it.
The server keeps no state of its own (all of it is in the store), so any
number of replicas can serve the same devices from one PostgreSQL database.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError, Message

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.attest.result import BadSignature, MalformedResult, parse_result, parse_signed, verify_signed_result
from edge_agent.carrier.pki import DEREGISTER_CONTEXT, CertificateAuthority, cert_sha256, rotation_message
from edge_agent.clock import Clock, SystemClock
from edge_agent.errors import (
    CarrierBadRequest,
    DeviceRefused,
    EdgeAgentError,
    NonceRefused,
    NotAuthenticated,
    RateLimited,
    TransactionConflict,
    grpc_status_of,
)
from edge_agent.logs import log_event
from edge_agent.reference_carrier.ratelimit import TokenBuckets
from edge_agent.reference_carrier.store import (
    Acceptance,
    AuditRecord,
    CarrierStore,
    Device,
    Expected,
    NonceState,
    StaleSubmission,
    StoreUnavailable,
)
from edge_agent.reference_carrier.stores import open_store as open_store_url
from edge_agent.reference_carrier.validate import InvalidResult, check_result, check_transaction_id

__all__ = ["CarrierServer", "CarrierService", "Peer", "ServerConfig", "default_store_url", "open_store", "server_state"]

log = logging.getLogger(__name__)
# What a handler refuses with on purpose (each answered with its base's status, errors.py); anything else a
# handler raises is a fault: UNAVAILABLE for the database, INTERNAL for the rest.
REFUSALS = (CarrierBadRequest, NotAuthenticated, DeviceRefused, NonceRefused, TransactionConflict, RateLimited)
SERVICE = "edge_agent.carrier.v1.Carrier"
MAX_MESSAGE_BYTES = 64 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """How long a nonce lives, and how far a device's clock may be off when a result's time is checked against it."""

    nonce_ttl_ms: int = 5 * 60 * 1000
    clock_skew_ms: int = 2 * 60 * 1000
    nonce_rate_per_s: float = 2.0  # per device and replica, after a burst of nonce_burst (ratelimit.py)
    nonce_burst: float = 30.0


@functools.lru_cache(maxsize=4096)
def _fingerprint(pem: bytes) -> str:
    """A device's certificate fingerprint, parsed once per certificate instead of once per call."""
    return cert_sha256(pem)


def _parse(cls: type[Message], data: bytes) -> Any:
    try:
        msg = cls.FromString(data)
    except DecodeError as exc:
        raise CarrierBadRequest(f"{cls.__name__}: {exc}", code="malformed_request") from None
    return msg


@dataclass(frozen=True)
class Peer:
    """The caller as mutual TLS authenticated it (``None``: no client certificate, as on the enrolment port).

    Read from the gRPC context by the wrapper, so handlers never touch the context (and can be called, and
    measured, without gRPC).
    """

    common_name: str | None = None
    cert_pem: bytes | None = None

    @classmethod
    def of(cls, context: grpc.ServicerContext) -> Peer:
        """The peer of this call, from the TLS session gRPC already verified."""
        auth = context.auth_context()
        names, pems = list(auth.get("x509_common_name") or ()), list(auth.get("x509_pem_cert") or ())
        return cls(bytes(names[0]).decode() if names else None, bytes(pems[0]) if pems else None)

    def device_id(self) -> str:
        """The device the certificate names; no certificate is UNAUTHENTICATED."""
        if self.common_name is None:
            raise NotAuthenticated("a device client certificate is required", code="no_client_certificate")
        return self.common_name

    def cert_sha256(self) -> str:
        """The certificate's fingerprint, which binds a submission to the device's current certificate."""
        if self.cert_pem is None:
            raise NotAuthenticated("a device client certificate is required", code="no_client_certificate")
        return _fingerprint(self.cert_pem)


class KeyCache:
    """Signing keys by (device, certificate fingerprint): lets a submission verify before it reads the database.

    Only a hint: the key is used to verify, and the acceptance itself (``accept_current``) checks in the same
    statement that the device still has this certificate and this key and is not revoked. A rotation changes
    both, so a stale entry can only send a submission down the path that reads the device row.
    """

    def __init__(self, size: int = 200_000) -> None:  # ~100 bytes an entry: 20 MB for a large fleet
        self._size = size
        self._keys: OrderedDict[tuple[str, str], tuple[bytes, Ed25519PublicKey]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, device_id: str, cert_sha256: str) -> tuple[bytes, Ed25519PublicKey] | None:
        """The remembered key of this device and certificate, or None (then the database is read)."""
        with self._lock:
            hit = self._keys.get((device_id, cert_sha256))
            if hit is not None:
                self._keys.move_to_end((device_id, cert_sha256))
            return hit

    def put(self, dev: Device) -> Ed25519PublicKey:
        """Remember a device's key as the database holds it now; the oldest entry goes when full."""
        key = Ed25519PublicKey.from_public_bytes(dev.signing_public_key)
        with self._lock:
            self._keys[(dev.device_id, dev.cert_sha256)] = (dev.signing_public_key, key)
            if len(self._keys) > self._size:
                self._keys.popitem(last=False)
        return key


class CarrierService:
    """The carrier's handlers over a store and a CA: raw bytes and a ``Peer`` in, so they run without gRPC too."""

    def __init__(self, store: CarrierStore, ca: CertificateAuthority, *, clock: Clock | None = None,
                 config: ServerConfig | None = None) -> None:
        self.store = store
        self.ca = ca
        self.clock = clock or SystemClock()
        self.config = config or ServerConfig()
        self.keys = KeyCache()
        self.nonce_buckets = TokenBuckets(self.config.nonce_rate_per_s, self.config.nonce_burst)
        self._limited_logged: dict[str, int] = {}  # device -> when its last nonce_rate_limited was logged (ms)

    # -- identity ---------------------------------------------------------
    def _device_record(self, peer: Peer, dev: Device | None = None) -> tuple[Device, bool]:
        """The calling device, and whether it used its previous certificate (only a rotation repeat may).

        ``dev``: the caller's row when the handler has read it already (with other things, in one query).
        """
        device_id = peer.device_id()
        if dev is None:
            dev = self.store.device(device_id)
        if dev is None:
            raise DeviceRefused(f"device {device_id} is not enrolled", code="device_unknown")
        if dev.revoked:
            raise DeviceRefused(f"device {device_id} is revoked", code="device_revoked")
        presented = peer.cert_sha256()
        if presented == dev.cert_sha256:
            return dev, False
        if dev.prev_cert_sha256 and presented == dev.prev_cert_sha256:
            return dev, True
        raise DeviceRefused(f"certificate of {device_id} was replaced (keys rotated)", code="certificate_replaced")

    def _device(self, peer: Peer, dev: Device | None = None) -> tuple[str, Ed25519PublicKey, int]:
        dev, previous = self._device_record(peer, dev)
        if previous:
            raise DeviceRefused(f"certificate of {dev.device_id} was replaced (keys rotated)",
                                code="certificate_replaced")
        return dev.device_id, self.keys.put(dev), dev.last_counter

    # -- handlers (raw bytes in, message out) ------------------------------
    def enroll(self, data: bytes, peer: Peer) -> pb.EnrollResponse:
        """Consume a one-time token and certify the device's CSR under a new random device id."""
        req = _parse(pb.EnrollRequest, data)
        if len(req.signing_public_key) != 32 or not req.csr_pem:
            raise CarrierBadRequest("enrolment needs a 32-byte Ed25519 key and a CSR", code="enrolment_invalid")
        if not req.token or not self.store.consume_token(req.token, self.clock.now_ms()):
            raise DeviceRefused("enrolment token unknown, used or expired", code="token_refused")
        device_id = "dev-" + secrets.token_hex(8)
        try:
            cert = self.ca.sign_device_csr(bytes(req.csr_pem), device_id)
        except ValueError as exc:
            raise CarrierBadRequest(str(exc), code="csr_invalid") from None
        self.store.add_device(device_id, bytes(req.signing_public_key), cert_sha256(cert))
        log_event(log, "device_enrolled", device=device_id)
        return pb.EnrollResponse(device_id=device_id, certificate_pem=cert, ca_certificate_pem=self.ca.cert_pem)

    def get_nonce(self, data: bytes, peer: Peer) -> pb.NonceResponse:
        """A fresh 32-byte nonce for one transaction of the calling device, valid for ``nonce_ttl_ms``."""
        req = _parse(pb.NonceRequest, data)
        device_id = peer.device_id()
        try:
            check_transaction_id(req.transaction_id)
        except InvalidResult as exc:
            raise CarrierBadRequest(str(exc), code=exc.reason) from None
        now = self.clock.now_ms()
        if not self.nonce_buckets.allow(device_id, now / 1000):
            if now - self._limited_logged.get(device_id, 0) >= 1000:
                self._limited_logged[device_id] = now
                if len(self._limited_logged) > 10_000:
                    self._limited_logged.clear()
                log_event(log, "request_refused", logging.WARNING, method="GetNonce", code="RESOURCE_EXHAUSTED",
                          reason="nonce_rate_limited", device=device_id)
            raise RateLimited(f"more than {self.config.nonce_burst:g} nonces at once or "
                              f"{self.config.nonce_rate_per_s:g} a second for this device: retry later",
                              code="nonce_rate_limited")
        nonce = secrets.token_bytes(32)
        expires = now + self.config.nonce_ttl_ms
        # One statement when all is well: stored only for an enrolled, unrevoked device calling with its
        # current certificate. Otherwise the full check says which of those failed.
        if not self.store.issue_nonce(nonce, device_id, peer.cert_sha256(), req.transaction_id, now,
                                      expires):
            self._device(peer)
            self.store.add_nonce(nonce, device_id, req.transaction_id, now, expires)  # it just became valid
        return pb.NonceResponse(nonce=nonce, expires_at_unix_ms=expires)

    def submit(self, data: bytes, peer: Peer) -> pb.SubmitAck:
        """Verify and accept a signed result, or refuse it with a reason; a resubmission gets the first receipt."""
        try:
            signed = parse_signed(data)
        except MalformedResult as exc:
            raise CarrierBadRequest(str(exc), code="malformed_result") from None
        ack = self._accept_at_once(signed, data, peer)
        if ack is not None:
            return ack
        try:
            # Unverified: only the transaction id and nonce are read from it, to fetch the device, its
            # acceptance of that transaction and the nonce in one query. Nothing else is used before the
            # signature over these very bytes verifies.
            claimed = parse_result(signed.result)
            check_transaction_id(claimed.transaction_id)  # before it reaches a query
        except MalformedResult as exc:
            raise CarrierBadRequest(str(exc), code="malformed_result") from None
        except InvalidResult as exc:
            raise CarrierBadRequest(str(exc), code=exc.reason) from None
        dev, prior, nonce = self.store.submission(peer.device_id(), claimed.transaction_id,
                                                  bytes(claimed.carrier_nonce))
        device_id, key, last_counter = self._device(peer, dev)
        try:
            result = verify_signed_result(signed, key)
        except BadSignature as exc:
            raise NotAuthenticated(str(exc), code="bad_signature") from None
        except MalformedResult as exc:
            raise CarrierBadRequest(str(exc), code="malformed_result") from None
        if result.device_id != device_id:
            raise DeviceRefused("result names another device", code="result_for_another_device")
        digest = hashlib.sha256(signed.result).hexdigest()
        # A result accepted before is answered as such, whatever rules came since: the device must not
        # mark as rejected what the carrier holds as accepted.
        dup = self._answer_prior(prior, digest)
        if dup is not None:
            return dup
        try:
            check_result(result)
        except InvalidResult as exc:
            raise CarrierBadRequest(str(exc), code=exc.reason) from None
        record = self._record(result, device_id, digest, data)
        try:
            self._check_fresh(result, nonce, device_id, last_counter)
            self.store.accept(record)
        except (NonceRefused, StaleSubmission) as exc:
            # Another replica or thread may have accepted this very result since the first look: then the
            # nonce is used and the counter moved on, and the right answer is the original receipt.
            dup = self._duplicate(device_id, result.transaction_id, digest)
            if dup is not None:
                return dup
            if isinstance(exc, NonceRefused):
                raise
            raise NonceRefused("nonce used or counter moved on concurrently", code="concurrent_submission") from None
        return self._accepted(record)

    def _accept_at_once(self, signed: pb.SignedResult, data: bytes, peer: Peer) -> pb.SubmitAck | None:
        """The common case in one database round trip, or None for ``submit`` to look at the rows and answer.

        With the key remembered for this device and certificate, the signature and the result's own rules
        are checked first; ``accept_current`` then checks everything the database holds (nonce, counter,
        revocation, certificate and key still current, no earlier acceptance) in the statement that accepts.
        Anything else, refusals and duplicates included, takes the full path, which answers as it always has.
        """
        if peer.common_name is None or peer.cert_pem is None:
            return None
        known = self.keys.get(peer.common_name, peer.cert_sha256())
        if known is None:
            return None
        raw_key, key = known
        try:
            result = verify_signed_result(signed, key)
            check_result(result)
        except (BadSignature, MalformedResult, InvalidResult):
            return None
        if result.device_id != peer.common_name:
            return None
        record = self._record(result, peer.common_name, hashlib.sha256(signed.result).hexdigest(), data)
        expected = Expected(peer.cert_sha256(), raw_key, result.created_at_unix_ms, self.config.clock_skew_ms)
        if not self.store.accept_current(record, expected):
            return None
        return self._accepted(record)

    def _record(self, result: pb.Result, device_id: str, digest: str, data: bytes) -> AuditRecord:
        acc = Acceptance(result.transaction_id, device_id, "rcpt-" + secrets.token_hex(12), self.clock.now_ms(),
                         digest)
        return AuditRecord(acc, bytes(result.carrier_nonce), result.counter, result.decision,
                           ",".join(result.reason_codes), result.liveness, bytes(result.embedding_commitment), data)

    @staticmethod
    def _accepted(record: AuditRecord) -> pb.SubmitAck:
        acc = record.acceptance
        log_event(log, "result_accepted", device=acc.device_id, txn=acc.transaction_id, counter=record.counter)
        return pb.SubmitAck(transaction_id=acc.transaction_id, accepted_at_unix_ms=acc.accepted_at_ms,
                            duplicate=False, receipt_id=acc.receipt_id)

    def _check_fresh(self, result: pb.Result, nonce: NonceState | None, device_id: str, last_counter: int) -> None:
        """The nonce was issued to this device for this transaction, is unused and current; the counter increases."""
        if nonce is None or nonce.device_id != device_id:  # one answer for both: nothing about other devices
            raise NonceRefused("nonce was not issued to this device", code="nonce_unknown")
        # "": issued before nonces were bound to transactions (SQLite migration 0002); it expires within minutes.
        if nonce.transaction_id not in ("", result.transaction_id):
            raise NonceRefused("nonce was issued for another transaction", code="nonce_other_transaction")
        if nonce.used_by is not None:
            raise NonceRefused("nonce already used", code="nonce_used")
        skew = self.config.clock_skew_ms
        if not nonce.issued_at_ms - skew <= result.created_at_unix_ms <= nonce.expires_at_ms + skew:
            raise NonceRefused("nonce expired before the result was created", code="nonce_expired")
        if result.counter <= last_counter:
            raise NonceRefused(f"counter {result.counter} does not increase (last accepted {last_counter})",
                               code="counter_not_increasing")

    def _duplicate(self, device_id: str, txn: str, digest: str) -> pb.SubmitAck | None:
        return self._answer_prior(self.store.acceptance(device_id, txn), digest)

    @staticmethod
    def _answer_prior(prior: Acceptance | None, digest: str) -> pb.SubmitAck | None:
        """The original receipt for the same bytes; ALREADY_EXISTS for other bytes under the same transaction."""
        if prior is None:
            return None
        if prior.result_sha256 != digest:
            raise TransactionConflict(f"transaction {prior.transaction_id!r} was accepted with a different result",
                                      code="transaction_conflict")
        return pb.SubmitAck(transaction_id=prior.transaction_id, accepted_at_unix_ms=prior.accepted_at_ms,
                            duplicate=True, receipt_id=prior.receipt_id)

    def rotate_keys(self, data: bytes, peer: Peer) -> pb.RotateResponse:
        """A new key and certificate, proven by both keys; a repeat on the old certificate gets the same one again."""
        req = _parse(pb.RotateRequest, data)
        dev, previous = self._device_record(peer)
        new_key = bytes(req.new_signing_public_key)
        if req.device_id != dev.device_id or len(new_key) != 32 or not req.csr_pem:
            raise CarrierBadRequest("rotation needs this device's id, a 32-byte key and a CSR", code="rotation_invalid")
        if previous:  # the device lost our answer and asks again with its old certificate
            if new_key != dev.rotation_key:
                raise DeviceRefused("keys were rotated already; this is not a repeat", code="rotation_not_repeat")
            return pb.RotateResponse(certificate_pem=dev.rotation_cert, rotated_at_unix_ms=self.clock.now_ms())
        message = rotation_message(dev.device_id, new_key, bytes(req.csr_pem))
        try:
            Ed25519PublicKey.from_public_bytes(dev.signing_public_key).verify(bytes(req.old_key_signature), message)
            Ed25519PublicKey.from_public_bytes(new_key).verify(bytes(req.new_key_signature), message)
        except (InvalidSignature, ValueError):
            raise NotAuthenticated("rotation signatures do not verify", code="bad_signature") from None
        try:
            cert = self.ca.sign_device_csr(bytes(req.csr_pem), dev.device_id)
        except ValueError as exc:
            raise CarrierBadRequest(str(exc), code="csr_invalid") from None
        self.store.rotate(dev.device_id, new_key, cert, cert_sha256(cert))
        log_event(log, "device_keys_rotated", device=dev.device_id)
        return pb.RotateResponse(certificate_pem=cert, rotated_at_unix_ms=self.clock.now_ms())

    def deregister(self, data: bytes, peer: Peer) -> pb.DeregisterResponse:
        """Revoke the calling device, on a signature by its own key."""
        req = _parse(pb.DeregisterRequest, data)
        device_id, key, _ = self._device(peer)
        try:
            key.verify(bytes(req.signature), DEREGISTER_CONTEXT + device_id.encode())
        except InvalidSignature:
            raise NotAuthenticated("deregistration signature does not verify", code="bad_signature") from None
        if req.device_id != device_id:
            raise CarrierBadRequest("device id does not match the certificate", code="device_id_mismatch")
        self.store.revoke(device_id)
        log_event(log, "device_deregistered", device=device_id)
        return pb.DeregisterResponse(revoked_at_unix_ms=self.clock.now_ms())

    def heartbeat(self, data: bytes, peer: Peer) -> pb.HeartbeatResponse:
        """The carrier's clock, for an enrolled device on its current certificate (anyone else is refused)."""
        _parse(pb.HeartbeatRequest, data)
        self._device(peer)
        return pb.HeartbeatResponse(server_time_unix_ms=self.clock.now_ms())

    # -- wiring -------------------------------------------------------------
    def _wrap(self, fn: Callable[[bytes, Peer], Message]) -> Callable[[bytes, Peer], Message]:
        """The handler with every failure turned into a refusal of ``errors.py`` (the answer the caller gets)."""
        def handler(data: bytes, peer: Peer) -> Message:
            try:
                return fn(data, peer)
            except REFUSALS:
                raise
            except StoreUnavailable as exc:
                log_event(log, "store_unavailable", logging.WARNING, method=fn.__name__, error=str(exc))
                raise StoreUnavailable("carrier database unavailable, retry", code="store_unavailable") from None
            except Exception:
                log_event(log, "handler_failed", logging.ERROR, exc_info=True, method=fn.__name__)
                raise EdgeAgentError("internal error", code="internal") from None

        return handler

    def handlers(self, methods: list[str]) -> grpc.GenericRpcHandler:
        """The gRPC handler for the named methods: each port serves only its own."""
        table = {"Enroll": self.enroll, "GetNonce": self.get_nonce, "SubmitResult": self.submit,
                 "Heartbeat": self.heartbeat, "RotateKeys": self.rotate_keys, "Deregister": self.deregister}

        def serve(name: str, fn: Callable[[bytes, Peer], Message]) -> Callable[[bytes, grpc.ServicerContext],
                                                                                 Message]:
            def handler(data: bytes, context: grpc.ServicerContext) -> Message:
                try:
                    return fn(data, Peer.of(context))
                except EdgeAgentError as exc:  # one line with the reason code, no traceback, no request data
                    status = grpc.StatusCode[grpc_status_of(exc)]
                    if exc.code != "nonce_rate_limited":  # logged by get_nonce, at most once a second
                        log_event(log, "request_refused", logging.ERROR if status == grpc.StatusCode.INTERNAL
                                  else logging.WARNING, method=name, code=status.name, reason=exc.code)
                    context.abort(status, f"{exc.code}: {exc}")
                raise AssertionError("unreachable")

            return handler

        return grpc.method_handlers_generic_handler(SERVICE, {
            name: grpc.unary_unary_rpc_method_handler(
                serve(name, self._wrap(table[name])), request_deserializer=None,
                response_serializer=lambda m: m.SerializeToString(deterministic=True))
            for name in methods
        })


def server_state(state: Path, hostnames: list[str]) -> tuple[CertificateAuthority, bytes, bytes]:
    """Load (or create on first start) the CA and the server's TLS key and certificate under ``state``."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_key, ca_cert = state / "ca.key", state / "ca.pem"
    if ca_key.exists() and ca_cert.exists():
        ca = CertificateAuthority.load(ca_key.read_bytes(), ca_cert.read_bytes())
    else:
        ca = CertificateAuthority.create()
        ca_key.write_bytes(ca.key_pem)
        ca_key.chmod(0o600)
        ca_cert.write_bytes(ca.cert_pem)
    key, cert = state / "server.key", state / "server.pem"
    if not (key.exists() and cert.exists()):
        pair = ca.server_pair(hostnames)
        key.write_bytes(pair.key_pem)
        key.chmod(0o600)
        cert.write_bytes(pair.cert_pem)
    return ca, key.read_bytes(), cert.read_bytes()


class CarrierServer:
    """Two listeners: the result port demands a device certificate.

    The enrolment port cannot: devices have no certificate until they enrol. ``workers`` request threads,
    which is also the most database connections one replica uses at a time.
    """

    def __init__(self, service: CarrierService, server_key: bytes, server_cert: bytes, *,
                 host: str = "127.0.0.1", port: int = 0, enroll_port: int = 0, workers: int = 8) -> None:
        opts = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        ca_pem = service.ca.cert_pem
        self.main = grpc.server(futures.ThreadPoolExecutor(workers), options=opts)
        self.main.add_generic_rpc_handlers([service.handlers(["GetNonce", "SubmitResult", "Heartbeat", "RotateKeys",
                                                                    "Deregister"])])
        mtls = grpc.ssl_server_credentials([(server_key, server_cert)], root_certificates=ca_pem,
                                           require_client_auth=True)
        self.port = self.main.add_secure_port(f"{host}:{port}", mtls)
        self.enrol = grpc.server(futures.ThreadPoolExecutor(2), options=opts)
        self.enrol.add_generic_rpc_handlers([service.handlers(["Enroll"])])
        self.enroll_port = self.enrol.add_secure_port(
            f"{host}:{enroll_port}", grpc.ssl_server_credentials([(server_key, server_cert)]))

    def start(self) -> CarrierServer:
        """Start both listeners; returns the server, so it can be started where it is built."""
        self.main.start()
        self.enrol.start()
        return self

    def stop(self, grace: float | None = None) -> None:
        """Stop both listeners, giving calls in flight ``grace`` seconds, and wait until they have stopped."""
        done = [self.main.stop(grace), self.enrol.stop(grace)]
        for event in done:
            event.wait()


def default_store_url(state: Path) -> str:
    """carrier.db under ``state``: the store when no URL is given."""
    return f"sqlite:///{state / 'carrier.db'}"


def open_store(state: Path, url: str | None = None) -> CarrierStore:
    """The store ``url`` names (``sqlite:///...`` or ``postgresql://...``); by default carrier.db under ``state``."""
    return open_store_url(url or default_store_url(state))
