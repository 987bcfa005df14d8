"""The device's on-disk state: identity, TLS credentials, keys and outbox under one folder.

Layout (all created 0700/0600)::

    STATE/keys/           KeyStore: signing.key, commitment.secret, tls.key
    STATE/device.json     device id, carrier addresses, enrolment time
    STATE/ca.pem          the carrier CA that signed our certificate
    STATE/tls.pem         our client certificate (CN = device id)
    STATE/outbox.db       signed results waiting for (or acknowledged by) the carrier
    STATE/agent.lock      held (flock) by the running agent and by commands that change the identity

Key rotation stages the new keys as ``*.next`` in the KeyStore, asks the
carrier, writes the new certificate as ``tls.pem.next`` and only then swaps
keys and certificate; ``tls.pem.next`` existing means the carrier has
switched, so any interrupted swap is rolled forward the next time the
identity is read.

Enrolment writes the certificate files first and ``device.json`` last, each
atomically, so an interrupted enrolment leaves a device that is simply "not
enrolled" rather than half enrolled.

One agent per state folder: the daemon holds ``STATE/agent.lock`` while it runs
(``agent_lock``). Commands that replace or erase the identity (rotate-keys,
decommission) take the same lock, so they never pull keys from under a running
agent: the technician stops the service first, and is told so.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.atomic import atomic_write, fsync_dir
from edge_agent.attest.keys import SIGNING_KEY, DeviceKeys, FileKeyStore, new_signing_key, raw_public_key
from edge_agent.carrier.client import CarrierClient, DeviceCredentials, enroll
from edge_agent.carrier.pki import key_pem, make_csr, new_key, rotation_message
from edge_agent.errors import AgentRunning, NotEnrolled
from edge_agent.faults import crash_point

__all__ = ["DeviceState", "Identity", "NotEnrolled", "agent_lock"]

TLS_KEY = "tls.key"


@dataclass(frozen=True)
class Identity:
    """Who this device is to its carrier: its id, the carrier's address and the mTLS credentials to call it."""

    device_id: str
    carrier_target: str
    credentials: DeviceCredentials


class DeviceState:
    """One device's state folder: enrolment, key rotation and reset of the files laid out above."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = DeviceKeys(FileKeyStore(root / "keys"))

    @property
    def outbox_path(self) -> Path:
        """The outbox database, inside the state folder, so a reset removes it with the identity."""
        return self.root / "outbox.db"

    def enrol(self, enroll_target: str, carrier_target: str, ca_pem: bytes, token: str) -> Identity:
        """Create keys (if absent), enrol with the carrier, store the certificate, then the identity."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.keys.ensure()
        store = self.keys.store
        if store.get(TLS_KEY) is None:
            store.put(TLS_KEY, key_pem(new_key()))
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        tls_key = serialization.load_pem_private_key(store.get(TLS_KEY) or b"", None)
        assert isinstance(tls_key, ec.EllipticCurvePrivateKey)
        resp = enroll(enroll_target, ca_pem, token, self.keys.public_key(), make_csr(tls_key))
        atomic_write(self.root / "ca.pem", bytes(resp.ca_certificate_pem))
        atomic_write(self.root / "tls.pem", bytes(resp.certificate_pem))
        record = {"device_id": resp.device_id, "carrier": carrier_target, "enrol": enroll_target,
                  "enrolled_at_unix": int(time.time())}
        atomic_write(self.root / "device.json", (json.dumps(record, indent=2) + "\n").encode())
        return self.identity()

    def last_submission_ms(self) -> int | None:
        """When the carrier last acknowledged a result (None: never)."""
        import sqlite3

        if not self.outbox_path.exists():
            return None
        db = sqlite3.connect(f"file:{self.outbox_path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT MAX(acked_ms) FROM outbox").fetchone()
        finally:
            db.close()
        return int(row[0]) if row and row[0] is not None else None

    def finish_rotation(self) -> bool:
        """Roll an interrupted key swap forward; True when there was one."""
        pending = self.root / "tls.pem.next"
        if not pending.exists():
            return False
        store = self.keys.store
        for name in (SIGNING_KEY, TLS_KEY):
            staged = store.get(name + ".next")
            if staged is not None:
                store.put(name, staged)
                crash_point("rotate.mid_swap")
                store.delete(name + ".next")
        os.replace(pending, self.root / "tls.pem")
        fsync_dir(self.root)
        return True

    def rotate(self, client: CarrierClient) -> Identity:
        """New signing and TLS keys, enrolled with the carrier over the current certificate; old ones retired."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        self.finish_rotation()
        ident = self.identity()
        store = self.keys.store
        if store.get(SIGNING_KEY + ".next") is None:  # reuse staged keys: a repeat must present the same key
            store.put(SIGNING_KEY + ".next", new_signing_key())
        if store.get(TLS_KEY + ".next") is None:
            store.put(TLS_KEY + ".next", key_pem(new_key()))
        new_signing = Ed25519PrivateKey.from_private_bytes(store.get(SIGNING_KEY + ".next") or b"")
        tls_key = serialization.load_pem_private_key(store.get(TLS_KEY + ".next") or b"", None)
        assert isinstance(tls_key, ec.EllipticCurvePrivateKey)
        csr = make_csr(tls_key)
        new_pub = raw_public_key(new_signing.public_key())
        message = rotation_message(ident.device_id, new_pub, csr)
        resp = client.rotate_keys(pb.RotateRequest(
            device_id=ident.device_id, new_signing_public_key=new_pub, csr_pem=csr,
            old_key_signature=self.keys.signing_key().sign(message), new_key_signature=new_signing.sign(message)))
        crash_point("rotate.after_carrier")
        atomic_write(self.root / "tls.pem.next", bytes(resp.certificate_pem))
        crash_point("rotate.before_swap")
        self.finish_rotation()
        return self.identity()

    def wipe(self) -> list[str]:
        """Forget the identity first (device.json), then keys, certificates, outbox and installed models."""
        import shutil

        removed = []
        for name in ("device.json", "tls.pem", "tls.pem.next", "ca.pem"):
            if (self.root / name).exists():
                (self.root / name).unlink()
                removed.append(name)
        for name in self.keys.store.names():
            self.keys.store.delete(name)
            removed.append(f"keys/{name}")
        for p in sorted(self.root.iterdir()) if self.root.exists() else []:
            if p.name == "agent.lock":
                continue
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p.name)
        return removed

    def identity(self) -> Identity:
        """The enrolled identity, after rolling any interrupted key rotation forward; NotEnrolled if there is none."""
        self.finish_rotation()
        try:
            record = json.loads((self.root / "device.json").read_text())
            ca = (self.root / "ca.pem").read_bytes()
            cert = (self.root / "tls.pem").read_bytes()
        except FileNotFoundError:
            raise NotEnrolled(f"no device identity under {self.root}: run `edge-agent provision`") from None
        except ValueError as exc:
            raise NotEnrolled(f"device identity under {self.root} is unreadable: {exc}") from None
        key = self.keys.store.get(TLS_KEY)
        if key is None:
            raise NotEnrolled(f"TLS key missing under {self.root / 'keys'}")
        return Identity(record["device_id"], record["carrier"], DeviceCredentials(ca, key, cert))


@contextmanager
def agent_lock(state: Path, holder: str = "this command") -> Iterator[None]:
    """Hold the state folder's lock for ``what``, or raise ``AgentRunning`` naming the holder."""
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state / "agent.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AgentRunning(f"the agent (or another technician command) is using {state}; "
                               f"stop it first (systemctl stop edge-agent) and run {holder} again") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock
