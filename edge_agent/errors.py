"""Every exception the agent raises on purpose, and what each means to a shell, a gRPC and an HTTP client.

Each error carries a short stable ``code`` (in JSON output, reason codes and
gRPC details) and a human message. Messages never contain biometric data: no
pixel values, crops or embedding numbers, only what went wrong and where.

The exit code, the gRPC status and the HTTP status are decided by a class's
base, once, here (the table is in docs/errors.md); ``cli.py``, the daemon, the
reference carrier and the kiosk read them with ``exit_code_of``,
``grpc_status_of`` and ``http_status_of``::

    EdgeAgentError              exit 3  INTERNAL            500  a fault of the device or the software
    ├── BadInput                exit 2  INVALID_ARGUMENT    400  the caller can fix the request
    │   ├── ImageUnreadable ── ImageTooLarge, ImageFormatUnsupported
    │   ├── NoFace, MultipleFaces, FaceTooSmall, FaceTooBlurry, Pose
    │   ├── ConfigError, UnknownTarget
    │   ├── BundleInvalid, BundleSignatureError, DowngradeRefused
    │   ├── EnrolmentRefused, AgentRefused, BadTransactionId, BadNonce, CarrierBadRequest
    │   └── KioskListenError, IdReaderError, CatalogError
    ├── Unauthenticated         exit 3  UNAUTHENTICATED     401  who is calling is not proven
    │   └── NotAuthenticated
    ├── Unhealthy               exit 3  FAILED_PRECONDITION 503  a precondition does not hold: a technician
    │   │                                                        must act, or (NonceRefused) a fresh request
    │   ├── ModelError ── ModelIntegrityError, InstalledSetBroken
    │   ├── AgentUnhealthy, NoCarrier, NotEnrolled, KeyStoreError, StateUnusable, CameraRefused
    │   ├── AgentRunning, BacklogPending, NonceRefused
    │   ├── OutboxError ── (OutboxFull, DuplicateTransaction, OutboxCorrupt: also under their own bases)
    │   └── SchemaTooNew, UnsupportedStore
    ├── Busy                    exit 3  RESOURCE_EXHAUSTED  409  full or in use: later, or after freeing room
    │   └── SessionBusy, PreviewBusy, OutboxFull, KioskBusy, RateLimited
    ├── Unavailable             exit 3  UNAVAILABLE         503  retry later: nothing was refused
    │   └── CarrierUnavailable, BadCarrierNonce, CameraError, AgentUnavailable, SpeechUnavailable,
    │       StoreUnavailable
    ├── Refused                 exit 3  PERMISSION_DENIED   403  the other side said no, for good
    │   └── CarrierRefused, DeviceRefused, KioskForbidden
    ├── Duplicate               exit 3  ALREADY_EXISTS      409  a transaction id gets one result
    │   └── DuplicateTransaction, TransactionConflict
    ├── NotFound                exit 3  NOT_FOUND           404  no such result (or not yours to see)
    │   └── NoResult, KioskNotFound
    ├── Cancelled               exit 3  CANCELLED           409  the client went away; nothing recorded
    │   └── SessionCancelled
    └── Untrusted               exit 3  DATA_LOSS           502  stored or received data fails its checks
        └── MalformedResult, BadSignature, InvalidResult, OutboxCorrupt

A refusal may carry a finer stable code than its class's (``code=`` when raised:
the reference carrier's ``nonce_used``, ``device_revoked``...); the wire text is
always ``<code>: <message>``.

An error that is two things (``OutboxFull`` is an ``OutboxError`` and ``Busy``)
lists the base that decides its mapping first.
Exit 2 is "your input", exit 3 "this device or its peers" (documented since the
first release, so scripts rely on it); 0 and 1 are answers (pass, no match) and
4 and 5 the terminal's pending and rejected, never errors. ``StaleSubmission``
is no error of the agent's but a signal inside the reference carrier's store.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT", "EXIT_NO_MATCH", "EXIT_OK", "EXIT_PENDING", "EXIT_REJECTED", "EXIT_UNHEALTHY", "AgentRefused",
    "AgentRunning", "AgentUnavailable", "AgentUnhealthy", "BacklogPending", "BadCarrierNonce", "BadInput",
    "BadNonce", "BadSignature", "BadTransactionId", "BundleInvalid", "BundleSignatureError", "Busy", "CameraError",
    "CameraRefused", "Cancelled", "CarrierBadRequest", "CarrierRefused", "CarrierUnavailable", "CatalogError",
    "ConfigError", "DeviceRefused", "DowngradeRefused", "Duplicate", "DuplicateTransaction", "EdgeAgentError",
    "EnrolmentRefused", "FaceTooBlurry", "FaceTooSmall", "IdReaderError", "ImageFormatUnsupported", "ImageTooLarge",
    "ImageUnreadable", "InstalledSetBroken", "InvalidResult", "KeyStoreError", "KioskBusy", "KioskForbidden",
    "KioskListenError", "KioskNotFound", "MalformedResult", "ModelError", "ModelIntegrityError", "MultipleFaces",
    "NoCarrier", "NoFace", "NoResult", "NonceRefused", "NotAuthenticated", "NotEnrolled", "NotFound",
    "OutboxCorrupt", "OutboxError", "OutboxFull", "Pose", "PreviewBusy", "RateLimited", "Refused", "SchemaTooNew",
    "SessionBusy", "SessionCancelled", "SpeechUnavailable", "StaleSubmission", "StateUnusable", "StoreUnavailable",
    "TransactionConflict", "Unauthenticated", "Unavailable", "Unhealthy", "UnknownTarget", "UnsupportedStore",
    "Untrusted", "exit_code_of", "grpc_status_of", "http_status_of",
]

# Exit codes of the `edge-agent` commands: the answers, then the errors (from the classes below).
# 1 is the answer "no": no match, a failed check, nothing to cancel. 4 and 5: a pass the carrier has not
# acknowledged yet / has rejected (`edge-agent terminal`).
EXIT_OK, EXIT_NO_MATCH, EXIT_BAD_INPUT, EXIT_UNHEALTHY, EXIT_PENDING, EXIT_REJECTED = 0, 1, 2, 3, 4, 5


class EdgeAgentError(Exception):
    """Base of every error the agent raises on purpose."""

    code = "internal_error"
    exit_code = EXIT_UNHEALTHY
    grpc_status = "INTERNAL"  # a grpc.StatusCode name: this module stays free of grpc
    http_status = 500

    def __init__(self, message: str, *, subject: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject  # which input the error is about ("reference", "probe", a model key...)
        if code is not None:  # a finer stable code than the class's (the carrier's reason codes)
            self.code = code

    def about(self, subject: str) -> EdgeAgentError:
        """The same error, re-worded to name the input it concerns (a copy: every other field kept)."""
        clone = type(self).__new__(type(self))  # not copy.copy: that calls __init__ with the message alone
        clone.__dict__.update(self.__dict__)
        clone.args = (f"{subject}: {self}",)
        clone.subject = subject
        return clone


def exit_code_of(exc: EdgeAgentError) -> int:
    """The process exit code for an error that ends a command."""
    return exc.exit_code


def grpc_status_of(exc: EdgeAgentError) -> str:
    """The ``grpc.StatusCode`` name a server answers an error with."""
    return exc.grpc_status


def http_status_of(exc: EdgeAgentError) -> int:
    """The HTTP status a web endpoint (the kiosk) answers an error with."""
    return exc.http_status


# --- the bases: each decides one exit code and one gRPC status --------------------------------------------


class BadInput(EdgeAgentError):
    """The caller gave us something we cannot verify or use; the request can be fixed."""

    code = "bad_input"
    exit_code = EXIT_BAD_INPUT
    grpc_status = "INVALID_ARGUMENT"
    http_status = 400


class Unhealthy(EdgeAgentError):
    """A precondition does not hold: the device cannot do this until someone acts (models, identity, keys, state,
    schema), or, at the carrier, the request's nonce or counter is no longer current (ask for a fresh one)."""

    code = "unhealthy"
    grpc_status = "FAILED_PRECONDITION"
    http_status = 503


class Unauthenticated(EdgeAgentError):
    """The caller did not prove who it is: no client certificate, or a signature that does not verify."""

    code = "unauthenticated"
    grpc_status = "UNAUTHENTICATED"
    http_status = 401


class Busy(EdgeAgentError):
    """A resource is in use or full; the same request may succeed later."""

    code = "busy"
    grpc_status = "RESOURCE_EXHAUSTED"
    http_status = 409


class Unavailable(EdgeAgentError):
    """A peer or device (carrier, camera, agent, database) cannot be reached now; retrying is right."""

    code = "unavailable"
    grpc_status = "UNAVAILABLE"
    http_status = 503


class Refused(EdgeAgentError):
    """A peer answered and said no; retrying the same request will not help."""

    code = "refused"
    grpc_status = "PERMISSION_DENIED"
    http_status = 403


class Duplicate(EdgeAgentError):
    """Something that may exist once exists already."""

    code = "duplicate"
    grpc_status = "ALREADY_EXISTS"
    http_status = 409


class NotFound(EdgeAgentError):
    """Nothing by that name here, or nothing this caller may see (the two look alike on purpose)."""

    code = "not_found"
    grpc_status = "NOT_FOUND"
    http_status = 404


class Cancelled(EdgeAgentError):
    """The caller stopped the operation; nothing was recorded."""

    code = "cancelled"
    grpc_status = "CANCELLED"
    http_status = 409


