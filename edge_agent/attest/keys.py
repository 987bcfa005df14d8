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

__all__ = ["DeviceKeys", "FileKeyStore", "KeyStore", "KeyStoreError", "MemoryKeyStore", "new_signing_key",
           "raw_public_key"]

SIGNING_KEY = "signing.key"
COMMITMENT_SECRET = "commitment.secret"


class KeyStore(Protocol):
    def get(self, name: str) -> bytes | None: ...
    def put(self, name: str, value: bytes) -> None: ...
    def delete(self, name: str) -> None: ...
    def names(self) -> list[str]: ...


class MemoryKeyStore:
    """For tests: the same interface, nothing on disk."""

    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}

    def get(self, name: str) -> bytes | None:
        return self._items.get(name)

    def put(self, name: str, value: bytes) -> None:
        self._items[name] = bytes(value)

    def delete(self, name: str) -> None:
        self._items.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._items)


class FileKeyStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise KeyStoreError(f"invalid key name {name!r}")
        return self.directory / name

    def get(self, name: str) -> bytes | None:
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
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(self._path(name), value, 0o600)

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def names(self) -> list[str]:
        if not self.directory.exists():
            return []
        return sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))


def new_signing_key() -> bytes:
    """A fresh Ed25519 private key in the raw 32-byte form the KeyStore holds."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class DeviceKeys:
    """The device's result-signing key and commitment secret, created on first use."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store

    def ensure(self) -> None:
        if self.store.get(SIGNING_KEY) is None:
            self.store.put(SIGNING_KEY, new_signing_key())
        if self.store.get(COMMITMENT_SECRET) is None:
            self.store.put(COMMITMENT_SECRET, secrets.token_bytes(32))

    def signing_key(self) -> Ed25519PrivateKey:
        raw = self.store.get(SIGNING_KEY)
        if raw is None:
            raise KeyStoreError("device has no signing key: run `edge-agent provision`")
        return Ed25519PrivateKey.from_private_bytes(raw)

    def commitment_secret(self) -> bytes:
        raw = self.store.get(COMMITMENT_SECRET)
        if raw is None:
            raise KeyStoreError("device has no commitment secret: run `edge-agent provision`")
        return raw

    def public_key(self) -> bytes:
        return raw_public_key(self.signing_key().public_key())
