"""A paper live session leaves the same kind of run folder as a backtest, with equal numbers."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from support.cli import run_cli
from tradefolio.data import load_sample
from tradefolio.errors import DataError
from tradefolio.live.journal import Journal
from tradefolio.reporting.live_record import record_from_journal

STRATEGY = ["--strategy", "sma-cross", "--fast", "10", "--slow", "30", "--sizer", "weight"]


def test_live_run_folder_matches_the_backtest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = load_sample().prices.iloc[-160:, :6]
    prices.index.name = "Date"
    prices_file = tmp_path / "prices.csv"
    prices.to_csv(prices_file)
    db = tmp_path / "paper.db"
    common = [*STRATEGY, "--weight", "0.2", "--prices", str(prices_file), "--no-png"]
    live = run_cli(capsys, "live", "--paper", "--db", str(db), *common)
    assert live.code == 0, live.stderr
    backtest = run_cli(capsys, "backtest", *common, "--format", "json", "--no-record")
    expected = json.loads(backtest.stdout)

    runs = Path(os.environ["TRADEFOLIO_RUNS_DIR"])
    (folder,) = [p for p in runs.iterdir() if p.name.endswith("-live")]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["kind"] == "live"
    assert metrics["final_equity"] == pytest.approx(expected["final_equity"], abs=0.005)
    assert metrics["n_fills"] == expected["n_fills"] > 0
    assert (folder / "tearsheet.html").is_file()
    # whole units are written as the backtest writes them: 17497, never 17497.0
    for name in ("fills.csv", "positions.csv"):
        with (folder / name).open() as rows:
            quantities = [row["quantity"] for row in csv.DictReader(rows)]
        assert quantities and all(q.isdigit() for q in quantities), (name, quantities[:3])

    journal = Journal.open(db, writer=False)
    try:
        record = record_from_journal(journal, {}, name="live")
    finally:
        journal.close()
    assert len(record.equity) == len(prices)
    assert (record.equity["cash"] + record.equity["invested"]).equals(record.equity["equity"])
    assert record.fills["date"].min() > prices.index[0]


def test_a_session_without_two_bars_has_no_record(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "empty.db")
    try:
        with pytest.raises(DataError, match="processed bar"):
            record_from_journal(journal, {}, name="live")
    finally:
        journal.close()