class Untrusted(EdgeAgentError):
    """Bytes that fail their own checks (parse, signature, plausibility): never acted on."""

    code = "untrusted"
    grpc_status = "DATA_LOSS"
    http_status = 502


# --- bad input ---------------------------------------------------------------------------------------------


class ImageUnreadable(BadInput):
    """Not an image we can decode: empty, truncated, not an image at all."""

    code = "image_unreadable"


class ImageTooLarge(ImageUnreadable):
    """More pixels (or bytes) than any real photo or camera frame: refused before decoding."""

    code = "image_too_large"


class ImageFormatUnsupported(ImageUnreadable):
    """A recognised image format that is not one of the accepted ones (TIFF, GIF, PNM, HDR, SVG...)."""

    code = "image_format_unsupported"


class NoFace(BadInput):
    """No face found where one is needed."""

    code = "no_face"


class MultipleFaces(BadInput):
    """More than one face: whose would we verify?"""

    code = "multiple_faces"


class FaceTooSmall(BadInput):
    """Too few pixels between the eyes for a trustworthy embedding."""

    code = "face_too_small"


class FaceTooBlurry(BadInput):
    """Too little detail (focus or motion blur) for a trustworthy embedding."""

    code = "face_too_blurry"


class Pose(BadInput):
    """The face is turned, tilted or upside down beyond what the embedder can compare (ISO/IEC 29794-5 head pose)."""

    code = "pose"


class ConfigError(BadInput):
    """The configuration file or a setting in it is wrong; the message names the key."""

    code = "config_error"


class UnknownTarget(BadInput):
    """A hardware target name the agent has no profile for."""

    code = "unknown_target"


class BundleInvalid(BadInput):
    """A model bundle that is not well formed."""

    code = "bundle_invalid"


class BundleSignatureError(BadInput):
    """A model bundle not signed by a trusted release key."""

    code = "bundle_signature"


class DowngradeRefused(BadInput):
    """A model set older than the one in use: never installed."""

    code = "model_downgrade"


class EnrolmentRefused(BadInput):
    """The carrier refused the one-time enrolment token: ask for a new one."""

    code = "enrolment_refused"


class AgentRefused(BadInput):
    """The agent refused a terminal's request as malformed or unknown."""

    code = "agent_refused"


class BadTransactionId(BadInput):
    """A transaction id outside the safe alphabet (it travels into logs, the outbox and the carrier)."""

    code = "bad_transaction_id"


class BadNonce(BadInput):
    """A carrier nonce in the request of the wrong length."""

    code = "bad_nonce"


class KioskListenError(BadInput):
    """The kiosk cannot listen where it was told to."""

    code = "kiosk_listen"


class IdReaderError(BadInput):
    """The ID card reader gave nothing usable."""

    code = "id_reader"


class CatalogError(BadInput):
    """A kiosk language catalog that is missing or incomplete."""

    code = "kiosk_language"


class CarrierBadRequest(BadInput):
    """The reference carrier's answer to a request it cannot take as sent (malformed, impossible, not canonical);
    the finer reason (``malformed_result``, ``csr_invalid``, ``counter_out_of_range``...) is its ``code``."""

    code = "malformed_request"


# --- unauthenticated ---------------------------------------------------------------------------------------


class NotAuthenticated(Unauthenticated):
    """The caller did not prove who it is: at the reference carrier no client certificate or a signature that
    does not verify (``bad_signature``), at the kiosk no credential (``kiosk_auth``)."""

    code = "no_client_certificate"


# --- unhealthy ---------------------------------------------------------------------------------------------


class ModelError(Unhealthy):
    """A model is missing, unreadable or not loadable: the device is unhealthy, not the input bad."""

    code = "model_error"


class ModelIntegrityError(ModelError):
    """A model file's sha256 does not match the manifest: refuse to load it."""

    code = "model_integrity"


class InstalledSetBroken(ModelError):
    """An installed signed model set no longer matches its signature or hashes."""

    code = "model_integrity"


class AgentUnhealthy(Unhealthy):
    """The agent started with problems (models, identity, outbox) and verifies nothing until they are fixed."""

    code = "agent_unhealthy"


class NoCarrier(Unhealthy):
    """No carrier is configured to issue a nonce, and the request brought none."""

    code = "no_nonce"


class NotEnrolled(Unhealthy):
    """The device has no identity yet: run ``edge-agent provision``."""

    code = "not_enrolled"


class KeyStoreError(Unhealthy):
    """The device keys cannot be read or are not what they should be."""

    code = "keystore_error"


class StateUnusable(Unhealthy):
    """The state folder is missing, not ours, read-only or full."""

    code = "state_dir_unusable"


