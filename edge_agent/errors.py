"""The agent's exceptions, in one place so callers can map them to exit codes and statuses.

Every error carries a short stable ``code`` (used in JSON output, reason codes
and gRPC details) and a human message. Messages never contain biometric data:
no pixel values, crops or embedding numbers, only what went wrong and where.
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "EdgeAgentError",
    "FaceTooBlurry",
    "FaceTooSmall",
    "ImageFormatUnsupported",
    "ImageTooLarge",
    "ImageUnreadable",
    "ModelError",
    "ModelIntegrityError",
    "MultipleFaces",
    "NoFace",
    "Pose",
]


class EdgeAgentError(Exception):
    """Base of every error the agent raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject  # which input the error is about ("reference", "probe", a model key...)

    def about(self, subject: str) -> EdgeAgentError:
        """The same error, re-worded to name the input it concerns."""
        return type(self)(f"{subject}: {self}", subject=subject)


class BadInput(EdgeAgentError):
    """The caller gave us something we cannot verify: exit code 2, INVALID_ARGUMENT."""

    code = "bad_input"


class ImageUnreadable(BadInput):
    code = "image_unreadable"


class ImageTooLarge(ImageUnreadable):
    """More pixels (or bytes) than any real photo or camera frame: refused before decoding."""

    code = "image_too_large"


class ImageFormatUnsupported(ImageUnreadable):
    """A recognised image format that is not one of the accepted ones (TIFF, GIF, PNM, HDR, SVG...)."""

    code = "image_format_unsupported"


class NoFace(BadInput):
    code = "no_face"


class MultipleFaces(BadInput):
    code = "multiple_faces"


class FaceTooSmall(BadInput):
    code = "face_too_small"


class FaceTooBlurry(BadInput):
    code = "face_too_blurry"


class Pose(BadInput):
    """The face is turned, tilted or upside down beyond what the embedder can compare (ISO/IEC 29794-5 head pose)."""

    code = "pose"


class ModelError(EdgeAgentError):
    """A model is missing, unreadable or not loadable: the device is unhealthy, not the input bad."""

    code = "model_error"


class ModelIntegrityError(ModelError):
    """A model file's sha256 does not match the manifest: refuse to load it."""

    code = "model_integrity"
