"""The device's on-disk state: identity, TLS credentials, keys and outbox under one folder.

Layout (all created 0700/0600)::

    STATE/keys/           KeyStore: signing.key, commitment.secret, tls.key
    STATE/device.json     device id, carrier addresses, enrolment time
    STATE/ca.pem          the carrier CA that signed our certificate
    STATE/tls.pem         our client certificate (CN = device id)
    STATE/outbox.db       signed results waiting for (or acknowledged by) the carrier

Enrolment writes the certificate files first and ``device.json`` last, each
atomically, so an interrupted enrolment leaves a device that is simply "not
enrolled" rather than half enrolled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from edge_agent.atomic import atomic_write
from edge_agent.attest.keys import DeviceKeys, FileKeyStore
from edge_agent.carrier.client import DeviceCredentials, enroll
from edge_agent.carrier.pki import key_pem, make_csr, new_key
from edge_agent.errors import EdgeAgentError

__all__ = ["DeviceState", "Identity", "NotEnrolled"]

TLS_KEY = "tls.key"


class NotEnrolled(EdgeAgentError):
    code = "not_enrolled"


@dataclass(frozen=True)
class Identity:
    device_id: str
    carrier_target: str
    credentials: DeviceCredentials


class DeviceState:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys = DeviceKeys(FileKeyStore(root / "keys"))

    @property
    def outbox_path(self) -> Path:
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

    def identity(self) -> Identity:
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
