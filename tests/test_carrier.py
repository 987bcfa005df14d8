"""The reference carrier over real gRPC with mutual TLS on loopback: every rejection has its status.

Every test runs against both stores (SQLite and PostgreSQL, ``carrier_store``).
"""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

import grpc
import pytest
from carrier_harness import Carrier, Device, StoreFactory, WireClient, enrol_device, start_carrier, wire_enroll
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.attest.result import encode_result, sign_result
from edge_agent.carrier.client import CarrierClient, DeviceCredentials, enroll
from edge_agent.carrier.pki import make_csr, new_key
from edge_agent.clock import FakeClock, SystemClock
from edge_agent.reference_carrier.server import MAX_MESSAGE_BYTES, SERVICE


def signed_for(device: Device, client: CarrierClient, txn: str, counter: int, *, nonce: bytes | None = None,
               created: int | None = None) -> bytes:
    if nonce is None:
        nonce = bytes(client.get_nonce(device.device_id, txn).nonce)
    body = encode_result(device.fields(txn, nonce), counter, created or SystemClock().now_ms())
    return device.sign(body)


def status(fn) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code()  # type: ignore[attr-defined]


def test_submit_and_idempotent_resubmit(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    signed = signed_for(device, client, "t1", 1)
    ack = client.submit(signed)
    assert not ack.duplicate and ack.receipt_id
    again = client.submit(signed)
    assert again.duplicate and again.receipt_id == ack.receipt_id
    assert carrier.service.store.audit_count() == 1  # type: ignore[attr-defined]
    assert client.heartbeat(device.device_id, 0, 0).server_time_unix_ms > 0


def test_enrolment_token_is_single_use(carrier: Carrier) -> None:
    ca = (carrier.state / "ca.pem").read_bytes()
    tok = carrier.token()
    args = (secrets.token_bytes(32), make_csr(new_key()))
    enroll(carrier.enroll_target, ca, tok, *args)
    assert status(lambda: wire_enroll(carrier.enroll_target, ca, tok, *args)) == grpc.StatusCode.PERMISSION_DENIED
    assert status(lambda: wire_enroll(carrier.enroll_target, ca, "made-up", *args)) == grpc.StatusCode.PERMISSION_DENIED
    assert status(lambda: wire_enroll(carrier.enroll_target, ca, carrier.token(), b"short", args[1])) == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_replayed_nonce_is_rejected(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    nonce = bytes(client.get_nonce(device.device_id, "a").nonce)
    client.submit(signed_for(device, client, "a", 1, nonce=nonce))
    replay = signed_for(device, client, "b", 2, nonce=nonce)
    assert status(lambda: client.submit(replay)) == grpc.StatusCode.FAILED_PRECONDITION


def test_unknown_nonce_is_rejected(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    forged_nonce = signed_for(device, client, "a", 1, nonce=secrets.token_bytes(32))
    assert status(lambda: client.submit(forged_nonce)) == grpc.StatusCode.FAILED_PRECONDITION


def test_expired_nonce_is_rejected(tmp_path: Path, carrier_store: StoreFactory) -> None:
    clock = FakeClock()
    c = start_carrier(tmp_path / "c", store=carrier_store.url(), clock=clock)
    try:
        dev = enrol_device(c)
        client = dev.client(c.target)
        nonce = client.get_nonce(dev.device_id, "a")
        late = signed_for(dev, client, "a", 1, nonce=bytes(nonce.nonce), created=nonce.expires_at_unix_ms + 3_600_000)
        assert status(lambda: client.submit(late)) == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        c.stop()


def test_counter_must_increase(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    second = signed_for(device, client, "t2", 2)
    first = signed_for(device, client, "t1", 1)
    client.submit(second)  # reordered: counter 2 arrives first
    assert status(lambda: client.submit(first)) == grpc.StatusCode.FAILED_PRECONDITION


def test_forged_signature(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    nonce = bytes(client.get_nonce(device.device_id, "t").nonce)
    forged = sign_result(Ed25519PrivateKey.generate(), encode_result(device.fields("t", nonce), 1, 1))
    assert status(lambda: client.submit(forged)) == grpc.StatusCode.UNAUTHENTICATED


def test_bit_flips_are_rejected(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    signed = signed_for(device, client, "t", 1)
    codes = set()
    for bit in range(0, len(signed) * 8, 7):
        data = bytearray(signed)
        data[bit // 8] ^= 1 << (bit % 8)
        codes.add(status(lambda d=bytes(data): raw_call(client, d)))
    assert codes <= {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED}
    assert client.submit(signed).receipt_id  # the untouched result is still accepted


def test_different_result_under_accepted_txn(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    client.submit(signed_for(device, client, "t", 1))
    other = signed_for(device, client, "t", 2)
    assert status(lambda: client.submit(other)) == grpc.StatusCode.ALREADY_EXISTS


def test_result_for_another_device(carrier: Carrier, device: Device) -> None:
    thief = enrol_device(carrier)
    client = device.client(carrier.target)
    signed = signed_for(device, client, "t", 1)
    assert status(lambda: thief.client(carrier.target).submit(signed)) in (
        grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def test_revoked_device(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    carrier.service.store.revoke(device.device_id)
    assert status(lambda: client.get_nonce(device.device_id, "t")) == grpc.StatusCode.PERMISSION_DENIED


def test_no_client_certificate_cannot_call(carrier: Carrier) -> None:
    ca = (carrier.state / "ca.pem").read_bytes()
    with grpc.secure_channel(carrier.target, grpc.ssl_channel_credentials(root_certificates=ca)) as ch:
        call = ch.unary_unary(f"/{SERVICE}/GetNonce")
        assert status(lambda: call(b"", timeout=5)) == grpc.StatusCode.UNAVAILABLE


def test_certificate_from_another_ca_cannot_call(carrier: Carrier, tmp_path: Path,
                                                carrier_store: StoreFactory) -> None:
    other = start_carrier(tmp_path / "other", store=carrier_store.url("other"))
    try:
        stranger = enrol_device(other)
        ca = (carrier.state / "ca.pem").read_bytes()
        creds = DeviceCredentials(ca, stranger.creds.key_pem, stranger.creds.cert_pem)
        client = WireClient(carrier.target, creds)
        assert status(lambda: client.get_nonce("x", "t")) == grpc.StatusCode.UNAVAILABLE
    finally:
        other.stop()


def raw_call(client: CarrierClient, data: bytes, method: str = "SubmitResult") -> bytes:
    call = client._channel.unary_unary(f"/{SERVICE}/{method}")
    return call(data, timeout=5)  # type: ignore[no-any-return]


@pytest.mark.parametrize("method", ["SubmitResult", "GetNonce", "Heartbeat"])
def test_garbage_and_oversized_messages(carrier: Carrier, device: Device, method: str) -> None:
    client = device.client(carrier.target)
    for junk in (b"\xff" * 50, b"\x0a\xff\xff\xff\xff\x0f", secrets.token_bytes(3000)):
        assert status(lambda j=junk: raw_call(client, j, method)) == grpc.StatusCode.INVALID_ARGUMENT
    big = b"\x0a" + b"\x00" * (MAX_MESSAGE_BYTES + 10)
    assert status(lambda: raw_call(client, big, method)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    # the server is still up and serving
    assert client.heartbeat(device.device_id, 0, 0).server_time_unix_ms > 0


@pytest.mark.slow  # 300 fuzzed requests per store (~3 s each)
@given(data=st.binary(max_size=2048), method=st.sampled_from(["SubmitResult", "GetNonce", "Heartbeat"]))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_fuzzed_requests_never_break_the_server(carrier: Carrier, device: Device, data: bytes, method: str) -> None:
    client = device.client(carrier.target)
    try:
        raw_call(client, data, method)
    except grpc.RpcError as err:
        assert err.code() in {  # type: ignore[attr-defined]
            grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED,
            grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED,
        }
    finally:
        client.close()


def details(fn) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return err.value.code(), err.value.details()  # type: ignore[attr-defined]


# -- transactions belong to a device (issue 14, item 5) -------------------------------------------------------------

def test_transaction_ids_are_per_device(carrier: Carrier, device: Device) -> None:
    """Another device using the same transaction id first neither blocks this device nor learns anything."""
    other = enrol_device(carrier)
    mine, theirs = device.client(carrier.target), other.client(carrier.target)
    my_result = signed_for(device, mine, "shared-txn", 1)
    their_ack = theirs.submit(signed_for(other, theirs, "shared-txn", 1))
    my_ack = mine.submit(my_result)
    assert not my_ack.duplicate and my_ack.receipt_id != their_ack.receipt_id
    assert mine.submit(my_result).receipt_id == my_ack.receipt_id  # each device's resubmission: its own receipt
    # A different result under the other device's accepted id is that device's conflict only.
    code, text = details(lambda: theirs.submit(signed_for(other, theirs, "shared-txn", 2)))
    assert code == grpc.StatusCode.ALREADY_EXISTS and text.startswith("transaction_conflict:")
    assert device.device_id not in text
    assert {a.device_id for a in carrier.service.store.acceptances("shared-txn")} == {device.device_id,
                                                                                       other.device_id}


def test_nonce_is_bound_to_its_transaction(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    nonce = bytes(client.get_nonce(device.device_id, "for-a").nonce)
    code, text = details(lambda: client.submit(signed_for(device, client, "for-b", 1, nonce=nonce)))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and text.startswith("nonce_other_transaction:")
    assert client.submit(signed_for(device, client, "for-a", 2, nonce=nonce)).receipt_id  # not consumed by the try


def test_another_devices_nonce_looks_unknown(carrier: Carrier, device: Device) -> None:
    other = enrol_device(carrier)
    theirs = other.client(carrier.target)
    their_nonce = bytes(theirs.get_nonce(other.device_id, "t").nonce)
    client = device.client(carrier.target)
    foreign = details(lambda: client.submit(signed_for(device, client, "t", 1, nonce=their_nonce)))
    unknown = details(lambda: client.submit(signed_for(device, client, "t", 1, nonce=secrets.token_bytes(32))))
    assert foreign == unknown and foreign[1].startswith("nonce_unknown:")


def test_nonce_request_needs_a_transaction_id(carrier: Carrier, device: Device) -> None:
    client = device.client(carrier.target)
    code, text = details(lambda: client.get_nonce(device.device_id, ""))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and text.startswith("transaction_id_invalid:")


# -- results that cannot be true (issue 14, item 6) -----------------------------------------------------------------

IMPOSSIBLE = {
    "pass_not_live": dict(liveness=pb.LIVENESS_SPOOF),
    "pass_not_run": dict(liveness=pb.LIVENESS_NOT_RUN),
    "pass_inconclusive": dict(liveness=pb.LIVENESS_INCONCLUSIVE),
    "pass_without_reasons": dict(reason_codes=()),
    "pass_without_match": dict(reason_codes=("face_mismatch",)),
    "pass_without_commitment": dict(embedding_commitment=b""),
    "manifest_not_hex": dict(model_manifest_sha256="not-a-digest"),
    "manifest_short": dict(model_manifest_sha256="ab" * 16),
    "manifest_upper": dict(model_manifest_sha256="AB" * 32),
    "reason_with_spaces": dict(reason_codes=("face_match", "a b=c")),
}
EXPECTED_REASON = {"pass_not_run": "pass_not_live", "pass_inconclusive": "pass_not_live",
                   "manifest_not_hex": "manifest_digest_invalid", "manifest_short": "manifest_digest_invalid",
                   "manifest_upper": "manifest_digest_invalid", "reason_with_spaces": "reason_codes_invalid"}


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE))
def test_impossible_signed_results_are_refused(carrier: Carrier, device: Device, case: str) -> None:
    client = device.client(carrier.target)
    nonce = bytes(client.get_nonce(device.device_id, "t").nonce)
    fields = dataclasses.replace(device.fields("t", nonce), **IMPOSSIBLE[case])
    signed = device.sign(encode_result(fields, 1, SystemClock().now_ms()))
    code, text = details(lambda: client.submit(signed))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert text.startswith(EXPECTED_REASON.get(case, case) + ":"), text
    assert carrier.service.store.audit_count() == 0
    # The nonce and the counter were not consumed: the genuine result still goes through.
    assert client.submit(device.sign(encode_result(device.fields("t", nonce), 1, SystemClock().now_ms()))).receipt_id


@pytest.mark.parametrize("counter", [2**63, 2**63 + 1, 2**64 - 1])
def test_counter_beyond_int64_is_invalid_not_internal(carrier: Carrier, device: Device, counter: int) -> None:
    client = device.client(carrier.target)
    code, text = details(lambda: client.submit(signed_for(device, client, "t", counter)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and text.startswith("counter_out_of_range:"), text
    assert client.submit(signed_for(device, client, "t2", 2**63 - 1)).receipt_id  # the largest counter is fine


def test_fail_with_spoof_verdict_is_accepted(carrier: Carrier, device: Device) -> None:
    """The rules refuse impossible PASSes, not honest FAILs."""
    client = device.client(carrier.target)
    nonce = bytes(client.get_nonce(device.device_id, "t").nonce)
    fields = device.fields("t", nonce, passed=False, liveness=pb.LIVENESS_SPOOF)
    assert client.submit(device.sign(encode_result(fields, 1, SystemClock().now_ms()))).receipt_id


def test_known_device_is_accepted_in_one_store_call(carrier: Carrier, device: Device,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the replica knows the device's key, a fresh result is accepted without reading the rows first."""
    store = carrier.service.store
    client = device.client(carrier.target)
    client.submit(signed_for(device, client, "warm", 1))  # first result: the full path, the key is remembered
    looked: list[str] = []
    real_submission = store.submission
    monkeypatch.setattr(store, "submission", lambda *a: looked.append(a[1]) or real_submission(*a))
    ack = client.submit(signed_for(device, client, "fast", 2))
    assert not ack.duplicate and ack.receipt_id
    assert looked == []
    acc = store.acceptance(device.device_id, "fast")
    assert acc is not None and acc.receipt_id == ack.receipt_id
    other = signed_for(device, client, "fast", 3, nonce=b"\0" * 32)  # other bytes: the full path answers
    assert status(lambda: client.submit(other)) == grpc.StatusCode.ALREADY_EXISTS
    assert looked == ["fast"]


def reason(fn) -> str:
    with pytest.raises(grpc.RpcError) as err:
        fn()
    return f"{err.value.code().name} {err.value.details().split(':')[0]}"  # type: ignore[attr-defined]


def test_known_device_gets_the_same_refusals(tmp_path: Path, carrier_store: StoreFactory) -> None:
    """With the key remembered, every refusal still comes with its own status and reason code."""
    clock = FakeClock()
    c = start_carrier(tmp_path / "c", store=carrier_store.url(), clock=clock)
    try:
        dev = enrol_device(c)
        client = dev.client(c.target)
        now = clock.now_ms()
        first = signed_for(dev, client, "t1", 5, created=now)
        client.submit(first)  # the key is remembered from here on
        assert client.submit(first).duplicate
        used = parse_nonce(first)
        assert reason(lambda: client.submit(signed_for(dev, client, "t2", 6, nonce=used, created=now))) == \
            "FAILED_PRECONDITION nonce_other_transaction"
        assert reason(lambda: client.submit(signed_for(dev, client, "t3", 5, created=now))) == \
            "FAILED_PRECONDITION counter_not_increasing"
        late = client.get_nonce(dev.device_id, "t4")
        assert reason(lambda: client.submit(signed_for(dev, client, "t4", 7, nonce=bytes(late.nonce),
                                                       created=late.expires_at_unix_ms + 3_600_000))) == \
            "FAILED_PRECONDITION nonce_expired"
        assert reason(lambda: client.submit(signed_for(dev, client, "t1", 8, created=now))) == \
            "ALREADY_EXISTS transaction_conflict"
        pending = signed_for(dev, client, "t5", 9, created=now)
        c.service.store.revoke(dev.device_id)
        assert reason(lambda: client.submit(pending)) == "PERMISSION_DENIED device_revoked"
        assert c.service.store.audit_count() == 1
        assert c.service.store.device(dev.device_id).last_counter == 5  # type: ignore[union-attr]
    finally:
        c.stop()


def parse_nonce(signed: bytes) -> bytes:
    return bytes(pb.Result.FromString(pb.SignedResult.FromString(signed).result).carrier_nonce)
