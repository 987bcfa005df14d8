"""``edge-agent carrier-server``: run and administer the reference carrier.

``--state`` holds the CA and the TLS keys (shared by every replica);
``--store`` names the database (``sqlite:///path``, default carrier.db in
the state folder, or ``postgresql://...`` for several replicas).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge_agent.errors import EXIT_BAD_INPUT, EXIT_NO_MATCH, EXIT_OK, EdgeAgentError, exit_code_of

__all__ = ["MAX_TOKEN_TTL_HOURS", "add_parser"]

MAX_TOKEN_TTL_HOURS = 7 * 24  # an enrolment token is a device-to-be: it should not outlive the installer's visit


def _init(args: argparse.Namespace) -> int:
    from edge_agent.reference_carrier.server import open_store, server_state

    server_state(args.state, args.hostname or ["localhost", "127.0.0.1"])
    open_store(args.state, args.store).close()
    print(f"carrier state ready in {args.state} (CA certificate: {args.state / 'ca.pem'})")
    return EXIT_OK


def _token(args: argparse.Namespace) -> int:
    from edge_agent.reference_carrier.server import open_store

    if not 0 < args.ttl_hours <= MAX_TOKEN_TTL_HOURS:  # false for nan too
        print(f"edge-agent carrier-server: error: token_ttl_invalid: --ttl-hours must be more than 0 and at most "
              f"{MAX_TOKEN_TTL_HOURS} (7 days), got {args.ttl_hours}", file=sys.stderr)
        return EXIT_BAD_INPUT
    token = "tok-" + secrets.token_urlsafe(18)  # never starts with "-": argparse would take it for an option
    store = open_store(args.state, args.store)
    store.add_token(token, int((time.time() + args.ttl_hours * 3600) * 1000))
    store.close()
    print(token)
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    from edge_agent.reference_carrier.server import open_store

    store = open_store(args.state, args.store)
    if store.device(args.device_id) is None:
        print(f"no device {args.device_id}")
        return EXIT_BAD_INPUT
    store.revoke(args.device_id)
    print(f"revoked {args.device_id}")
    return EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    """What the carrier recorded for a transaction: proof of acceptance, independent of the device."""
    import dataclasses
    import json

    from edge_agent.reference_carrier.server import open_store

    store = open_store(args.state, args.store)
    found = [a for a in store.acceptances(args.transaction_id) if args.device in (None, a.device_id)]
    if not found:
        print(json.dumps({"transaction_id": args.transaction_id, "accepted": False}))
        return EXIT_NO_MATCH
    for acc in found:  # transaction ids are per device: several devices may have used the same one
        print(json.dumps({"accepted": True, **dataclasses.asdict(acc)}, indent=2))
    return EXIT_OK


def _cameras(args: argparse.Namespace) -> int:
    """Each device's cameras as runs of its accepted results; exit 1 when any device changed camera."""
    import dataclasses
    import json

    from edge_agent.reference_carrier.cameras import camera_runs, changed_devices
    from edge_agent.reference_carrier.server import open_store

    store = open_store(args.state, args.store)
    runs = camera_runs(store.audited_results(args.device, args.since_ms))
    store.close()
    changed = set(changed_devices(runs))
    for run in runs:
        if run.device_id in changed or not args.changed:
            print(json.dumps({**dataclasses.asdict(run), "changed": run.device_id in changed}))
    return EXIT_NO_MATCH if changed else EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    """Apply pending schema migrations (every store also does this on open, under the same lock)."""
    from edge_agent.reference_carrier.server import default_store_url, open_store

    open_store(args.state, args.store).close()
    print(f"carrier store schema up to date: {args.store or default_store_url(args.state)}")
    return EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    """Delete nonces and enrolment tokens that expired long enough ago to be of no use to anyone."""
    from edge_agent.reference_carrier.server import ServerConfig, open_store

    now = int(time.time() * 1000)
    # A nonce is still checked until expiry + allowed clock skew; after that it only says "unknown".
    keep_ms = int(args.keep_hours * 3_600_000) + ServerConfig().clock_skew_ms
    report = open_store(args.state, args.store).prune(now - keep_ms, now - keep_ms)
    print(f"pruned {report.nonces} nonces and {report.tokens} tokens expired before {args.keep_hours} h ago")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from edge_agent.logs import configure_logging
    from edge_agent.reference_carrier.server import (
        CarrierServer,
        CarrierService,
        ServerConfig,
        open_store,
        server_state,
    )

    configure_logging(args.log_format)  # enrolments, acceptances, rotations, refusals: one line each

    ca, key, cert = server_state(args.state, args.hostname or ["localhost", "127.0.0.1"])
    store = open_store(args.state, args.store)
    config = ServerConfig(nonce_rate_per_s=args.nonce_rate, nonce_burst=args.nonce_burst)
    server = CarrierServer(CarrierService(store, ca, config=config), key, cert, host=args.host, port=args.port,
                           enroll_port=args.enroll_port, workers=args.workers).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"carrier listening: results {args.host}:{server.port} (mTLS), enrolment {args.host}:{server.enroll_port}",
          flush=True)
    stop.wait()
    server.stop(grace=2)
    store.close()
    print("carrier stopped", flush=True)
    return EXIT_OK


