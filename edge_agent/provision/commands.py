"""``edge-agent provision`` and ``edge-agent status``: what a field technician runs first and most.

Provisioning is idempotent: on a provisioned device it reports the identity
and changes nothing unless ``--force``. The identity file is written last
(see ``edge_agent/device.py``), so an interrupted run leaves a device that
is simply not provisioned; re-running reuses the keys already created.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography import x509

from edge_agent.camera.pairing import pair_if_unpaired
from edge_agent.carrier.client import CARRIER_ERRORS, CarrierClient
from edge_agent.device import DeviceState, Identity
from edge_agent.display import print_fields
from edge_agent.errors import (
    EXIT_NO_MATCH,
    EXIT_OK,
    BacklogPending,
    BadInput,
    CarrierUnavailable,
    EdgeAgentError,
    EnrolmentRefused,
    NotEnrolled,
    StateUnusable,
)
from edge_agent.paths import default_state_dir, default_trusted_dir

__all__ = ["add_parsers"]


def _summary(state: DeviceState) -> dict[str, Any]:
    ident = state.identity()
    cert = x509.load_pem_x509_certificate(ident.credentials.cert_pem)
    record = json.loads((state.root / "device.json").read_text())
    return {
        "device_id": ident.device_id,
        "carrier": ident.carrier_target,
        "enrolled_at": dt.datetime.fromtimestamp(record["enrolled_at_unix"], dt.UTC).isoformat(),
        "certificate_expires": cert.not_valid_after_utc.isoformat(),
        "signing_key_sha256": hashlib.sha256(state.keys.public_key()).hexdigest()[:16],
        "state_dir": str(state.root),
    }


def _provision(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    try:
        return _provision_state(args)
    except OSError as exc:  # the state folder is missing, not ours, read-only or full: say so, never a traceback
        raise StateUnusable(
            f"cannot write the device state in {args.state}: {exc.strerror or exc} ({exc.filename or args.state}); "
            "it must exist and belong to the agent's user: the edge-agent package creates /var/lib/edge-agent, "
            "then run `sudo -u edge-agent edge-agent provision ...`") from None


def _provision_state(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.device import agent_lock

    state = DeviceState(args.state)
    try:
        current = _summary(state)
    except NotEnrolled:
        current = None
    if current is None:
        return _enrol(args, state)
    if not args.force:
        return EXIT_OK, {"result": "already_provisioned", "changed": False, **current}
    with agent_lock(args.state, "provision --force"):
        delivered, discarded = _deliver_before_replacing(state, args.discard_undelivered)
        # A new identity from scratch; the outbox stays (its results are signed already) and so does the counter.
        for name in state.keys.store.names():
            state.keys.store.delete(name)
        (state.root / "device.json").unlink(missing_ok=True)
        code, out = _enrol(args, state)
    return code, {**out, "results_delivered_first": delivered, "results_discarded": discarded}


def _deliver_before_replacing(state: DeviceState, discard: bool) -> tuple[int, int]:
    """Results signed under the current identity reach the carrier only through it: deliver them first.

    Returns (delivered now, left undelivered); refuses while any are left unless ``discard``.
    """
    _, client = _client(state)
    try:
        delivered, pending = _drain(state, client)
    finally:
        client.close()
    if pending and not discard:
        raise BacklogPending(f"{pending} signed results are not delivered yet; a new identity cannot deliver them "
                             "(they name this device). Restore the network and retry, or add "
                             "--discard-undelivered to give them up")
    return delivered, pending


def _enrol(args: argparse.Namespace, state: DeviceState) -> tuple[int, dict[str, Any]]:
    from edge_agent.config import load_config

    camera_spec = load_config(args.config).camera.source  # read first: a bad config fails before enrolment
    host, _, port = args.carrier.rpartition(":")
    enroll_target = args.enroll or f"{host}:{int(port) + 1}"
    try:
        ca_pem = args.ca.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the carrier CA certificate {args.ca}: {exc.strerror}") from None
    try:
        state.enrol(enroll_target, args.carrier, ca_pem, args.token)
    except CARRIER_ERRORS as exc:
        if exc.status in ("PERMISSION_DENIED", "INVALID_ARGUMENT"):
            raise EnrolmentRefused(f"the carrier refused the enrolment: {exc.detail}; "
                                   "ask for a new one-time token") from None
        raise CarrierUnavailable(f"carrier enrolment service {enroll_target} unreachable ({exc.status})",
                                 status=exc.status, detail=exc.detail) from None
    return EXIT_OK, {"result": "provisioned", "changed": True, **_summary(state),
                     "camera": pair_if_unpaired(state.root, camera_spec)}


def _status(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.outbox.store import Outbox
    from edge_agent.vision.manifest import Manifest

    state = DeviceState(args.state)
    out: dict[str, Any] = {}
    try:
        out["identity"] = _summary(state)
    except NotEnrolled as exc:
        out["identity"] = {"error": str(exc)}
    try:
        from edge_agent.modelset.install import model_directory

        manifest = Manifest.load(args.models or model_directory("", args.state))
        out["models"] = {"version": manifest.version, "manifest_sha256": manifest.sha256,
                         "files": {k: v["file"] for k, v in manifest.data["models"].items()}}
    except EdgeAgentError as exc:
        out["models"] = {"error": str(exc)}
    if state.outbox_path.exists():
        box = Outbox(state.outbox_path)
        try:
            s = box.summary()
        finally:
            box.close()
        out["outbox"] = {"pending": s.pending, "rejected": s.rejected, "acknowledged": s.acknowledged,
                         "last_counter": s.last_counter}
        last = state.last_submission_ms()
        out["last_successful_submission"] = (
            dt.datetime.fromtimestamp(last / 1000, dt.UTC).isoformat() if last else None
        )
    else:
        out["outbox"] = {"pending": 0, "rejected": 0, "acknowledged": 0, "last_counter": 0}
        out["last_successful_submission"] = None
    usage = shutil.disk_usage(args.state if args.state.exists() else args.state.parent)
    out["disk_free_bytes"] = usage.free
    return EXIT_OK, out


def _client(state: DeviceState) -> tuple[Identity, CarrierClient]:
    ident = state.identity()
    return ident, CarrierClient(ident.carrier_target, ident.credentials)


def _drain(state: DeviceState, client: CarrierClient) -> tuple[int, int]:
    """Deliver what the outbox holds; (delivered now, still pending)."""
    from edge_agent.carrier.sender import Sender
    from edge_agent.outbox.store import Outbox

    if not state.outbox_path.exists():
        return 0, 0
    box = Outbox(state.outbox_path)
    try:
        report = Sender(box, client.submit).drain()
        return report.acked, box.backlog()
    finally:
        box.close()


def _rotate(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent.device import agent_lock

    state = DeviceState(args.state)
    with agent_lock(args.state, "rotate-keys"):
        before = _summary(state)
        _, client = _client(state)
        try:
            delivered, pending = _drain(state, client)
            if pending:
                raise BacklogPending(f"{pending} signed results are not delivered yet; they are signed with the "
                                     "current key, so rotate once the carrier has them (check the network)")
            try:
                state.rotate(client)
            except CARRIER_ERRORS as exc:
                raise CarrierUnavailable(f"the carrier did not rotate the keys ({exc.status}: "
                                         f"{exc.detail}); nothing changed, run rotate-keys again",
                                         status=exc.status, detail=exc.detail) from None
        finally:
            client.close()
        after = _summary(state)
    return EXIT_OK, {"result": "rotated", "device_id": after["device_id"], "results_delivered_first": delivered,
               "old_signing_key_sha256": before["signing_key_sha256"],
               "new_signing_key_sha256": after["signing_key_sha256"],
               "certificate_expires": after["certificate_expires"]}


def _decommission(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    from edge_agent._proto import carrier_pb2 as pb
    from edge_agent.carrier.pki import DEREGISTER_CONTEXT
    from edge_agent.device import agent_lock

    if not args.yes:
        raise BadInput("decommission revokes this device at the carrier and erases its keys, outbox and models; "
                       "add --yes to do it")
    state = DeviceState(args.state)
    out: dict[str, Any] = {"result": "decommissioned"}
    with agent_lock(args.state, "decommission"):
        try:
            ident, client = _client(state)
        except NotEnrolled:
            out.update({"device_id": None, "carrier": "not enrolled: nothing to revoke", "erased": state.wipe()})
            return EXIT_OK, out
        out["device_id"] = ident.device_id
        try:
            delivered, pending = _drain(state, client)
            out["results_delivered_first"] = delivered
            if pending and not args.force:
                raise BacklogPending(f"{pending} signed results are not delivered yet and would be lost; restore "
                                     "the network and retry, or add --force to discard them")
            out["results_discarded"] = pending
            sig = state.keys.signing_key().sign(DEREGISTER_CONTEXT + ident.device_id.encode())
            try:
                client.deregister(pb.DeregisterRequest(device_id=ident.device_id, signature=sig))
                out["carrier"] = "revoked"
            except CARRIER_ERRORS as exc:
                if exc.status == "PERMISSION_DENIED" and "revoked" in exc.detail:
                    out["carrier"] = "already revoked"
                elif args.offline:
                    out["carrier"] = (f"unreachable ({exc.status}); revoke by hand at the carrier: "
                                      f"edge-agent carrier-server revoke {ident.device_id}")
                else:
                    raise CarrierUnavailable(f"the carrier did not revoke the device ({exc.status}); nothing was "
                                             "erased. Retry, or add --offline to erase anyway",
                                             status=exc.status, detail=exc.detail) from None
        finally:
            client.close()
        out["erased"] = state.wipe()
    return EXIT_OK, out


def _selftest(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    import dataclasses

    from edge_agent.config import load_config
    from edge_agent.provision.selftest import FAIL, WARN, CheckResult, run_selftest

    config = load_config(args.config)

    live = sys.stdout.isatty()  # on a screen, show which check is running; in a log, one line per check

    def progress(i: int, n: int, name: str, result: CheckResult | None) -> None:
        if result is None:
            if live:
                print(f"[{i}/{n}] {name:<10} ...", end="", flush=True)
        else:
            start = "\r" if live else ""
            print(f"{start}[{i}/{n}] {name:<10} {result.status}  {result.detail} ({result.seconds:.1f} s)",
                  flush=True)

    results = run_selftest(config, args.state or Path(config.state_dir), args.trusted,
                           None if args.json else progress)
    failed = [r.name for r in results if r.status == FAIL]
    warned = [r.name for r in results if r.status == WARN]
    out = {"result": "fail" if failed else "pass", "failed": failed, "warnings": warned,
           "checks": [dataclasses.asdict(r) | {"seconds": round(r.seconds, 2)} for r in results]}
    return (EXIT_NO_MATCH if failed else EXIT_OK), out


def _print_selftest(out: dict[str, Any]) -> None:
    n = len(out["checks"])
    if out["failed"]:
        print(f"SELFTEST FAILED: {', '.join(out['failed'])} ({n - len(out['failed'])} of {n} checks passed)")
    else:
        extra = f" ({len(out['warnings'])} warning: {', '.join(out['warnings'])})" if out["warnings"] else ""
        print(f"SELFTEST PASSED: {n} checks{extra}")


_STATE_HELP = "state folder (default: EDGE_AGENT_STATE, else the config's state_dir, where the daemon keeps it)"
Run = Callable[[argparse.Namespace], tuple[int, dict[str, Any]]]


def _in_state(run: Run) -> Run:
    """``run`` with ``--state`` resolved when it was not given: the folder the daemon uses, never a second guess."""

    def resolved(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
        if args.state is None:
            args.state = default_state_dir(getattr(args, "config", None))
        return run(args)

    return resolved


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """``provision``, ``selftest``, ``rotate-keys``, ``decommission`` and ``status``."""
    p = sub.add_parser("provision", help="create the device identity and enrol it with the carrier")
    p.add_argument("--carrier", required=True, help="carrier result service HOST:PORT")
    p.add_argument("--token", required=True, help="one-time enrolment token")
    p.add_argument("--ca", type=Path, required=True, help="the carrier's CA certificate (PEM)")
    p.add_argument("--enroll", default=None, help="enrolment service HOST:PORT (default: carrier port + 1)")
    p.add_argument("--state", type=Path, default=None, help=_STATE_HELP)
    p.add_argument("--config", type=Path, default=None,
                   help="TOML file (default /etc/edge-agent/config.toml): its camera is paired when none is")
    p.add_argument("--force", action="store_true",
                   help="replace an existing identity (after delivering the results signed under it)")
    p.add_argument("--discard-undelivered", action="store_true",
                   help="with --force: replace it even when the carrier cannot be given every signed result")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_in_state(_provision), show=print_fields)

    st = sub.add_parser("selftest", help="camera, models, inference budget, carrier and clock, outbox, disk, keys")
    st.add_argument("--config", type=Path, default=None, help="TOML file (default /etc/edge-agent/config.toml)")
    st.add_argument("--state", type=Path, default=None, help="state folder (default: the config's state_dir)")
    st.add_argument("--trusted", type=Path, default=default_trusted_dir(), help="trusted release keys folder")
    st.add_argument("--json", action="store_true")
    st.set_defaults(run=_selftest, show=_print_selftest)

    r = sub.add_parser("rotate-keys", help="new signing and TLS keys, enrolled with the carrier; old ones retired")
    r.add_argument("--state", type=Path, default=None, help=_STATE_HELP)
    r.add_argument("--json", action="store_true")
    r.set_defaults(run=_in_state(_rotate), show=print_fields)

    d = sub.add_parser("decommission", help="revoke this device at the carrier, then erase keys and state")
    d.add_argument("--state", type=Path, default=None, help=_STATE_HELP)
    d.add_argument("--yes", action="store_true", help="really do it")
    d.add_argument("--force", action="store_true", help="discard results the carrier has not received")
    d.add_argument("--offline", action="store_true", help="erase even when the carrier cannot be reached")
    d.add_argument("--json", action="store_true")
    d.set_defaults(run=_in_state(_decommission), show=print_fields)

    s = sub.add_parser("status", help="identity, certificate expiry, models, outbox backlog, last submission")
    s.add_argument("--state", type=Path, default=None, help=_STATE_HELP)
    s.add_argument("--models", type=Path, default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=_in_state(_status), show=print_fields)
