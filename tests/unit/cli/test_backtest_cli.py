"""`tradefolio backtest`: the golden run through the CLI, the JSON contract, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer.main

from support.cli import assert_one_line_error, run_cli
from support.fills import fills_as_cli
from tradefolio.backtest.config import BacktestConfig
from tradefolio.cli.app import build_app

FILL_KEYS = {"date", "symbol", "side", "quantity", "price", "commission"}
METRIC_KEYS = {
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "exposure",
    "turnover",
    "trades",
    "win_rate",
}


def _prices_file(tmp_path: Path, bars: int = 300, symbols: int = 3, seed: int = 3) -> str:
    rng = np.random.default_rng(seed)
    values = np.round(50 * np.exp(np.cumsum(rng.normal(0, 0.02, (bars, symbols)), axis=0)), 2)
    frame = pd.DataFrame(
        values,
        index=pd.bdate_range("2015-01-01", periods=bars, name="Date"),
        columns=[f"S{j}" for j in range(symbols)],
    )
    path = tmp_path / "prices.csv"
    frame.to_csv(path)
    return str(path)


def test_golden_run_through_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(
        capsys,
        "backtest",
        "--strategy", "sma-cross", "--fast", "20", "--slow", "50",
        "--sizer", "weight", "--weight", "0.10", "--cash", "1000000",
        "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"final_equity", "n_fills", "exits", "metrics", "fills"}
    assert round(payload["final_equity"], 2) == 40_529_060.25
    assert payload["n_fills"] == len(payload["fills"]) == 2591
    assert set(payload["metrics"]) == METRIC_KEYS
    first = payload["fills"][0]
    assert set(first) == FILL_KEYS
    assert first["side"] in {"buy", "sell"}
    assert isinstance(first["quantity"], int)
    assert len(first["date"]) == 10 and first["date"][4] == "-"
    assert sum(f["side"] == "buy" for f in payload["fills"]) == 1299


def test_table_and_csv_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = _prices_file(tmp_path)
    table = run_cli(capsys, "backtest", "--prices", prices, "--fast", "5", "--slow", "20")
    assert table.code == 0, table.stderr
    assert "sharpe" in table.stdout and "final equity" in table.stdout
    csv = run_cli(
        capsys, "backtest", "--prices", prices, "--fast", "5", "--slow", "20", "--format", "csv"
    )
    assert csv.code == 0
    assert csv.stdout.splitlines()[0] == "date,symbol,side,quantity,price,commission"


def test_costs_reduce_final_equity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prices = _prices_file(tmp_path)
    common = ["backtest", "--prices", prices, "--fast", "5", "--slow", "20", "--format", "json"]
    free = json.loads(run_cli(capsys, *common).stdout)
    costly = json.loads(
        run_cli(capsys, *common, "--commission-bps", "10", "--slippage-bps", "5").stdout
    )
    assert costly["final_equity"] < free["final_equity"]
    assert all(f["commission"] > 0 for f in costly["fills"])


@pytest.mark.parametrize(
    "extra",
    [
        ("--strategy", "momentum", "--rebalance", "weekly", "--lookback", "40"),
        ("--strategy", "buy-and-hold", "--sizer", "weight", "--weight", "0.3"),
        ("--beta-sizing", "--beta-window", "60"),
        ("--sizer", "beta", "--beta-window", "60"),
    ],
)
def test_other_strategies_and_sizers_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...]
) -> None:
    prices = _prices_file(tmp_path)
    bench = tmp_path / "bench.csv"
    frame = pd.read_csv(prices, index_col="Date")
    frame.mean(axis=1).rename("BENCH").to_frame().to_csv(bench)
    result = run_cli(
        capsys, "backtest", "--prices", prices, "--benchmark", str(bench), "--format", "json",
        "--fast", "5", "--slow", "20", *extra,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["n_fills"] > 0
    assert set(payload["metrics"]) == METRIC_KEYS


def test_portfolio_rebalancing_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ortools")
    prices = _prices_file(tmp_path, bars=400, symbols=6)
    result = run_cli(
        capsys, "backtest", "--prices", prices, "--portfolio", "--factor", "momentum",
        "--lookback", "60", "--max-positions", "3", "--rebalance", "21", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["n_fills"] > 0
    assert 0 < payload["metrics"]["exposure"] <= 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--strategy", "martingale"), "--strategy must be one of sma-cross"),
        (("--fast", "50", "--slow", "20"), "--fast (50) must be shorter than --slow (20)"),
        (("--fast", "20", "--slow", "20"), "must be shorter"),
        (("--sizer", "weight", "--weight", "1.5"), "--weight must be in (0, 1]"),
        (("--sizer", "weight", "--weight", "0"), "--weight must be in (0, 1]"),
        (("--risk-per-trade", "-0.1"), "--risk-per-trade must be in (0, 1]"),
        (("--max-position", "0"), "--max-position must be in (0, 1]"),
        (("--stop-loss", "1.5"), "--stop-loss must be in (0, 1)"),
        (("--beta-window", "1", "--beta-sizing"), "--beta-window must be >= 2"),
        (("--target-beta", "0"), "--target-beta must be > 0"),
        (("--commission-bps", "-1"), "--commission-bps must be a finite number >= 0"),
        (("--slippage-bps", "-5"), "--slippage-bps"),
        (("--commission-min", "-1"), "--commission-min"),
        (("--cash", "0"), "--cash must be > 0"),
        (("--sizer", "kelly"), "--sizer"),
        (("--rebalance", "fortnightly"), "--rebalance must be monthly, weekly"),
        (("--portfolio", "--beta-sizing"), "use one of them"),
        (("--portfolio", "--factor", "astrology"), "--factor must be one of"),
        (("--prices", "/nonexistent/prices.csv"), "no such file"),
        (("--beta-sizing", "--benchmark", "/nonexistent/bench.csv"), "no such file"),
        (("--benchmark", "/nonexistent/bench.csv"), "no such file"),
        (("--benchmark", "/nonexistent/bench.csv", "--no-record"), "no such file"),
        (("--slippage-bps", "20000"), "--slippage-bps must be below 10,000 (100% of the traded"),
        (("--slippage-bps", "10000"), "--slippage-bps must be below 10,000"),
        (("--commission-bps", "10000"), "--commission-bps must be below 10,000"),
        (("--cash", "1e12"), "--cash must be at most 10,000,000,000: the ledger counts micro"),
        (("--cash", "1e308"), "--cash must be at most 10,000,000,000"),
        (("--slow", "100000"), "--slow 100,000 needs more than 100,000 sessions but the bundled"),
        (("--strategy", "momentum", "--lookback", "9000"), "--lookback 9,000 needs more than"),
        (("--portfolio", "--lookback", "9000"), "--lookback 9,000 needs more than"),
        (("--beta-sizing", "--beta-window", "9000"), "--beta-window 9,000 needs more than"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: tuple[str, ...], fragment: str
) -> None:
    runs = tmp_path / "runs"
    assert_one_line_error(run_cli(capsys, "backtest", *args, "--out", str(runs)), fragment)
    assert not runs.exists()  # nothing written


def _rows(count: int, price: str = "10") -> str:
    days = pd.bdate_range("2020-01-01", periods=count)
    body = "".join(
        f"{d.date()},{price if i == count // 2 else 10 + i % 7},20\n" for i, d in enumerate(days)
    )
    return "Date,AAA,BBB\n" + body


@pytest.mark.parametrize(
    ("content", "args", "fragment"),
    [
        (_rows(2), (), "--slow 50 needs more than 50 sessions but {file} has 2"),
        (_rows(2), ("--fast", "1", "--slow", "2"), "--slow 2 needs more than 2 sessions"),
        (_rows(80, "1e308"), ("--fast", "5", "--slow", "20"), "AAA closes at 1e+308 on"),
        (_rows(80, "2e9"), ("--fast", "5", "--slow", "20"), "beyond the 1,000,000,000 per unit"),
    ],
    ids=["two rows", "two rows, short windows", "1e308 price", "2e9 price"],
)
def test_data_the_run_cannot_use_is_refused_up_front(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str,
    args: tuple[str, ...],
    fragment: str,
) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text(content)
    runs = tmp_path / "runs"
    result = run_cli(capsys, "backtest", "--prices", str(prices), *args, "--out", str(runs))
    assert_one_line_error(result, fragment.format(file=prices))  # no numpy warning lines
    assert not runs.exists()


def test_a_prices_file_that_fails_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,A\n2020-01-02,10\n2020-01-03,-5\n")
    result = run_cli(capsys, "backtest", "--prices", str(bad))
    assert result.code == 2, result
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_long_file_with_opens_fills_at_the_next_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["date,symbol,open,close"]
    days = pd.bdate_range("2020-01-01", periods=6)
    for day, close in zip(days, [10.0, 11.0, 12.0, 13.0, 14.0, 15.0], strict=True):
        rows.append(f"{day.date()},A,{close - 0.5},{close}")
    path = tmp_path / "long.csv"
    path.write_text("\n".join(rows) + "\n")
    result = run_cli(
        capsys, "backtest", "--prices", str(path), "--strategy", "buy-and-hold",
        "--sizer", "weight", "--weight", "0.5", "--cash", "1000", "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    (fill,) = payload["fills"]
    # decided at the first close, filled at the second bar's open: floor(0.5 · 1000 / 10.5)
    assert (fill["date"], fill["price"], fill["quantity"]) == (str(days[1].date()), 10.5, 47)
    assert payload["final_equity"] == pytest.approx(1000 - 47 * 10.5 + 47 * 15.0)


def test_backtest_and_live_share_one_definition_of_the_trading_options() -> None:
    """Every strategy/sizer/cost option of `backtest` exists in `live` with the same flags,
    help text and default (both come from `cli.trading_options`), and both defaults are
    `BacktestConfig`'s."""
    group = typer.main.get_command(build_app())
    commands = group.commands  # type: ignore[attr-defined]

    def options(name: str) -> dict[str, tuple[object, ...]]:
        return {
            str(p.name): (tuple(p.opts), getattr(p, "help", None), p.default)
            for p in commands[name].params
        }

    backtest, live = options("backtest"), options("live")
    shared = set(BacktestConfig.model_fields)
    assert shared <= set(backtest) and shared <= set(live)
    for name in sorted(shared):
        assert backtest[name] == live[name], name
        assert backtest[name][2] == BacktestConfig.model_fields[name].default, name


