"""The policy's decisions in a live journal: one per rebalance date, whatever the restarts."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

from tradefolio.live.journal import Journal
from tradefolio.live.rebalance_log import journal_decision, journaled_decisions
from tradefolio.portfolio.policy import RebalanceDecision


def _decision(day: date, status: str = "optimal", objective: float = 0.25) -> RebalanceDecision:
    failed = status == "error"
    return RebalanceDecision(
        day=day,
        status=status,
        solver="highs",
        objective=math.nan if failed else objective,
        best_bound=math.nan if failed else objective,
        gap=math.nan if failed else 0.0,
        target_shares={"AAA": 10.0, "BBB": 2.5},
        weights={"AAA": 0.6, "BBB": 0.3},
        expected_turnover=0.2,
        expected_costs=1.5,
        capital=10_000.0,
        seconds=0.01,
        message="no answer" if failed else "",
        prices={"AAA": 60.0, "BBB": 120.0},
    )


def test_decisions_survive_reopening_and_a_replayed_bar_overwrites_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "session.db"
    journal = Journal.open(path)
    first, second = _decision(date(2020, 1, 31)), _decision(date(2020, 2, 28), "error")
    journal_decision(journal, first, ["AAA", "BBB", "CCC"])
    journal_decision(journal, second, ["AAA", "BBB", "CCC"])
    journal.close()
    journal = Journal.open(path)
    # a crash before the bar was done: the bar is replayed and decides again
    journal_decision(journal, _decision(date(2020, 2, 28), "error"), ["AAA", "BBB", "CCC"])
    decisions, symbols = journaled_decisions(journal)
    journal.close()
    assert symbols == ["AAA", "BBB", "CCC"]
    assert [d.day for d in decisions] == [first.day, second.day]
    assert decisions[0] == first
    failed = decisions[1]
    assert failed.failed and failed.message == "no answer"
    assert math.isnan(failed.objective) and math.isnan(failed.gap)
