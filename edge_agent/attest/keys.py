"""Device keys behind a small ``KeyStore`` interface.

The file store keeps each secret in its own 0600 file, written atomically
(temp file, fsync, rename), so a power cut never leaves half a key. A TPM or
secure element can replace it later by implementing the same four methods.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_agent.atomic import atomic_write
from edge_agent.errors import KeyStoreError

__all__ = ["SIGNING_KEY", "DeviceKeys", "FileKeyStore", "KeyStore", "KeyStoreError", "MemoryKeyStore",
           "new_signing_key", "raw_public_key"]

SIGNING_KEY = "signing.key"
COMMITMENT_SECRET = "commitment.secret"


class KeyStore(Protocol):
    """Where the device's secrets live, by name; a TPM or secure element can stand in for the file store."""

    def get(self, name: str) -> bytes | None:
        """The secret named ``name``, or None when the device has none yet."""
        ...

    def put(self, name: str, value: bytes) -> None:
        """Store ``value`` under ``name``, replacing the previous value whole or not at all."""
        ...

    def delete(self, name: str) -> None:
        """Forget ``name``; forgetting a name that is not there is not an error."""
        ...

    def names(self) -> list[str]:
        """Every stored name, sorted, so a reset can delete all of them."""
        ...


class MemoryKeyStore:
    """For tests: the same interface, nothing on disk."""

    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}

    def get(self, name: str) -> bytes | None:
        """The value put under ``name``, or None."""
        return self._items.get(name)

    def put(self, name: str, value: bytes) -> None:
        """Keep a copy of ``value``, so a caller's later change to its buffer cannot alter the key."""
        self._items[name] = bytes(value)

    def delete(self, name: str) -> None:
        """Drop ``name`` if present."""
        self._items.pop(name, None)

    def names(self) -> list[str]:
        """The stored names, sorted like the file store's."""
        return sorted(self._items)


class FileKeyStore:
    """The production store: one 0600 file per secret in a 0700 directory, each written atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise KeyStoreError(f"invalid key name {name!r}")
        return self.directory / name

    def get(self, name: str) -> bytes | None:
        """The file's bytes, or None if absent; refuses a key file that others could read."""
        path = self._path(name)
        try:
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise KeyStoreError(f"{path} is readable by others (mode {mode:o}); expected 0600")
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeyStoreError(f"cannot read {path}: {exc.strerror}") from exc

    def put(self, name: str, value: bytes) -> None:
        """Write atomically with mode 0600, so a power cut leaves the old key or the new one, never half."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(self._path(name), value, 0o600)

    def delete(self, name: str) -> None:
        """Remove the key file if it exists."""
        self._path(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        """Key file names, sorted; hidden files (an atomic write's temp file) are not keys."""
        if not self.directory.exists():
            return []
        return sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))


def new_signing_key() -> bytes:
    """A fresh Ed25519 private key in the raw 32-byte form the KeyStore holds."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key, the form enrolment sends and results are verified with."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class DeviceKeys:
    """The device's result-signing key and commitment secret, created on first use."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    def ensure(self) -> None:
        """Create whichever of the two secrets is missing; existing ones are never replaced."""
        if self.store.get(SIGNING_KEY) is None:
            self.store.put(SIGNING_KEY, new_signing_key())
        if self.store.get(COMMITMENT_SECRET) is None:
            self.store.put(COMMITMENT_SECRET, secrets.token_bytes(32))

    def signing_key(self) -> Ed25519PrivateKey:
        """The key that signs results; a device that was never provisioned says so."""
        raw = self.store.get(SIGNING_KEY)
        if raw is None:
            raise KeyStoreError("device has no signing key: run `edge-agent provision`")
        return Ed25519PrivateKey.from_private_bytes(raw)

    def commitment_secret(self) -> bytes:
        """The HMAC key of the embedding commitment, which only this device holds."""
        raw = self.store.get(COMMITMENT_SECRET)
        if raw is None:
            raise KeyStoreError("device has no commitment secret: run `edge-agent provision`")
        return raw

    def public_key(self) -> bytes:
        """The raw signing public key the carrier enrols to verify this device's results."""
        return raw_public_key(self.signing_key().public_key())
