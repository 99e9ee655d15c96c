"""Your own strategy from the CLI: `--strategy FILE.py:Class` / `module:Class`, typed
`--param`s, the shipped examples, and a raising strategy as one clear failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.cli import assert_one_line_error, run_cli

from tradefolio.backtest.config import BacktestConfig
from tradefolio.data.synthetic import gbm_ohlc
from tradefolio.errors import InvalidParameter

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "strategies"


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    gbm_ohlc(6, 1_000, seed=21, volatility=0.35).to_long().to_csv(path, index=False)
    return path


def _backtest(capsys: pytest.CaptureFixture[str], bars: Path, *args: str) -> dict[str, object]:
    result = run_cli(
        capsys, "backtest", "--prices", str(bars), "--format", "json", "--no-record", *args
    )
    assert result.code == 0, result.stderr
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def _fills(payload: dict[str, object]) -> list[dict[str, object]]:
    fills = payload["fills"]
    assert isinstance(fills, list)
    return fills


def test_rsi_mean_reversion_with_its_own_trailing_stop(
    capsys: pytest.CaptureFixture[str], bars: Path
) -> None:
    payload = _backtest(
        capsys, bars, "--sizer", "weight", "--weight", "0.1",
        "--strategy", f"{EXAMPLES}/rsi_mean_reversion.py:RsiMeanReversion",
        "--param", "window=10", "--param", "oversold=35", "--param", "trail=0.05",
    )  # fmt: skip
    fills = _fills(payload)
    assert sum(f["side"] == "buy" for f in fills) > 10
    assert payload["n_fills"] == len(fills)
    # the same run in process: its own trailing stops took positions out
    from tradefolio.backtest.engine import run_backtest
    from tradefolio.backtest.user_strategy import build_user_strategy
    from tradefolio.execution.sizing import PortfolioWeightSizer

    panel = gbm_ohlc(6, 1_000, seed=21, volatility=0.35)
    strategy = build_user_strategy(
        f"{EXAMPLES}/rsi_mean_reversion.py:RsiMeanReversion",
        {"window": 10, "oversold": 35.0, "trail": 0.05},
    )
    result = run_backtest(
        panel.close, strategy, PortfolioWeightSizer.fixed(0.1), opens=panel.open,
        highs=panel.high, lows=panel.low,
    )  # type: ignore[arg-type]  # fmt: skip
    trailed = [f for f in result.fills if f.client_order_id.endswith("-trail")]
    assert len(trailed) > 3
    assert len(result.fills) == len(fills)


def test_donchian_breakout_enters_with_brackets(
    capsys: pytest.CaptureFixture[str], bars: Path
) -> None:
    result = run_cli(
        capsys, "backtest", "--prices", str(bars), "--format", "csv", "--no-record",
        "--strategy", f"{EXAMPLES}/donchian_breakout.py:DonchianBreakout",
        "--param", "entry_window=20", "--param", "exit_window=10", "--param", "target=0.1",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(result.stdout.splitlines()) > 20  # header + fills


def test_the_stateful_re_entry_rule_waits_after_a_stop_out() -> None:
    from tradefolio.backtest.engine import run_backtest
    from tradefolio.backtest.user_strategy import load_strategy_class
    from tradefolio.execution.orders import ProtectiveExits
    from tradefolio.execution.sizing import PortfolioWeightSizer

    panel = gbm_ohlc(6, 1_000, seed=21, volatility=0.35)
    cls = load_strategy_class(f"{EXAMPLES}/reentry.py:ReEntryAfterStop")
    strategy = cls(sma=30, cooldown=7)
    result = run_backtest(
        panel.close, strategy, PortfolioWeightSizer.fixed(0.1), opens=panel.open,
        highs=panel.high, lows=panel.low, exits=ProtectiveExits(stop_loss=0.04),
    )  # fmt: skip
    stops = [(f.symbol, f.bar) for f in result.fills if f.client_order_id.endswith("-stop")]
    assert len(stops) > 5
    buys = [(f.symbol, f.bar) for f in result.fills if f.side == "buy"]
    for symbol, bar in stops:
        later = [b for s, b in buys if s == symbol and b > bar]
        # noticed at the close of the stop-out bar, so the earliest re-entry fills at
        # bar + cooldown + 1 (a decision at bar + cooldown)
        assert not later or later[0] >= bar + 7 + 1
    assert sum(len(bars) for bars in strategy.stopped_out.values()) == len(stops)


def test_a_module_path_strategy_with_typed_params(
    capsys: pytest.CaptureFixture[str], bars: Path
) -> None:
    by_module = _backtest(
        capsys, bars, "--sizer", "weight",
        "--strategy", "tradefolio.backtest.strategies:SmaCrossEvents",
        "--param", "fast=5", "--param", "slow=20",
    )  # fmt: skip
    builtin = _backtest(capsys, bars, "--sizer", "weight", "--fast", "5", "--slow", "20")
    assert by_module["fills"] == builtin["fills"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--param", "windw=3"), "--param windw: RsiMeanReversion has no such parameter"),
        (("--param", "window=ten"), "--param window=ten: expected int"),
        (("--param", "window"), "--param expects NAME=VALUE"),
        (("--param", "oversold=80"), "need window >= 2"),
    ],
)
def test_bad_params_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], fragment: str
) -> None:
    result = run_cli(
        capsys, "backtest", "--no-record",
        "--strategy", f"{EXAMPLES}/rsi_mean_reversion.py:RsiMeanReversion", *args,
    )  # fmt: skip
    assert_one_line_error(result, fragment)


def test_unknown_files_and_classes_are_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    missing = run_cli(capsys, "backtest", "--strategy", "nowhere/x.py:Thing", "--no-record")
    assert_one_line_error(missing, "no such file")
    no_class = run_cli(
        capsys, "backtest", "--strategy", f"{EXAMPLES}/reentry.py:Nope", "--no-record"
    )
    assert_one_line_error(no_class, "has no class Nope")
    with pytest.raises(InvalidParameter, match="--param sets a parameter of your own"):
        BacktestConfig.create(param=("fast=3",))


def test_a_raising_strategy_exits_1_with_bar_symbol_and_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "broken.py"
    source.write_text(
        "class Broken:\n"
        "    name = 'broken'\n"
        "    warmup = 5\n"
        "    def on_bar(self, context):\n"
        "        if context.bar == 30:\n"
        "            context.price(context.symbols[1])\n"
        "            raise KeyError('no such level')\n"
    )
    result = run_cli(capsys, "backtest", "--strategy", f"{source}:Broken", "--no-record")
    assert result.code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: strategy broken raised KeyError at bar 30 (")
    assert "(last symbol it asked about: " in first
    assert "broken.py" in result.stderr and "raise KeyError('no such level')" in result.stderr


def test_sweep_grids_a_user_strategy_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bars: Path
) -> None:
    result = run_cli(
        capsys, "sweep", "--prices", str(bars), "--workers", "1", "--format", "json",
        "--set", f"strategy={EXAMPLES}/donchian_breakout.py:DonchianBreakout",
        "--grid", "param.entry_window=15,30", "--set", "param.exit_window=10",
        "--out", str(tmp_path / "sweep"),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)["leaderboard"]
    assert sorted(r["param.entry_window"] for r in rows) == [15, 30]
    assert all(r["status"] == "ok" for r in rows)
    assert len({r["final_equity"] for r in rows}) == 2


def test_exits_on_close_only_data_say_what_they_are_matched_against(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = run_cli(capsys, "backtest", "--stop-loss", "0.05", "--format", "json", "--no-record")
    assert result.code == 0
    assert "has no open, high, low prices" in " ".join(result.stderr.split())
    assert json.loads(result.stdout)["exits"]["stop_loss"] == 0.05
