"""The model bundle format: one file, every byte of it covered by the release signature.

Layout::

    b"EDGEAGENT-MODELS"            16 bytes
    header length                  4 bytes, big-endian
    header                         canonical JSON: format, version, files [{name, size, sha256}]
    file contents                  concatenated in header order (manifest.json first)
    signature                      64 bytes: Ed25519 over CONTEXT || sha256(everything above)

The signature is checked before anything else is parsed, so a flipped bit
anywhere (header, a model, the signature itself, trailing bytes) is refused
with ``bundle_signature`` or ``bundle_invalid``; after that the header's
hashes and the model manifest's own hashes are checked against the files.
A device trusts the public release keys in a folder (``*.pub``, PEM); the
private key stays with whoever publishes model sets.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge_agent.errors import BadInput, BundleInvalid, BundleSignatureError
from edge_agent.safe_read import read_regular

__all__ = ["MAGIC", "Bundle", "BundleInvalid", "BundleSignatureError", "check_files", "key_id", "load_private_key",
           "load_trusted_keys", "pack", "parse_version", "read_bundle", "read_bundle_file", "signed_digest",
           "verify_signature"]

MAGIC = b"EDGEAGENT-MODELS"
CONTEXT = b"edge-agent model bundle v1\x00"
FORMAT = 1
SIG_LEN = 64
MAX_HEADER = 1 << 20
MAX_BUNDLE = 512 << 20
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# Written beside the files by the installer; a bundle file with one of these names would overwrite it.
RESERVED = frozenset({"bundle.header", "bundle.sig"})


@dataclass(frozen=True)
class Bundle:
    """A bundle whose signature and hashes have all been checked, with the key that vouched for it."""

    version: str
    header: bytes  # exactly as signed, so an installed set can be re-verified later
    signature: bytes
    files: dict[str, bytes]  # name -> content, manifest.json included
    key_id: str  # sha256 of the raw public key that verified it, first 16 hex digits


def parse_version(version: str) -> tuple[int, ...]:
    """``2026.11.1`` -> (2026, 11, 1); versions must be dotted integers so "newer" is well defined."""
    if not re.fullmatch(r"\d{1,9}(\.\d{1,9}){0,4}", version):
        raise BundleInvalid(f"model set version {version!r} is not dotted integers (e.g. 2026.11.1)")
    return tuple(int(p) for p in version.split("."))


def key_id(public: Ed25519PublicKey) -> str:
    """Names a release key in command output: the first 16 hex digits of its raw bytes' SHA-256."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed_digest(prefix: bytes) -> bytes:
    """What the release key signs: the bytes' hash after a context label, so no other signature can pass."""
    return CONTEXT + hashlib.sha256(prefix).digest()


