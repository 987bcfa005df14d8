"""One client of the agent API and one transaction-id rule, for the terminal, the kiosk, the agent and the carrier.

The kiosk used to accept any 1-128 characters as a transaction id, which the agent then refused mid-session;
and the terminal and the kiosk each had their own gRPC client of the agent API.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from edge_agent import agent_client, terminal
from edge_agent.errors import AgentUnavailable, BadTransactionId
from edge_agent.kiosk.agent_link import AgentLink
from edge_agent.kiosk.runner import Runner
from edge_agent.reference_carrier.validate import InvalidResult, check_transaction_id
from edge_agent.service.daemon import TXN_ID
from edge_agent.transaction import check_transaction_id as agent_check

GOOD = ["t", "txn-1", "txn-20261207-1830-ab12", "a.b_c:d-e", "x" * 64]
BAD = ["", "x" * 65, "two words", "txn\x00", "txn\n", "key=value", "ünï", "txn\u202e1", "x" * 100]


@pytest.mark.parametrize("txn", GOOD + BAD)
def test_the_kiosk_the_agent_and_the_carrier_accept_the_same_ids(txn: str) -> None:
    verdicts = []
    runner = Runner(AgentLink("unix:/nonexistent/agent.sock"))
    for check, refusal in ((agent_check, BadTransactionId), (check_transaction_id, InvalidResult),
                           (lambda t: runner.start(t, b""), BadTransactionId)):
        try:
            check(txn)
        except refusal:
            verdicts.append(False)
        except Exception:  # the kiosk refuses the empty photo once the id is good
            verdicts.append(True)
        else:
            verdicts.append(True)
    assert verdicts == [txn in GOOD] * 3
    assert bool(TXN_ID.fullmatch(txn)) is (txn in GOOD)


def test_the_terminal_and_the_kiosk_share_one_client() -> None:
    assert AgentLink is agent_client.AgentClient
    tree = ast.parse(Path(terminal.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "grpc" not in imported and not any(m and m.startswith("edge_agent._proto") for m in modules)
    assert "AgentClient" in imported


def test_no_agent_is_agent_unavailable_for_both() -> None:
    with agent_client.AgentClient("unix:/nonexistent/agent.sock") as agent, pytest.raises(AgentUnavailable):
        agent.health()
