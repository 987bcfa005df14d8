"""A real reference carrier on loopback (mTLS) and an enrolled device, for the protocol tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.attest.result import ResultFields, commitment, sign_result
from edge_agent.carrier.client import CarrierClient, DeviceCredentials, enroll
from edge_agent.carrier.pki import key_pem, make_csr, new_key
from edge_agent.carrier.server import CarrierServer, CarrierService, ServerConfig, open_store, server_state
from edge_agent.clock import Clock


@dataclass
class Carrier:
    state: Path
    service: CarrierService
    server: CarrierServer

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    @property
    def enroll_target(self) -> str:
        return f"127.0.0.1:{self.server.enroll_port}"

    def token(self) -> str:
        tok = "tok-" + secrets.token_urlsafe(16)
        self.service.store.add_token(tok, self.service.clock.now_ms() + 3_600_000)
        return tok


def start_carrier(state: Path, *, port: int = 0, enroll_port: int = 0, clock: Clock | None = None,
                  config: ServerConfig | None = None) -> Carrier:
    ca, key, cert = server_state(state, ["localhost", "127.0.0.1"])
    service = CarrierService(open_store(state), ca, clock=clock, config=config)
    server = CarrierServer(service, key, cert, port=port, enroll_port=enroll_port).start()
    return Carrier(state, service, server)


@dataclass
class Device:
    device_id: str
    keys: DeviceKeys
    creds: DeviceCredentials

    def client(self, target: str, deadline_s: float = 5.0) -> CarrierClient:
        return CarrierClient(target, self.creds, deadline_s=deadline_s)

    def fields(self, txn: str, nonce: bytes, manifest: str = "0" * 64, passed: bool = True) -> ResultFields:
        emb = secrets.token_bytes(128)  # stands in for the int8 embedding; never sent
        return ResultFields(
            transaction_id=txn, device_id=self.device_id, carrier_nonce=nonce, model_manifest_sha256=manifest,
            passed=passed, reason_codes=("face_match",) if passed else ("face_mismatch",),
            embedding_commitment=commitment(self.keys.commitment_secret(), txn, nonce, emb),
        )

    def sign(self, result_bytes: bytes) -> bytes:
        return sign_result(self.keys.signing_key(), result_bytes)


def enrol_device(carrier: Carrier) -> Device:
    keys = DeviceKeys(MemoryKeyStore())
    keys.ensure()
    tls_key = new_key()
    ca_pem = (carrier.state / "ca.pem").read_bytes()
    resp = enroll(carrier.enroll_target, ca_pem, carrier.token(), keys.public_key(), make_csr(tls_key))
    creds = DeviceCredentials(bytes(resp.ca_certificate_pem), key_pem(tls_key), bytes(resp.certificate_pem))
    return Device(resp.device_id, keys, creds)
