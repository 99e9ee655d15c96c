"""`live --portfolio --on-solver-failure stop` records the rebalance it stops on (review,
session 10: the live trader stopped but its record had no row for the failure, unlike
`hold` and unlike the backtest's rebalances.csv), then halts: no order reaches the venue
after the failure, the journal keeps the session up to it, and a restart says why it
stopped instead of trading on."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tradefolio.api.live import trading_setup
from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import rebalance_policy
from tradefolio.data.sample_data import load_sample_prices
from tradefolio.errors import RebalanceFailed, SolverError
from tradefolio.live.journal import Journal
from tradefolio.live.paper import PaperBroker
from tradefolio.live.session import LiveSession, SessionOptions
from tradefolio.live.strategy import Account, DecisionLog, IntentSource, PolicySource
from tradefolio.portfolio import policy as policy_module
from tradefolio.portfolio.policy import RebalanceDecision
from tradefolio.reporting.live_record import write_live_run

SYMBOLS = ["BAC", "CVX", "GE", "JNJ", "MRK"]
MODEL: dict[str, Any] = {
    "portfolio": True,
    "objective": "mean-variance",
    "lookback": 40,
    "risk_lookback": 40,
    "max_positions": 3,
}
#: The third monthly rebalance of the file (the first two trade): the one that fails.
FAILING = date(1990, 5, 1)
REASON = "time limit reached without an incumbent (a test's failure)"


class Recorded:
    """`SessionMessages` that keeps every line."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, text: str) -> None:
        self.lines.append(text)

    warning = event = info


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stop") / "prices.csv"
    closes: pd.DataFrame = load_sample_prices().loc[:, SYMBOLS].iloc[:110]
    closes.to_csv(path, index_label="date")
    return path


@pytest.fixture
def failing_solve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rebalance decided on FAILING's close is not solved (a solver error, as a time
    limit without an incumbent is); every other is solved as usual."""
    build = policy_module.build_model

    def build_model(options: Any, symbols: Any, history: Any, sectors: Any) -> Any:
        if history.dates[-1].date() == FAILING:
            raise SolverError(REASON)
        return build(options, symbols, history, sectors)

    monkeypatch.setattr(policy_module, "build_model", build_model)


@pytest.fixture
def venue_orders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The client order id of every order the paper venue is sent, in order."""
    sent: list[str] = []
    submit = PaperBroker.submit

    def spy(self: PaperBroker, order: Any) -> Any:
        sent.append(order.client_order_id)
        return submit(self, order)

    monkeypatch.setattr(PaperBroker, "submit", spy)
    return sent


def _session(prices: Path, db: Path, on_failure: str) -> LiveSession:
    """A paper replay of the model under `on_failure`, its policy as the session builds
    it: deciding as under `hold`, `stop` the source's own (`PolicySource(stop=...)`)."""
    config = BacktestConfig(**MODEL, on_solver_failure=on_failure)

    def policy(account: Account, log: DecisionLog) -> IntentSource:
        hold = rebalance_policy(config, on_failure="hold")
        return PolicySource(hold, account, "monthly", log, stop=on_failure == "stop")

    setup = replace(trading_setup(config), policy=policy)
    options = SessionOptions(paper=True, prices_file=prices, db=db)
    return LiveSession.open(options, setup, Recorded())


def _run(session: LiveSession, out: Path) -> tuple[dict[str, Any] | None, Exception | None]:
    def record(journal: Journal) -> None:
        write_live_run(journal, dict(session.setup.settings), out, png=False)

    try:
        return session.run(after=record), None
    except RebalanceFailed as exc:
        return None, exc


def _folder(out: Path) -> Path:
    (folder,) = out.iterdir()
    return folder