class CameraRefused(Unhealthy):
    """The capture device is not one the agent may trust; ``code`` says why."""

    code = "camera_refused"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class AgentRunning(Unhealthy):
    """Another agent process holds the state folder."""

    code = "agent_running"


class BacklogPending(Unhealthy):
    """Signed results are still undelivered; replacing the identity would orphan them."""

    code = "outbox_backlog"


class OutboxError(Unhealthy):
    """The outbox database cannot do what was asked."""

    code = "outbox_error"


class OutboxCorrupt(Untrusted, OutboxError):
    """The outbox database fails its integrity checks."""

    code = "outbox_corrupt"


class SchemaTooNew(Unhealthy):
    """A carrier database migrated by newer software than this one."""

    code = "carrier_schema_too_new"


class UnsupportedStore(Unhealthy):
    """A carrier store URL of an unknown kind."""

    code = "carrier_store_url"


class NonceRefused(Unhealthy):
    """The reference carrier will not accept a result on this nonce or counter (unknown, used, expired, issued
    for another transaction; counter not increasing): the device needs a new nonce, not a retry."""

    code = "nonce_unknown"


# --- busy, unavailable, refused ----------------------------------------------------------------------------


class SessionBusy(Busy):
    """A verification is already running on this camera."""

    code = "session_busy"


class PreviewBusy(Busy):
    """Someone is already watching the preview."""

    code = "preview_busy"


class KioskBusy(Busy):
    """The kiosk already runs a verification."""

    code = "kiosk_busy"


class RateLimited(Busy):
    """The reference carrier's per-device rate limit (nonces): retry later."""

    code = "nonce_rate_limited"


class OutboxFull(Busy, OutboxError):
    """The outbox holds as many undelivered results as it may: deliver some first."""

    code = "outbox_full"


class CarrierUnavailable(Unavailable):
    """The carrier did not answer in time or could not be reached (UNAVAILABLE, DEADLINE_EXCEEDED...): retry."""

    code = "carrier_unreachable"

    def __init__(self, message: str, *, status: str = "UNAVAILABLE", detail: str = "") -> None:
        super().__init__(message)
        self.status = status  # the grpc.StatusCode name the carrier channel gave
        self.detail = detail


class CameraError(Unavailable):
    """The camera cannot be opened or stopped delivering frames."""

    code = "camera_error"


class BadCarrierNonce(Unavailable):
    """The carrier issued a nonce of the wrong length: not signed into anything; ask again later."""

    code = "bad_carrier_nonce"


class AgentUnavailable(Unavailable):
    """The agent's socket does not answer."""

    code = "agent_unavailable"


class SpeechUnavailable(Unavailable):
    """No speech synthesiser for the kiosk's spoken prompts."""

    code = "speech_unavailable"


class StoreUnavailable(Unavailable):
    """The database cannot be reached or is busy: the caller should retry (the server answers UNAVAILABLE)."""

    code = "carrier_store_unavailable"


class CarrierRefused(Refused):
    """The carrier answered with a final no; ``status`` and ``detail`` are what it said."""

    code = "carrier_refused"

    def __init__(self, message: str, *, status: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status  # the grpc.StatusCode name
        self.detail = detail


class DeviceRefused(Refused):
    """The reference carrier refuses the calling device for good: unknown, revoked, a replaced certificate, a bad
    enrolment token, a result for another device."""

    code = "device_unknown"


class KioskForbidden(Refused):
    """The kiosk refuses this page or request from where it came (another site, another screen, no X-Kiosk)."""

    code = "kiosk_forbidden"


# --- duplicate, not found, cancelled, untrusted ------------------------------------------------------------


class DuplicateTransaction(Duplicate, OutboxError):
    """This transaction id already has a signed result on this device."""

    code = "duplicate_transaction"


class TransactionConflict(Duplicate):
    """The reference carrier accepted this device's transaction id with a different result."""

    code = "transaction_conflict"


class KioskNotFound(NotFound):
    """No such page, language or spoken text on the kiosk."""

    code = "kiosk_not_found"


class NoResult(NotFound):
    """No result for this transaction and result token."""

    code = "no_result"


class SessionCancelled(Cancelled):
    """The session was cancelled or its client left before a decision."""

    code = "session_cancelled"


class MalformedResult(Untrusted):
    """Signed-result bytes that do not parse as one."""

    code = "malformed_result"


class BadSignature(Untrusted):
    """A signature that does not verify under the expected key."""

    code = "bad_signature"


class InvalidResult(Untrusted):
    """A signed result that cannot be true; ``reason`` is the stable code sent back to the device."""

    code = "invalid_result"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class StaleSubmission(Exception):
    """Raised by the carrier store's ``accept`` when the nonce was used, the counter moved on or the transaction
    was accepted meanwhile."""