def _header(version: str, files: dict[str, bytes]) -> bytes:
    entries = [{"name": n, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in files.items()]
    return json.dumps({"format": FORMAT, "version": version, "files": entries}, sort_keys=True,
                      separators=(",", ":")).encode()


def pack(models_dir: Path, key: Ed25519PrivateKey) -> bytes:
    """A bundle of the model set in ``models_dir``: its manifest and every model file present.

    Optional models (``"optional": true``) that are absent are left out; a
    required one that is absent is an error, as is a file whose hash differs
    from the manifest (a release must not sign what the manifest disowns).
    """
    try:
        manifest_raw = (models_dir / "manifest.json").read_bytes()
        manifest = json.loads(manifest_raw)
    except (OSError, ValueError) as exc:
        raise BundleInvalid(f"cannot read {models_dir / 'manifest.json'}: {exc}") from None
    version = str(manifest.get("version", ""))
    parse_version(version)
    files = {"manifest.json": manifest_raw}
    for key_name, entry in manifest.get("models", {}).items():
        path = models_dir / entry["file"]
        if not path.exists():
            if entry.get("optional"):
                continue
            raise BundleInvalid(f"required model {key_name} ({entry['file']}) is missing from {models_dir}")
        blob = path.read_bytes()
        if hashlib.sha256(blob).hexdigest() != entry["sha256"]:
            raise BundleInvalid(f"{entry['file']} does not match its manifest sha256; refusing to sign it")
        files[entry["file"]] = blob
    header = _header(version, files)
    prefix = MAGIC + struct.pack(">I", len(header)) + header + b"".join(files.values())
    return prefix + key.sign(signed_digest(prefix))


def verify_signature(prefix: bytes, signature: bytes, trusted: list[Ed25519PublicKey]) -> str:
    """The id of the first trusted key that verifies ``signature``; BundleSignatureError if none does."""
    message = signed_digest(prefix)
    for public in trusted:
        try:
            public.verify(signature, message)
        except InvalidSignature:
            continue
        return key_id(public)
    raise BundleSignatureError("the bundle's signature does not verify with any trusted release key "
                               "(tampered, corrupted, or signed by a key this device does not trust)")


def _parse_header(header: bytes) -> tuple[str, list[dict]]:
    try:
        data = json.loads(header)
        version, entries = data["version"], data["files"]
        if data["format"] != FORMAT or not isinstance(entries, list):
            raise ValueError(f"format {data['format']!r}")
        for e in entries:
            if not (isinstance(e, dict) and isinstance(e["name"], str) and type(e["size"]) is int
                    and isinstance(e["sha256"], str)):
                raise ValueError("bad file entry")
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleInvalid(f"bundle header is malformed: {exc}") from None
    names = [e["name"] for e in entries]
    if len(set(names)) != len(names) or not names or names[0] != "manifest.json":
        raise BundleInvalid("bundle must list manifest.json first and each file once")
    for n in names:
        _check_name(n)
    for e in entries:
        if not 0 <= e["size"] <= MAX_BUNDLE:
            raise BundleInvalid(f"bundle file {e['name']} has an impossible size {e['size']}")
    parse_version(str(version))
    return str(version), entries


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise BundleInvalid(f"bundle file name {name!r} is not a plain file name")
    if name.lower() in RESERVED:
        raise BundleInvalid(f"bundle file name {name!r} is reserved for the installer's own records")


def check_files(version: str, entries: list[dict], files: dict[str, bytes]) -> None:
    """Header hashes, then the model manifest: same version, it vouches for every model it lists, and the
    bundle holds nothing the manifest does not list (a signed release carries exactly its model set)."""
    for e in entries:
        if hashlib.sha256(files[e["name"]]).hexdigest() != e["sha256"]:
            raise BundleInvalid(f"{e['name']} does not match its sha256 in the bundle header")
    try:
        manifest = json.loads(files["manifest.json"])
        models = manifest["models"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleInvalid(f"the bundle's manifest.json is malformed: {exc}") from None
    if str(manifest.get("version")) != version:
        raise BundleInvalid(f"manifest version {manifest.get('version')!r} differs from the bundle's {version!r}")
    if not isinstance(models, dict) or not all(isinstance(e, dict) for e in models.values()):
        raise BundleInvalid("the bundle's manifest.json has no table of models")
    listed = {str(e.get("file", "")) for e in models.values()}
    for name in listed:
        _check_name(name)
    extra = sorted(set(files) - listed - {"manifest.json"})
    if extra:
        raise BundleInvalid(f"the bundle holds files its manifest does not list: {', '.join(extra)}")
    for key_name, entry in models.items():
        blob = files.get(entry.get("file", ""))
        if blob is None:
            if entry.get("optional"):
                continue
            raise BundleInvalid(f"required model {key_name} is not in the bundle")
        if hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
            raise BundleInvalid(f"{entry['file']} does not match the manifest's sha256")


def read_bundle(data: bytes, trusted: list[Ed25519PublicKey]) -> Bundle:
    """The checked bundle in ``data``: the signature first, then the layout, header and hashes."""
    if not trusted:
        raise BundleSignatureError("no trusted release keys are installed on this device")
    if len(data) > MAX_BUNDLE:
        raise BundleInvalid(f"bundle is {len(data)} bytes; the limit is {MAX_BUNDLE}")
    if len(data) < len(MAGIC) + 4 + SIG_LEN or not data.startswith(MAGIC):
        raise BundleInvalid("not an edge-agent model bundle (bad magic or too short)")
    prefix, signature = data[:-SIG_LEN], data[-SIG_LEN:]
    kid = verify_signature(prefix, signature, trusted)
    (hlen,) = struct.unpack(">I", prefix[len(MAGIC):len(MAGIC) + 4])
    start = len(MAGIC) + 4
    if hlen > MAX_HEADER or start + hlen > len(prefix):
        raise BundleInvalid("bundle header length is out of range")
    header = prefix[start:start + hlen]
    version, entries = _parse_header(header)
    offset = start + hlen
    files: dict[str, bytes] = {}
    for e in entries:
        if e["size"] < 0 or offset + e["size"] > len(prefix):
            raise BundleInvalid(f"bundle is truncated inside {e['name']}")
        files[e["name"]] = prefix[offset:offset + e["size"]]
        offset += e["size"]
    if offset != len(prefix):
        raise BundleInvalid("bundle has bytes after its last file")
    check_files(version, entries, files)
    return Bundle(version, header, signature, files, kid)


def read_bundle_file(path: Path) -> bytes:
    """A bundle's bytes: a regular file of at most ``MAX_BUNDLE`` bytes (never a device or FIFO)."""
    return read_regular(path, MAX_BUNDLE, "model bundle", BundleInvalid)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 release key that ``pack`` signs with, read from a PEM file; BadInput otherwise."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise BadInput(f"cannot read the release private key {path}: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BadInput(f"{path} is not an Ed25519 private key")
    return key


def load_trusted_keys(folder: Path) -> list[Ed25519PublicKey]:
    """Every ``*.pub`` (PEM Ed25519 public key) in ``folder``; unreadable files are errors, not skipped."""
    keys = []
    for path in sorted(folder.glob("*.pub")) if folder.is_dir() else []:
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except ValueError as exc:
            raise BadInput(f"trusted release key {path} is unreadable: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise BadInput(f"trusted release key {path} is not an Ed25519 key")
        keys.append(key)
    return keys