def _ohlc_file(tmp_path: Path) -> Path:
    from tradefolio.data.synthetic import gbm_ohlc

    path = tmp_path / "bars.csv"
    gbm_ohlc(4, 300, seed=21, volatility=0.35).to_long().to_csv(path, index=False)
    return path


REENTRY = str(Path(__file__).parents[3] / "examples" / "strategies" / "reentry.py")


@pytest.mark.parametrize("case", ["default", "user-strategy-with-stop", "portfolio"])
def test_the_cli_is_a_client_of_tf_backtest_every_fill_the_same(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tradefolio as tf
    from tradefolio.reporting.run_folder import read_run_folder

    if case == "default":
        flags: list[str] = []
        keywords: dict[str, object] = {}
    elif case == "user-strategy-with-stop":
        bars = _ohlc_file(tmp_path)
        spec = f"{REENTRY}:ReEntryAfterStop"
        flags = ["--prices", str(bars), "--strategy", spec, "--param", "sma=20"]
        flags += ["--param", "cooldown=3", "--stop-loss", "0.04", "--commission-bps", "5"]
        keywords = {
            "prices": bars, "strategy": spec, "param": {"sma": 20, "cooldown": 3},
            "stop_loss": 0.04, "commission_bps": 5.0,
        }  # fmt: skip
    else:
        pytest.importorskip("ortools")
        prices = _prices_file(tmp_path, bars=400, symbols=6)
        flags = ["--prices", prices, "--portfolio", "--factor", "momentum", "--lookback", "60"]
        flags += ["--max-positions", "3", "--rebalance", "21"]
        keywords = {
            "prices": Path(prices), "portfolio": True, "factor": "momentum", "lookback": 60,
            "max_positions": 3, "rebalance": 21,
        }  # fmt: skip
    out = tmp_path / "runs"
    result = run_cli(capsys, "backtest", *flags, "--out", str(out), "--format", "json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    run = tf.backtest(**keywords)  # type: ignore[arg-type]
    assert payload["fills"] and fills_as_cli(run) == payload["fills"]  # every fill
    assert float(run.final_equity) == payload["final_equity"]
    assert run.metrics.to_dict() == pytest.approx(payload["metrics"])
    (folder,) = out.iterdir()
    pd.testing.assert_frame_equal(read_run_folder(folder).fills, run.fills, check_dtype=False)
    if case == "user-strategy-with-stop":
        assert payload["exits"]["stop_loss"] == 0.04
        wider = tf.backtest(**{**keywords, "stop_loss": 0.2})  # type: ignore[arg-type]
        assert fills_as_cli(wider) != payload["fills"]  # the stop acted on these fills
