"""``edge-agent carrier-server``: run and administer the reference carrier."""

from __future__ import annotations

import argparse
import secrets
import signal
import threading
import time
from pathlib import Path

__all__ = ["add_parser"]


def _init(args: argparse.Namespace) -> int:
    from edge_agent.carrier.server import open_store, server_state

    server_state(args.state, args.hostname or ["localhost", "127.0.0.1"])
    open_store(args.state)
    print(f"carrier state ready in {args.state} (CA certificate: {args.state / 'ca.pem'})")
    return 0


def _token(args: argparse.Namespace) -> int:
    from edge_agent.carrier.server import open_store

    token = "tok-" + secrets.token_urlsafe(18)  # never starts with "-": argparse would take it for an option
    open_store(args.state).add_token(token, int((time.time() + args.ttl_hours * 3600) * 1000))
    print(token)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from edge_agent.carrier.server import open_store

    store = open_store(args.state)
    if store.device(args.device_id) is None:
        print(f"no device {args.device_id}")
        return 2
    store.revoke(args.device_id)
    print(f"revoked {args.device_id}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    """What the carrier recorded for a transaction: proof of acceptance, independent of the device."""
    import dataclasses
    import json

    from edge_agent.carrier.server import open_store

    acc = open_store(args.state).acceptance(args.transaction_id)
    if acc is None:
        print(json.dumps({"transaction_id": args.transaction_id, "accepted": False}))
        return 1
    print(json.dumps({"accepted": True, **dataclasses.asdict(acc)}, indent=2))
    return 0


def _run(args: argparse.Namespace) -> int:
    from edge_agent.carrier.server import CarrierServer, CarrierService, open_store, server_state

    ca, key, cert = server_state(args.state, args.hostname or ["localhost", "127.0.0.1"])
    server = CarrierServer(CarrierService(open_store(args.state), ca), key, cert, host=args.host,
                           port=args.port, enroll_port=args.enroll_port).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"carrier listening: results {args.host}:{server.port} (mTLS), enrolment {args.host}:{server.enroll_port}",
          flush=True)
    stop.wait()
    server.stop(grace=2)
    print("carrier stopped", flush=True)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("carrier-server", help="the reference carrier server (for tests and integrators)")
    p.add_argument("--state", type=Path, required=True, help="folder for the CA, TLS keys and carrier.db")
    p.add_argument("--hostname", action="append", help="name or IP in the server certificate (repeatable)")
    cmds = p.add_subparsers(dest="carrier_command", required=True)
    cmds.add_parser("init", help="create the CA and server certificate").set_defaults(handler=_init)
    t = cmds.add_parser("token", help="issue a one-time enrolment token")
    t.add_argument("--ttl-hours", type=float, default=24.0)
    t.set_defaults(handler=_token)
    r = cmds.add_parser("revoke", help="revoke a device")
    r.add_argument("device_id")
    r.set_defaults(handler=_revoke)
    a = cmds.add_parser("audit", help="what the carrier accepted for a transaction (exit 1: nothing)")
    a.add_argument("transaction_id")
    a.set_defaults(handler=_audit)
    run = cmds.add_parser("run", help="serve until SIGTERM")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=7443)
    run.add_argument("--enroll-port", type=int, default=7444)
    run.set_defaults(handler=_run)
