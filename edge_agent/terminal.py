"""``edge-agent terminal``: a reference client of the terminal API, for demos, technicians and integrators.

It does what the in-store terminal does: starts a verification with the
reference photo, shows the customer the prompts as they arrive, and reads
back the signed result and what the carrier decided about it. The agent's
stream and outbox carry no biometric data, so neither does this.

A PASS counts only once the carrier has accepted it, as a payment terminal
treats an authorisation: exit 0 is a signed PASS the carrier accepted; 1 a
signed FAIL; 4 a PASS the carrier has not answered within ``--wait-delivery``
seconds (the outbox keeps delivering; ask again with ``terminal result``);
5 a PASS the carrier rejected (the reason is shown). 2 and 3 are a refused
request and an unavailable or unhealthy agent, as for every command.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from pathlib import Path
from typing import Any

from edge_agent.agent_client import AgentClient
from edge_agent.errors import (
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_REJECTED,
    EXIT_UNHEALTHY,
    AgentUnavailable,
    BadInput,
)

__all__ = ["DEFAULT_SOCKET", "add_parser"]

DEFAULT_SOCKET = "/run/edge-agent/agent.sock"
_CARRIER = {"acked": "accepted", "rejected": "rejected", "pending": "pending"}


def outcome(decision: str, state: str) -> int:
    """The exit code for a signed ``decision`` and its delivery ``state``: only an accepted PASS is 0."""
    if decision != "pass":
        return EXIT_NO_MATCH
    return {"acked": EXIT_OK, "rejected": EXIT_REJECTED}.get(state, EXIT_PENDING)


def _target(args: argparse.Namespace) -> str:
    return str(args.tcp or f"unix:{args.socket}")


def _result_status(status: Any) -> dict[str, Any]:
    from edge_agent.attest.result import describe_signed, parse_result, parse_signed

    signed = parse_signed(bytes(status.signed_result))
    return {
        "signed_result": describe_signed(signed, parse_result(signed.result)),
        "carrier": {"state": status.state, "decision": _CARRIER.get(status.state, status.state),
                    "receipt_id": status.receipt_id or None, "last_error": status.last_error or None},
    }


def _verify(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    try:
        photo = args.reference.read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the reference photo {args.reference}: {exc.strerror}") from None
    txn = args.txn or f"txn-{uuid.uuid4()}"
    events: list[dict[str, Any]] = []
    summary = None
    shown = ""  # the last instruction printed
    t0 = time.monotonic()
    with AgentClient(_target(args)) as agent:
        for ev in agent.verify(txn, photo, timeout=args.timeout):
            kind = ev.WhichOneof("event")
            if kind == "result":
                summary = ev.result
                continue
            body = getattr(ev, kind)
            item = {"t_s": round(time.monotonic() - t0, 2), "kind": kind, "message": body.message}
            if kind == "progress":
                item["fraction"] = round(body.fraction, 2)
            events.append(item)
            # a hint that repeats what the screen already says ("now look straight at the camera", then
            # "look straight at the camera" while the head comes back) is kept in --json, not printed twice
            if not args.json and not (kind == "hint" and body.message in shown):
                print(f"  [{item['t_s']:5.1f} s] {kind:<8} {body.message}", flush=True)
                shown = body.message
        if summary is None:
            raise AgentUnavailable("the session stream ended without a result")
        out: dict[str, Any] = {
            "session": {"transaction_id": summary.transaction_id, "decision": summary.decision,
                        "liveness": summary.liveness, "reason_codes": list(summary.reason_codes),
                        "counter": summary.counter, "stored": summary.stored, "events": len(events)},
            "result_token": summary.result_token,
        }
        deadline = time.monotonic() + args.wait_delivery
        while True:
            status = agent.result(txn, summary.result_token)
            if status.state != "pending" or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        out.update(_result_status(status))
    if args.json:
        out["events"] = events
    return outcome(summary.decision, status.state), out


def _result(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    with AgentClient(_target(args)) as agent:
        status = agent.result(args.transaction_id, args.token)
    out = _result_status(status)
    passed = out["signed_result"]["decision"] == "DECISION_PASS"
    return outcome("pass" if passed else "fail", status.state), out


def _health(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    with AgentClient(_target(args)) as agent:
        h = agent.health()
    out = {"healthy": h.healthy, "problems": list(h.problems), "device_id": h.device_id, "model_set": h.model_set,
           "outbox_backlog": h.outbox_backlog, "session_active": h.session_active, "warnings": list(h.warnings)}
    return (EXIT_OK if h.healthy else EXIT_UNHEALTHY), out


def _cancel(args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    with AgentClient(_target(args)) as agent:
        cancelled = agent.cancel(args.transaction_id)
    return (EXIT_OK if cancelled else EXIT_NO_MATCH), {"cancelled": cancelled}


def _print(out: dict[str, Any]) -> None:
    import json

    if "session" in out:
        s = out["session"]
        print(f"{s['decision'].upper()}  liveness {s['liveness']}  reasons {', '.join(s['reason_codes'])}")
        out = {k: v for k, v in out.items() if k != "session"}
    print(json.dumps(out, indent=2))
    carrier = out.get("carrier")
    if carrier:
        said = {"accepted": f"ACCEPTED (receipt {carrier['receipt_id']})",
                "rejected": f"REJECTED: {carrier['last_error']}",
                "pending": "PENDING: no answer yet; the agent keeps delivering (terminal result TXN --token ...)"}
        print(f"carrier: {said.get(carrier['decision'], carrier['decision'])}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """``edge-agent terminal verify|result|health|cancel``."""
    p = sub.add_parser("terminal", help="reference client of the terminal API (what the store terminal does)")
    p.add_argument("--socket", type=Path, default=Path(os.environ.get("EDGE_AGENT_SOCKET", DEFAULT_SOCKET)),
                   help="the agent's Unix socket (EDGE_AGENT_SOCKET)")
    p.add_argument("--tcp", default="", help="HOST:PORT instead of the socket, when the agent listens on TCP")
    cmds = p.add_subparsers(dest="terminal_command", required=True)

    v = cmds.add_parser("verify", help="run one verification, print prompts, the signed result and its delivery")
    v.add_argument("--reference", type=Path, required=True, help="reference photo (ID chip or photo on record)")
    v.add_argument("--txn", default=None, help="transaction id (default: a fresh UUID)")
    v.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole session")
    v.add_argument("--wait-delivery", type=float, default=15.0,
                   help="seconds to wait for the carrier's acknowledgement (the outbox keeps trying after)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(run=_verify, show=_print)

    r = cmds.add_parser("result", help="a finished session's signed result and delivery state")
    r.add_argument("transaction_id")
    r.add_argument("--token", required=True, help="the result_token the session returned (verify prints it)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(run=_result, show=_print)

    h = cmds.add_parser("health", help="is the agent fit to verify, and why not")
    h.add_argument("--json", action="store_true")
    h.set_defaults(run=_health, show=_print)

    c = cmds.add_parser("cancel", help="cancel the running session")
    c.add_argument("transaction_id")
    c.add_argument("--json", action="store_true")
    c.set_defaults(run=_cancel, show=_print)
