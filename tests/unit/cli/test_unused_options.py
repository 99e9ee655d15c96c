"""An option the chosen run or model never reads is refused up front, never ignored.

`backtest --portfolio --stop-loss 0.05` used to run and report the same equity as without
it; `allocate --objective mean-variance --cvar-alpha 0.5` the same allocation. A value
equal to the option's default changes nothing and passes. `--solver exact` with the whole
model used to fail mid-run (bar 252) with a traceback and exit 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import tradefolio as tf
from support.cli import assert_one_line_error, run_cli
from tradefolio.backtest.config import BacktestConfig
from tradefolio.errors import InvalidParameter

PORTFOLIO_REFUSED = [
    (("--stop-loss", "0.05"), "--stop-loss is not used by --portfolio"),
    (("--sizer", "weight", "--weight", "0.2"), "--sizer is not used by --portfolio"),
    (("--weight", "0.2"), "--weight is not used by --portfolio"),
    (("--fast", "10"), "--fast is not used by --portfolio"),
    (("--take-profit", "0.1"), "--take-profit is not used by --portfolio"),
    (("--trailing-stop", "0.1"), "--trailing-stop is not used by --portfolio"),
    (("--strategy", "momentum"), "--strategy is not used by --portfolio"),
    (("--risk-aversion", "5"), "--risk-aversion 5 is not used: it is λ of --objective"),
    (("--covariance", "sample"), "--covariance sample is not used"),
    (("--risk-lookback", "60"), "--risk-lookback 60 is not used"),
    (("--sectors", "x.csv"), "--sectors is read only for --sector-cap"),
    (
        ("--objective", "mean-variance", "--min-return", "0.1"),
        "--min-return 0.1 is not used: it is the return floor",
    ),
    (
        ("--objective", "mean-variance", "--cvar-alpha", "0.5"),
        "--cvar-alpha 0.5 is not used: it is the confidence level of --objective cvar",
    ),
    (
        ("--objective", "mean-variance", "--lot", "10"),
        "--lot 10 is not used: it is the lot size of --whole-shares: add --whole-shares",
    ),
    (
        ("--objective", "mean-variance", "--solver", "exact"),
        "--solver exact solves only the score model",
    ),
]


@pytest.mark.parametrize(("extra", "fragment"), PORTFOLIO_REFUSED, ids=lambda v: str(v))
def test_backtest_portfolio_refuses_an_option_it_would_ignore(
    capsys: pytest.CaptureFixture[str],
    short_prices: Path,
    extra: tuple[str, ...],
    fragment: str,
) -> None:
    result = run_cli(
        capsys, "backtest", "--prices", str(short_prices), "--portfolio", "--no-record", *extra
    )
    assert_one_line_error(result, fragment)


@pytest.mark.parametrize(
    "extra",
    [("--stop-loss", "0.05"), ("--risk-aversion", "5"), ("--objective", "mean-variance")],
)
def test_live_and_sweep_refuse_the_same(extra: tuple[str, ...]) -> None:
    # live and sweep validate every run with the same BacktestConfig
    fields = {"portfolio": True}
    flag, *value = extra
    name = flag.removeprefix("--").replace("-", "_")
    if name == "objective":
        fields.update(objective="mean-variance", solver="exact")
    else:
        fields[name] = float(value[0])
    with pytest.raises(InvalidParameter, match=r"not used|solves only the score model"):
        BacktestConfig.create(**fields)


def test_defaults_given_explicitly_pass() -> None:
    config = BacktestConfig.create(
        portfolio=True, sizer="risk", risk_aversion=1.0, covariance="ledoit-wolf", lot=1
    )
    assert config.portfolio


ALLOCATE_REFUSED = [
    (("--objective", "mean-variance", "--min-return", "0.1"), "--min-return 0.1 is not used"),
    (("--objective", "mean-variance", "--cvar-alpha", "0.5"), "--cvar-alpha 0.5 is not used"),
    (("--objective", "mean-variance", "--lot", "10"), "--lot 10 is not used"),
    (("--objective", "min-variance", "--risk-aversion", "5"), "--risk-aversion 5 is not used"),
    (("--objective", "cvar", "--covariance", "sample"), "--covariance sample is not used"),
    (("--risk-lookback", "60"), "--risk-lookback 60 is not used"),
    (("--sectors", "x.csv"), "--sectors is read only for --sector-cap"),
]


@pytest.mark.parametrize(("extra", "fragment"), ALLOCATE_REFUSED, ids=lambda v: str(v))
def test_allocate_refuses_an_option_its_model_ignores(
    capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], fragment: str
) -> None:
    assert_one_line_error(run_cli(capsys, "allocate", *extra), fragment)


def test_allocate_with_a_covariance_file_refuses_the_estimators_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    symbols = ["AAA", "BBB"]
    pd.DataFrame({"symbol": symbols, "score": [0.1, 0.2], "price": [10.0, 20.0]}).to_csv(
        tmp_path / "c.csv", index=False
    )
    pd.DataFrame([[0.04, 0.01], [0.01, 0.09]], index=symbols, columns=symbols).to_csv(
        tmp_path / "q.csv"
    )
    base = (
        "allocate",
        "--candidates",
        str(tmp_path / "c.csv"),
        "--objective",
        "min-variance",
        "--fractional",
        "--max-weight",
        "1",
        "--covariance-file",
        str(tmp_path / "q.csv"),
    )
    for extra in (("--covariance", "sample"), ("--risk-lookback", "60")):
        result = run_cli(capsys, *base, *extra)
        assert_one_line_error(result, "--covariance-file is the risk model: drop it")
    assert run_cli(capsys, *base).code == 0


def test_api_allocate_refuses_the_same() -> None:
    with pytest.raises(InvalidParameter, match=r"--cvar-alpha 0\.5 is not used"):
        tf.allocate(objective="mean-variance", cvar_alpha=0.5)
    with pytest.raises(InvalidParameter, match="--sectors is read only for --sector-cap"):
        tf.allocate(objective="mean-variance", sectors={"AAPL": "Tech"})


def test_portfolio_json_has_no_sizing_stop(
    capsys: pytest.CaptureFixture[str], short_prices: Path
) -> None:
    result = run_cli(
        capsys,
        "backtest",
        "--prices",
        str(short_prices),
        "--portfolio",
        "--no-record",
        "--format",
        "json",
    )
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["exits"]["sizing_stop"] is None


def test_a_solver_that_cannot_solve_the_model_is_bad_input(
    capsys: pytest.CaptureFixture[str], short_prices: Path
) -> None:
    whole = ("--objective", "mean-variance", "--whole-shares", "--solver", "highs")
    result = run_cli(capsys, "allocate", "--prices", str(short_prices), *whole)
    assert_one_line_error(result, "or --solver auto (it picks a route for whole shares)")
    assert "what --solver auto picks" not in result.stderr
    # the backtest meets it at its first rebalance: the same one line, not 36 held rebalances
    result = run_cli(
        capsys, "backtest", "--prices", str(short_prices), "--portfolio", "--no-record", *whole
    )
    assert_one_line_error(result, "--solver highs solves quadratic models")


CONTRADICTORY = [
    (("--fractional", "--whole-shares"), "--fractional and --whole-shares contradict"),
    (("--fractional", "--whole-shares", "--lot", "10"), "--fractional and --whole-shares"),
    (("--fractional", "--lot", "10"), "--lot 10 contradicts --fractional"),
]


@pytest.mark.parametrize(("extra", "fragment"), CONTRADICTORY, ids=lambda v: str(v))
def test_contradictory_share_options_are_refused(
    capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], fragment: str
) -> None:
    """Whole shares used to win silently over `--fractional` (review, session 10)."""
    assert_one_line_error(run_cli(capsys, "allocate", *extra), fragment)
    keywords: dict[str, object] = {"fractional": True, "whole_shares": "--whole-shares" in extra}
    if "--lot" in extra:
        keywords["lot"] = 10
    with pytest.raises(InvalidParameter, match=fragment):
        tf.allocate(**keywords)  # type: ignore[arg-type]
