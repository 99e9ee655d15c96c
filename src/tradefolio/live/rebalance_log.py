"""The allocation policy's decisions of a live session, kept in its journal.

A `live --portfolio` session decides at each rebalance bar (`live.strategy.PolicySource`);
each decision is written to the journal's `meta` table as it is taken, under the key
`rebalance <decision date>` (JSON of the `RebalanceDecision`), with the symbols it decided
over under `rebalance symbols`. Inside the bar's journal transaction when the trader groups
bars (the paper venue), else in its own: a crash before the bar is done replays the bar,
which takes the same decision on the same data and overwrites the same key, so the journal
holds exactly one decision per rebalance bar whatever the restarts. The run folder's
weights.csv and rebalances.csv are built from them (`reporting.live_record`), as a
backtest's are from its decisions. No new table: the journal's schema is unchanged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

from tradefolio.live.journal import Journal
from tradefolio.portfolio.policy import RebalanceDecision

#: Prefix of a decision's `meta` key; the decision date (ISO) follows.
DECISION_PREFIX = "rebalance "
#: `meta` key of the symbols the policy decided over (the replay's columns).
SYMBOLS_KEY = "rebalance symbols"


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no NaN / inf (an unknown bound)


def journal_decision(journal: Journal, decision: RebalanceDecision, symbols: Sequence[str]) -> None:
    """Record `decision` (and the `symbols` decided over) in `journal`'s meta table."""
    record: dict[str, Any] = asdict(decision)
    record["day"] = decision.day.isoformat()
    for name in ("objective", "best_bound", "gap"):
        record[name] = _number(float(record[name]))
    journal.set_meta(f"{DECISION_PREFIX}{record['day']}", json.dumps(record, allow_nan=False))
    journal.set_meta(SYMBOLS_KEY, json.dumps(list(symbols)))


def journaled_decisions(journal: Journal) -> tuple[list[RebalanceDecision], list[str]]:
    """Every decision `journal` holds, by date, and the symbols decided over."""
    # a decision's key is the prefix and an ISO date (`rebalance 2024-03-05`); the symbols'
    # key shares the prefix
    rows = [
        text
        for key, text in journal.meta_items(DECISION_PREFIX)
        if key[len(DECISION_PREFIX) + 4 : len(DECISION_PREFIX) + 5] == "-"
    ]
    decisions = []
    for text in rows:
        record = json.loads(text)
        record["day"] = date.fromisoformat(record["day"])
        for name in ("objective", "best_bound", "gap"):
            record[name] = math.nan if record[name] is None else float(record[name])
        decisions.append(RebalanceDecision(**record))
    symbols = journal.meta(SYMBOLS_KEY)
    return decisions, [] if symbols is None else list(json.loads(symbols))


__all__ = ["DECISION_PREFIX", "SYMBOLS_KEY", "journal_decision", "journaled_decisions"]
