"""A device process for the kill tests: records results in the outbox and delivers them.

Prints ``ACKED <txn>`` (flushed) the moment ``Outbox.put`` returns, i.e. when a
terminal would be told its result is safe. ``EDGE_AGENT_CRASH_AT`` makes it
SIGKILL itself at a named step (see edge_agent/faults.py).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

from edge_agent._proto import carrier_pb2 as pb
from edge_agent.attest.keys import DeviceKeys, FileKeyStore
from edge_agent.attest.result import ResultFields, commitment, sign_result
from edge_agent.carrier.client import CarrierClient, DeviceCredentials
from edge_agent.carrier.sender import Sender
from edge_agent.outbox.store import DuplicateTransaction, Outbox


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--device-id", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--count", type=int, default=0)
    args = ap.parse_args()

    keys = DeviceKeys(FileKeyStore(args.state / "keys"))
    creds = DeviceCredentials(*(args.state.joinpath(n).read_bytes() for n in ("ca.pem", "tls.key", "tls.pem")))
    client = CarrierClient(args.target, creds)
    outbox = Outbox(args.state / "outbox.db")
    sender = Sender(outbox, client.submit, base_ms=1, cap_ms=5)
    for i in range(args.count):
        txn = f"{args.prefix}-{i}"
        nonce = bytes(client.get_nonce(args.device_id, txn).nonce)
        fields = ResultFields(
            transaction_id=txn, device_id=args.device_id, carrier_nonce=nonce, model_manifest_sha256="0" * 64,
            passed=i % 2 == 0, reason_codes=("face_match",) if i % 2 == 0 else ("face_mismatch",),
            liveness=pb.LIVENESS_LIVE,
            embedding_commitment=commitment(keys.commitment_secret(), txn, nonce, bytes(128)),
        )
        with contextlib.suppress(DuplicateTransaction):  # a re-run after a crash recorded it already
            outbox.put(fields, lambda b: sign_result(keys.signing_key(), b))
        print(f"ACKED {txn}", flush=True)
        sender.drain()
    while True:
        report = sender.drain()
        if not report.waiting:
            break
    print("DONE", flush=True)


if __name__ == "__main__":
    main()
