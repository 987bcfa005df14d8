"""The one rule for a transaction id, checked wherever one arrives: the kiosk, the agent API, the carrier.

Transaction ids travel into logs, the outbox and the carrier's database and receipts. A safe alphabet means no
log line can be forged with spaces or ``key=value`` text, no id can be mistaken for another (control and bidi
characters), and no NUL reaches PostgreSQL. The kiosk used to accept any 1-128 characters, which the agent
then refused; every place now asks this module.
"""

from __future__ import annotations

import re

from edge_agent.errors import BadTransactionId

__all__ = ["TXN_ID", "TXN_RULE", "check_transaction_id", "transaction_id_problem"]

TXN_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
TXN_RULE = "transaction_id must be 1-64 characters of A-Z a-z 0-9 . _ : -"


def transaction_id_problem(txn: str) -> str | None:
    """Why ``txn`` is no transaction id, or None (for callers that refuse in their own words, as the carrier)."""
    return None if TXN_ID.fullmatch(txn) else TXN_RULE


def check_transaction_id(txn: str) -> None:
    """Raise ``BadTransactionId`` (bad input: the caller can pick another id) unless ``txn`` follows the rule."""
    if problem := transaction_id_problem(txn):
        raise BadTransactionId(problem)
