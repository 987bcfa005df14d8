"""Two carrier replicas on one store, raced: every guarantee holds because the database gives it.

Each replica has its own store object (its own connections, no lock in common), as
two processes would; the same code runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from carrier_harness import Carrier, StoreFactory, enrol_device, start_carrier, wire_enroll

from edge_agent.attest.result import encode_result
from edge_agent.carrier.pki import make_csr, new_key
from edge_agent.clock import SystemClock

ROUNDS = 20


@pytest.fixture
def replicas(tmp_path: Path, carrier_store: StoreFactory) -> Iterator[tuple[Carrier, Carrier]]:
    url = carrier_store.url()
    if url is None:  # both replicas on the same SQLite file
        url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = start_carrier(tmp_path / "carrier", store=url)
    b = start_carrier(tmp_path / "carrier", store=url)
    yield a, b
    a.stop()
    b.stop()


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment; each outcome is a response or the grpc.RpcError raised."""
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = calls[i]()
        except grpc.RpcError as err:
            out[i] = err

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def codes(outcomes: list[Any]) -> list[str]:
    return sorted("OK" if not isinstance(o, grpc.RpcError) else o.code().name for o in outcomes)  # type: ignore[attr-defined]


def test_same_result_at_both_replicas_is_accepted_once(replicas: tuple[Carrier, Carrier]) -> None:
    a, b = replicas
    dev = enrol_device(a)
    ca, cb = dev.client(a.target), dev.client(b.target)
    for i in range(1, ROUNDS + 1):
        nonce = bytes(ca.get_nonce(dev.device_id, f"t{i}").nonce)
        signed = dev.sign(encode_result(dev.fields(f"t{i}", nonce), i, SystemClock().now_ms()))
        first, second = race(lambda s=signed: ca.submit(s), lambda s=signed: cb.submit(s))
        assert codes([first, second]) == ["OK", "OK"]
        assert sorted([first.duplicate, second.duplicate]) == [False, True]
        assert first.receipt_id == second.receipt_id  # the duplicate carries the original receipt
    assert a.service.store.audit_count() == ROUNDS
    assert a.service.store.device(dev.device_id).last_counter == ROUNDS  # type: ignore[union-attr]


def test_different_results_for_one_transaction_race(replicas: tuple[Carrier, Carrier]) -> None:
    """Same nonce, same transaction, different bytes at both replicas: exactly one is accepted."""
    a, b = replicas
    dev = enrol_device(a)
    ca, cb = dev.client(a.target), dev.client(b.target)
    for i in range(1, ROUNDS + 1):
        nonce = bytes(ca.get_nonce(dev.device_id, f"t{i}").nonce)
        now = SystemClock().now_ms()
        one = dev.sign(encode_result(dev.fields(f"t{i}", nonce), 2 * i, now))
        two = dev.sign(encode_result(dev.fields(f"t{i}", nonce), 2 * i + 1, now + 1))
        outcomes = race(lambda o=one: ca.submit(o), lambda t=two: cb.submit(t))
        assert codes(outcomes) in (["ALREADY_EXISTS", "OK"], ["FAILED_PRECONDITION", "OK"]), outcomes
    assert a.service.store.audit_count() == ROUNDS


def test_one_counter_for_two_transactions_race(replicas: tuple[Carrier, Carrier]) -> None:
    """Two different transactions with the same counter: the counter advances once, one is refused."""
    a, b = replicas
    dev = enrol_device(a)
    ca, cb = dev.client(a.target), dev.client(b.target)
    for i in range(1, ROUNDS + 1):
        n1 = bytes(ca.get_nonce(dev.device_id, f"x{i}").nonce)
        n2 = bytes(cb.get_nonce(dev.device_id, f"y{i}").nonce)
        now = SystemClock().now_ms()
        one = dev.sign(encode_result(dev.fields(f"x{i}", n1), i, now))
        two = dev.sign(encode_result(dev.fields(f"y{i}", n2), i, now))
        outcomes = race(lambda o=one: ca.submit(o), lambda t=two: cb.submit(t))
        assert codes(outcomes) == ["FAILED_PRECONDITION", "OK"], outcomes
    assert a.service.store.audit_count() == ROUNDS


def test_enrolment_token_used_once_across_replicas(replicas: tuple[Carrier, Carrier]) -> None:
    a, b = replicas
    ca_pem = (a.state / "ca.pem").read_bytes()
    for _ in range(ROUNDS):
        tok = a.token()

        def attempt(target: str, token: str = tok) -> Any:
            return wire_enroll(target, ca_pem, token, secrets.token_bytes(32), make_csr(new_key()))

        outcomes = race(lambda: attempt(a.enroll_target), lambda: attempt(b.enroll_target))
        assert codes(outcomes) == ["OK", "PERMISSION_DENIED"], outcomes
