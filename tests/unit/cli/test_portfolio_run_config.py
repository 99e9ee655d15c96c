"""A `--portfolio` backtest refuses any sizer given and records in config.json what ran.

Review, session 11: `backtest --portfolio --sizer risk` was accepted silently (only a
`--sizer` other than the default was refused), though a portfolio run sizes every trade
from the allocator's weights; and its config.json recorded the sma-cross strategy's
fields, the risk sizer's and `commission_bps: 0` while the fills paid `--cost-bps` and
`--fixed-cost`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import assert_one_line_error, run_cli
from tradefolio.backtest.config import NOT_PORTFOLIO, BacktestConfig

GIVEN_AT_DEFAULT = [
    ("--sizer", "risk"),
    ("--sizer", "weight"),
    ("--sizer", "beta"),
    ("--strategy", "sma-cross"),
    ("--fast", "20"),
    ("--weight", "0.1"),
    ("--risk-per-trade", "0.01"),
    ("--max-position", "0.25"),
]


@pytest.mark.parametrize("extra", GIVEN_AT_DEFAULT, ids=" ".join)
def test_an_option_given_that_portfolio_never_reads_is_refused(
    capsys: pytest.CaptureFixture[str], short_prices: Path, extra: tuple[str, str]
) -> None:
    result = run_cli(
        capsys, "backtest", "--prices", str(short_prices), "--portfolio", "--no-record", *extra
    )
    assert_one_line_error(
        result, f"{extra[0]} is not used by --portfolio, which sizes every trade from the "
    )
    assert "allocator's weights" in result.stderr


@pytest.mark.parametrize("extra", [("--sizer", "risk"), ("--fast", "20")], ids=" ".join)
def test_live_portfolio_refuses_them_too_before_any_journal(
    capsys: pytest.CaptureFixture[str], short_prices: Path, tmp_path: Path, extra: tuple[str, str]
) -> None:
    db = tmp_path / "j.db"
    result = run_cli(
        capsys,
        "live",
        "--paper",
        "--prices",
        str(short_prices),
        "--portfolio",
        "--db",
        str(db),
        *extra,
    )
    assert_one_line_error(result, f"{extra[0]} is not used by --portfolio")
    assert not db.exists()


def test_a_sizer_without_portfolio_still_runs(
    capsys: pytest.CaptureFixture[str], short_prices: Path
) -> None:
    result = run_cli(
        capsys, "backtest", "--prices", str(short_prices), "--sizer", "risk", "--no-record"
    )
    assert result.code == 0, result.stderr


def _config_json(out: Path) -> dict[str, object]:
    (folder,) = out.iterdir()
    header = json.loads((folder / "config.json").read_text())
    config = header["config"]
    assert isinstance(config, dict)
    return config


def test_portfolio_config_json_records_what_ran(
    capsys: pytest.CaptureFixture[str], short_prices: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    model = ("--objective", "mean-variance", "--risk-aversion", "5", "--max-turnover", "0.2")
    costs = ("--cost-bps", "5", "--fixed-cost", "1", "--slippage-bps", "2")
    result = run_cli(
        capsys,
        "backtest",
        "--prices",
        str(short_prices),
        "--portfolio",
        "--max-positions",
        "4",
        *model,
        *costs,
        "--out",
        str(out),
        "--format",
        "json",
    )
    assert result.code == 0, result.stderr
    config = _config_json(out)
    # nothing of a strategy, a sizer or exits: a portfolio run reads none of them
    for name in (*NOT_PORTFOLIO, "beta_sizing"):
        assert name not in config, name
    assert config["portfolio"] is True
    assert config["objective"] == "mean-variance" and config["risk_aversion"] == 5.0
    assert config["max_turnover"] == 0.2 and config["max_positions"] == 4
    assert config["cost_bps"] == 5.0 and config["fixed_cost"] == 1.0
    # what every fill paid: --cost-bps is the commission rate, --fixed-cost the fee
    assert config["fill_costs"] == {
        "commission_bps": 5.0,
        "commission_per_share": 0.0,
        "commission_min": 0.0,
        "commission_fixed": 1.0,
        "slippage_bps": 2.0,
    }
    fills = json.loads(result.stdout)["fills"]
    assert fills and all(f["commission"] > 1.0 for f in fills)  # 5 bps + $1 per fill
    # the recorded options rebuild the config the run used
    fields = {k: v for k, v in config.items() if k != "fill_costs"}
    rebuilt = BacktestConfig.create(**fields)
    assert rebuilt.portfolio and rebuilt.cost_bps == 5.0 and rebuilt.fixed_cost == 1.0
    assert rebuilt.objective == "mean-variance" and rebuilt.slippage_bps == 2.0


def test_a_strategy_run_records_every_option(
    capsys: pytest.CaptureFixture[str], short_prices: Path, tmp_path: Path
) -> None:
    out = tmp_path / "runs"
    result = run_cli(
        capsys,
        "backtest",
        "--prices",
        str(short_prices),
        "--fast",
        "10",
        "--commission-bps",
        "3",
        "--out",
        str(out),
        "--quiet",
    )
    assert result.code == 0, result.stderr
    config = _config_json(out)
    assert config == BacktestConfig.create(fast=10, commission_bps=3.0).model_dump()
