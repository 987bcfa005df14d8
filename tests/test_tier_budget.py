"""The fast tier's budget check (tests/tier_budget.py) judges a run as it should."""

from __future__ import annotations

from tier_budget import FAST_BUDGET_S, cpu_seconds, over_budget


def test_a_tier_over_budget_on_both_clocks_fails_and_a_loaded_machine_alone_does_not() -> None:
    assert over_budget(134, 120, FAST_BUDGET_S)  # the tier as it was: fails
    assert not over_budget(300, 45, FAST_BUDGET_S)  # a shared machine under load: the tier itself is fast
    assert not over_budget(50, 90, FAST_BUDGET_S)  # two threads busy on a quiet box, within a minute
    assert not over_budget(59, 59, FAST_BUDGET_S)


def test_cpu_time_is_counted() -> None:
    before = cpu_seconds()
    sum(i * i for i in range(200_000))
    assert cpu_seconds() > before