@pytest.mark.usefixtures("failing_solve")
def test_stop_records_the_failed_rebalance_as_hold_does_then_halts(
    prices: Path, tmp_path: Path, venue_orders: list[str]
) -> None:
    held_payload, held_error = _run(_session(prices, tmp_path / "hold.db", "hold"), tmp_path / "h")
    assert held_error is None and held_payload is not None
    held_sent = list(venue_orders)
    venue_orders.clear()

    db = tmp_path / "stop.db"
    payload, error = _run(_session(prices, db, "stop"), tmp_path / "s")
    assert payload is None and error is not None
    message = str(error)
    assert message.startswith(f"rebalance of {FAILING} not solved (error: {REASON}); ")
    assert "--on-solver-failure hold keeps the positions instead" in message
    assert f"trading is HALTED in {db}" in message
    assert f"tradefolio live resume --db {db}" in message

    # the record: the failed decision is the last row, the row `hold` writes for it
    held, stopped = _folder(tmp_path / "h"), _folder(tmp_path / "s")
    hold_rows = pd.read_csv(held / "rebalances.csv")
    stop_rows = pd.read_csv(stopped / "rebalances.csv")
    assert list(stop_rows["date"]) == ["1990-03-01", "1990-04-02", FAILING.isoformat()]
    last = stop_rows.iloc[-1]
    assert (last["status"], last["message"]) == ("error", REASON)
    same = [c for c in stop_rows.columns if c != "seconds"]
    pd.testing.assert_frame_equal(stop_rows[same], hold_rows[same].iloc[: len(stop_rows)])
    weights = pd.read_csv(stopped / "weights.csv")
    assert weights["date"].iloc[-1] == FAILING.isoformat()
    # the session up to the failed decision's close (as the backtest's run), nothing after
    equity = pd.read_csv(stopped / "equity.csv")
    assert equity["date"].iloc[-1] == FAILING.isoformat()

    # no order reached the venue after the failure: the stop sent exactly the orders
    # hold sent up to it, and the journal holds no order of a later bar
    def trades(path: Path) -> list[tuple[date, str, str, Any]]:
        journal = Journal.open(path)
        try:
            return [(o.bar, o.symbol, o.side.value, o.quantity) for o in journal.all_orders()]
        finally:
            journal.close()

    stop_trades, hold_trades = trades(db), trades(tmp_path / "hold.db")
    assert stop_trades and max(bar for bar, *_ in stop_trades) <= FAILING
    assert any(bar > FAILING for bar, *_ in hold_trades)  # (hold trades on after it)
    assert stop_trades == [t for t in hold_trades if t[0] <= FAILING]
    assert len(venue_orders) == len(stop_trades) and len(held_sent) == len(hold_trades)
    journal = Journal.open(db)
    try:
        state, reason = journal.trading_state()
        assert (state, journal.trading_state_source()) == ("HALTED", "policy")
        assert message.startswith(reason)
        assert journal.last_done_bar() == FAILING
    finally:
        journal.close()


@pytest.mark.usefixtures("failing_solve")
def test_a_restart_after_the_stop_says_why_and_sends_nothing_until_resumed(
    prices: Path, tmp_path: Path, venue_orders: list[str]
) -> None:
    db = tmp_path / "stop.db"
    _, first = _run(_session(prices, db, "stop"), tmp_path / "s")
    assert first is not None
    sent = len(venue_orders)
    # a restart with the same settings: the same words, no bar traded, no order sent
    _, again = _run(_session(prices, db, "stop"), tmp_path / "again")
    assert again is not None and str(again) == str(first)
    assert len(venue_orders) == sent
    assert not (tmp_path / "again").exists()  # nothing new to record
    journal = Journal.open(db)
    try:
        assert journal.last_done_bar() == FAILING
        # `live resume`: the restart decides the failed rebalance again (it fails again
        # here: halted again, with the same record and still no order after it)
        journal.set_trading_state("ACTIVE", "operator", "cli")
    finally:
        journal.close()
    _, resumed = _run(_session(prices, db, "stop"), tmp_path / "resumed")
    assert resumed is not None and str(resumed) == str(first)
    assert len(venue_orders) == sent
    rows = pd.read_csv(_folder(tmp_path / "resumed") / "rebalances.csv")
    assert list(rows["date"])[-1] == FAILING.isoformat()
    assert len(rows) == 3


def test_policy_source_logs_the_failed_decision_before_it_stops() -> None:
    """The source's own contract: under `stop`, the failed decision reaches the log (and
    `decisions`) and only then `RebalanceFailed`; under `hold` it asks for nothing."""
    failed = RebalanceDecision(
        day=date(2020, 3, 2),
        status="infeasible",
        solver="auto",
        objective=math.nan,
        best_bound=math.nan,
        gap=math.nan,
        target_shares={},
        weights={},
        expected_turnover=0.0,
        expected_costs=0.0,
        capital=1_000.0,
        seconds=0.0,
        message="no answer",
    )

    class Failing:
        options = rebalance_policy(BacktestConfig(**MODEL)).options
        window = 2

        def decide(self, history: Any, holdings: Any, cash: float) -> RebalanceDecision:
            return failed

    days = pd.to_datetime(["2020-02-27", "2020-02-28", "2020-03-02"])
    history = pd.DataFrame({"AAA": [10.0, 11.0, 12.0]}, index=days)
    for stop in (False, True):
        logged: list[RebalanceDecision] = []
        source = PolicySource(
            Failing(), lambda: ({}, Decimal(1_000)), "monthly", logged_to(logged), stop=stop
        )
        if stop:
            with pytest.raises(RebalanceFailed, match=r"rebalance of 2020-03-02 not solved"):
                source.intents(history)
        else:
            assert source.intents(history) == []
        assert logged == [failed] and source.decisions == [failed]


def logged_to(decisions: list[RebalanceDecision]) -> DecisionLog:
    """A decision log that keeps the decisions in `decisions`."""
    return lambda decision, symbols: decisions.append(decision)
