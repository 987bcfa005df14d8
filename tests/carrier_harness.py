"""A real reference carrier on loopback (mTLS) and an enrolled device, for the protocol tests.

Carrier tests run against both stores with the same code: the ``carrier_store``
fixture is parametrised over SQLite and PostgreSQL. PostgreSQL comes from
``EDGE_AGENT_PG_URL`` (``tools/pg-temp.sh start`` or ``make pg``); each test gets
its own schema. Without the variable those cases skip locally and fail in CI.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import grpc
import pytest

from edge_agent._proto import carrier_pb2 as pb
from edge_agent._proto import carrier_pb2_grpc as pb_grpc
from edge_agent.attest.keys import DeviceKeys, MemoryKeyStore
from edge_agent.attest.result import ResultFields, commitment, sign_result
from edge_agent.carrier.client import CarrierClient, DeviceCredentials, enroll
from edge_agent.carrier.pki import key_pem, make_csr, new_key
from edge_agent.clock import Clock
from edge_agent.reference_carrier.server import CarrierServer, CarrierService, ServerConfig, open_store, server_state

STORES = ["sqlite", "postgresql"]


def pg_url() -> str:
    """The test PostgreSQL server, or skip (locally) / fail (in CI) when there is none."""
    url = os.environ.get("EDGE_AGENT_PG_URL", "")
    if not url:
        message = "EDGE_AGENT_PG_URL is not set: start one with `make pg` (tools/pg-temp.sh start)"
        if os.environ.get("CI"):
            pytest.fail(message + " -- CI must run the PostgreSQL carrier tests")
        pytest.skip(message)
    return url


@dataclass
class StoreFactory:
    """Hands out store URLs: ``None`` for SQLite (carrier.db in the carrier's state), a fresh schema on PostgreSQL."""

    kind: str
    schemas: dict[str, str] = field(default_factory=dict)

    def url(self, name: str = "main") -> str | None:
        if self.kind == "sqlite":
            return None
        if name not in self.schemas:
            import psycopg

            schema = f"t_{secrets.token_hex(6)}"
            with psycopg.connect(pg_url(), autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {schema}".encode())
            self.schemas[name] = schema
        sep = "&" if "?" in pg_url() else "?"
        return f"{pg_url()}{sep}options={quote(f'-c search_path={self.schemas[name]}')}"

    def drop(self) -> None:
        if self.schemas:
            import psycopg

            with psycopg.connect(pg_url(), autocommit=True) as conn:
                for schema in self.schemas.values():
                    conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@pytest.fixture(params=STORES)
def carrier_store(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    if request.param == "postgresql":
        pg_url()
    factory = StoreFactory(request.param)
    yield factory
    factory.drop()


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

    def stop(self) -> None:
        self.server.stop(None)
        self.service.store.close()


def start_carrier(state: Path, *, store: str | None = None, port: int = 0, enroll_port: int = 0,
                  clock: Clock | None = None, config: ServerConfig | None = None) -> Carrier:
    """A carrier replica: ``store`` None is SQLite in ``state``; two replicas may share a state and a store URL."""
    ca, key, cert = server_state(state, ["localhost", "127.0.0.1"])
    service = CarrierService(open_store(state, store), ca, clock=clock, config=config)
    server = CarrierServer(service, key, cert, port=port, enroll_port=enroll_port).start()
    return Carrier(state, service, server)


class WireClient(CarrierClient):
    """The device client without its error mapping: tests of the server read the raw gRPC status it answers."""

    def _call(self, method, request):  # type: ignore[no-untyped-def]
        return method(request, timeout=self.deadline_s)


def wire_enroll(target: str, ca_pem: bytes, token: str, signing_public_key: bytes, csr_pem: bytes) -> pb.EnrollResponse:
    """``enroll`` without the device's error mapping (see ``WireClient``)."""
    with grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca_pem)) as channel:
        request = pb.EnrollRequest(token=token, signing_public_key=signing_public_key, csr_pem=csr_pem)
        return pb_grpc.CarrierStub(channel).Enroll(request, timeout=10)  # type: ignore[no-any-return]


@dataclass
class Device:
    device_id: str
    keys: DeviceKeys
    creds: DeviceCredentials

    def client(self, target: str, deadline_s: float = 5.0) -> CarrierClient:
        """A client for testing the server: failures come as the raw ``grpc.RpcError``."""
        return WireClient(target, self.creds, deadline_s=deadline_s)

    def carrier_client(self, target: str, deadline_s: float = 5.0) -> CarrierClient:
        """The device's own client, as the agent and the sender use it: failures come as typed errors."""
        return CarrierClient(target, self.creds, deadline_s=deadline_s)

    def fields(self, txn: str, nonce: bytes, manifest: str = "0" * 64, passed: bool = True,
               liveness: int = pb.LIVENESS_LIVE) -> ResultFields:
        emb = secrets.token_bytes(128)  # stands in for the int8 embedding; never sent
        return ResultFields(
            transaction_id=txn, device_id=self.device_id, carrier_nonce=nonce, model_manifest_sha256=manifest,
            passed=passed, reason_codes=("face_match",) if passed else ("face_mismatch",), liveness=liveness,
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


@pytest.fixture
def carrier(tmp_path: Path, carrier_store: StoreFactory) -> Iterator[Carrier]:
    """A reference carrier on each store (SQLite, and PostgreSQL when EDGE_AGENT_PG_URL is set); the SQLite-only
    suites (provisioning, lifecycle, selftest, the client's mapping) define their own."""
    c = start_carrier(tmp_path / "carrier", store=carrier_store.url())
    yield c
    c.stop()


@pytest.fixture
def device(carrier: Carrier) -> Device:
    """A device enrolled with ``carrier``, its keys in memory."""
    return enrol_device(carrier)