def _clear_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A bad store URL, an unreachable database or a schema too new: one line, the exit code of its class."""
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except EdgeAgentError as exc:
            print(f"edge-agent carrier-server: error: {exc.code}: {exc}", file=sys.stderr)
            return exit_code_of(exc)

    return run


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``carrier-server`` and its subcommands on the ``edge-agent`` command line."""
    p = sub.add_parser("carrier-server", help="the reference carrier server (for tests and integrators)")
    p.add_argument("--state", type=Path, required=True, help="folder for the CA, TLS keys and carrier.db")
    p.add_argument("--hostname", action="append", help="name or IP in the server certificate (repeatable)")
    p.add_argument("--store", default=os.environ.get("EDGE_AGENT_CARRIER_STORE"),
                   help="database URL: sqlite:///path (default: carrier.db in --state) or postgresql://... "
                        "(env EDGE_AGENT_CARRIER_STORE)")
    cmds = p.add_subparsers(dest="carrier_command", required=True)
    cmds.add_parser("init", help="create the CA and server certificate").set_defaults(handler=_clear_errors(_init))
    t = cmds.add_parser("token", help="issue a one-time enrolment token")
    t.add_argument("--ttl-hours", type=float, default=24.0)
    t.set_defaults(handler=_clear_errors(_token))
    r = cmds.add_parser("revoke", help="revoke a device")
    r.add_argument("device_id")
    r.set_defaults(handler=_clear_errors(_revoke))
    a = cmds.add_parser("audit", help="what the carrier accepted for a transaction (exit 1: nothing)")
    a.add_argument("transaction_id")
    a.add_argument("--device", help="only this device's acceptance")
    a.set_defaults(handler=_clear_errors(_audit))
    c = cmds.add_parser("cameras", help="each device's cameras over its accepted results (exit 1: one changed)")
    c.add_argument("--device", help="only this device")
    c.add_argument("--since-ms", type=int, default=0, help="only results accepted at or after this Unix time (ms)")
    c.add_argument("--changed", action="store_true", help="only devices whose camera changed")
    c.set_defaults(handler=_clear_errors(_cameras))
    m = cmds.add_parser("migrate", help="bring the store's schema to this version")
    m.set_defaults(handler=_clear_errors(_migrate))
    pr = cmds.add_parser("prune", help="delete expired nonces and enrolment tokens (run from cron/a timer)")
    pr.add_argument("--keep-hours", type=float, default=24.0, help="keep what expired less than this long ago")
    pr.set_defaults(handler=_clear_errors(_prune))
    run = cmds.add_parser("run", help="serve until SIGTERM")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=7443)
    run.add_argument("--enroll-port", type=int, default=7444)
    run.add_argument("--workers", type=int, default=16, help="request threads (and database connections at most)")
    run.add_argument("--nonce-rate", type=float, default=2.0, help="nonces a second per device and replica, after "
                     "--nonce-burst (default 2; beyond: RESOURCE_EXHAUSTED nonce_rate_limited)")
    run.add_argument("--nonce-burst", type=float, default=30.0, help="nonces a device may take at once (default 30)")
    run.add_argument("--log-format", choices=("auto", "json", "console"), default="auto",
                     help="as the agent's log_format: auto is JSON under systemd (JOURNAL_STREAM), else console")
    run.set_defaults(handler=_clear_errors(_run))
