"""`tf.allocate` against `tradefolio allocate` on the same inputs: the same allocation, the
same trades, and the CLI's exit-2 errors as the same exception classes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import tradefolio as tf
from support.cli import run_cli
from tradefolio.api.options import ALLOCATE_DEFAULTS
from tradefolio.cli.app import BAD_INPUT_ERRORS
from tradefolio.portfolio.params import AllocatorParams

pytest.importorskip("ortools")
pytest.importorskip("sklearn")


def _cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    result = run_cli(capsys, "allocate", *args, "--format", "json")
    assert result.code == 0, result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def _same_allocation(plan: tf.AllocationResult, payload: dict[str, Any]) -> None:
    """Every allocation row, the status, objective, cash and solver agree exactly."""
    expected = pd.DataFrame(payload["allocations"]).set_index("symbol")
    got = plan.allocations
    assert list(got.index) == list(expected.index)
    for column in ("weight", "dollars", "shares", "price"):
        np.testing.assert_array_equal(got[column].to_numpy(), expected[column].to_numpy())
    assert plan.status == payload["status"]
    assert plan.objective == payload["objective"]
    assert round(plan.cash, 6) == payload["cash"]
    assert plan.solver == payload["solver"]
    assert plan.gap == payload["gap"]  # the proven gap of issue 15, not 0 by fiat
    assert plan.best_bound == payload["best_bound"]
    assert list(plan.dropped) == payload["dropped"]
    assert dict(plan.excluded) == payload["excluded"]


@pytest.mark.parametrize(
    ("keywords", "flags"),
    [
        ({}, []),
        ({"max_weight": 0.1, "max_positions": 8}, ["--max-weight", "0.1", "--max-positions", "8"]),
        (
            {"factor": "inverse-volatility", "lookback": 63, "solver": "exact"},
            ["--factor", "inverse-volatility", "--lookback", "63", "--solver", "exact"],
        ),
        ({"fractional": True, "capital": 12_345.0}, ["--fractional", "--capital", "12345"]),
    ],
)
def test_score_model_equals_the_cli(
    keywords: dict[str, Any], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _same_allocation(tf.allocate(**keywords), _cli_json(capsys, *flags))


def test_mean_variance_with_a_sector_cap_and_holdings_equals_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    held = tmp_path / "held.csv"
    held.write_text("symbol,shares\nXOM,100\nAAPL,20\n")
    payload = _cli_json(
        capsys, "--objective", "mean-variance", "--risk-aversion", "5", "--sector-cap", "0.35",
        "--holdings", str(held), "--cost-bps", "5", "--max-positions", "8",
    )  # fmt: skip
    plan = tf.allocate(
        objective="mean-variance",
        risk_aversion=5,
        sector_cap=0.35,
        holdings=pd.Series({"XOM": 100, "AAPL": 20}),
        cost_bps=5,
        max_positions=8,
    )
    _same_allocation(plan, payload)
    assert plan.model == payload["model"] == "mean-variance"
    trades = pd.DataFrame(payload["trades"])
    pd.testing.assert_frame_equal(
        plan.trades.reset_index(drop=True),
        trades.astype({"shares": "float64"})[list(plan.trades.columns)],
        check_dtype=False,
    )
    assert plan.costs == pytest.approx(payload["costs"], abs=1e-6)
    assert plan.turnover == payload["turnover"]


def test_the_trades_are_the_ones_the_model_proved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a minimum trade acts on trades: whole shares inside the model (issue 15), so every
    # listed trade is a whole number of shares worth at least the minimum
    held = tmp_path / "held.csv"
    held.write_text("symbol,shares\nXOM,10.5\nAAPL,20\n")
    payload = _cli_json(capsys, "--holdings", str(held), "--min-trade", "2500")
    plan = tf.allocate(holdings=pd.Series({"XOM": 10.5, "AAPL": 20}), min_trade=2500)
    _same_allocation(plan, payload)
    assert plan.proven_gap == plan.gap == payload["gap"]
    assert list(plan.trades["symbol"]) == [t["symbol"] for t in payload["trades"]]
    assert not plan.trades.empty and (plan.trades["dollars"] >= 2500 - 1e-6).all()
    bought = plan.trades[plan.trades["side"] == "buy"]
    assert (bought["shares"] == bought["shares"].round()).all()


def test_seed_trades_are_buys_from_cash() -> None:
    plan = tf.allocate()
    assert plan.model is None and "trades" not in plan._repr_html_()
    trades = plan.trades.set_index("symbol")
    assert set(trades["side"]) == {"buy"}
    pd.testing.assert_series_equal(
        trades["shares"], plan.allocations["shares"].astype("float64"), check_names=False
    )


def test_pandas_inputs_equal_the_files_the_cli_reads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tf.sample_prices().iloc[-400:, :8]
    prices_file = tmp_path / "closes.csv"
    prices.to_csv(prices_file)
    scores = pd.Series({"AAPL": 0.3, "AMD": 0.1, "BAC": -0.2, "BBY": 0.25})
    scores_file = tmp_path / "scores.csv"
    scores.rename_axis("symbol").rename("score").to_csv(scores_file)
    payload = _cli_json(
        capsys, "--prices", str(prices_file), "--factor", "user", "--scores", str(scores_file)
    )
    _same_allocation(tf.allocate(prices, scores=scores), payload)
    # a long frame of the same closes is the same data
    long = prices.stack().rename("close").rename_axis(["date", "symbol"]).reset_index()
    _same_allocation(tf.allocate(long, scores=scores), payload)


def test_candidates_frame_equals_a_candidates_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.DataFrame(
        {"score": [0.4, 0.2, 0.1, -0.1], "price": [10.5, 20.0, 33.3, 7.0]},
        index=pd.Index(["AAA", "BBB", "CCC", "DDD"], name="symbol"),
    )
    path = tmp_path / "cands.csv"
    frame.to_csv(path)
    payload = _cli_json(capsys, "--candidates", str(path), "--max-weight", "0.4")
    _same_allocation(tf.allocate(candidates=frame, max_weight=0.4), payload)


def test_a_covariance_matrix_is_the_one_used() -> None:
    """A user covariance equal to the sample estimate gives the sample estimator's answer."""
    prices = tf.sample_prices()
    returns = tf.period_returns(prices, ALLOCATE_DEFAULTS.risk_lookback, list(prices.columns))
    sample = returns.cov() * 252
    by_name = tf.allocate(objective="mean-variance", risk_aversion=3, covariance="sample")
    by_matrix = tf.allocate(objective="mean-variance", risk_aversion=3, covariance=sample)
    pd.testing.assert_series_equal(by_name.weights, by_matrix.weights, atol=1e-6)


def test_defaults_are_the_cli_defaults() -> None:
    params = AllocatorParams()
    assert (
        ALLOCATE_DEFAULTS.max_weight,
        ALLOCATE_DEFAULTS.min_weight,
        ALLOCATE_DEFAULTS.max_positions,
    ) == (params.max_weight, params.min_weight, params.max_positions)
    from tradefolio.cli.allocate import allocate_command

    defaults = allocate_command.__defaults__ or ()
    names = allocate_command.__code__.co_varnames[: allocate_command.__code__.co_argcount]
    cli = dict(zip(names[len(names) - len(defaults) :], defaults, strict=True))
    for name, value in ALLOCATE_DEFAULTS.as_dict().items():
        assert cli[name] == value, name


@pytest.mark.parametrize(
    ("keywords", "flags"),
    [
        ({"max_weight": 1.5}, ["--max-weight", "1.5"]),
        ({"min_weight": 0.3, "max_weight": 0.2}, ["--min-weight", "0.3", "--max-weight", "0.2"]),
        ({"max_positions": 0}, ["--max-positions", "0"]),
        ({"capital": 1e13}, ["--capital", "1e13"]),
        ({"solver": "gurobi"}, ["--solver", "gurobi"]),
        ({"factor": "value"}, ["--factor", "value"]),
        ({"objective": "sortino"}, ["--objective", "sortino"]),
        ({"sector_cap": 0.0}, ["--sector-cap", "0"]),
        ({"risk_lookback": 100_000, "objective": "min-variance"},
         ["--risk-lookback", "100000", "--objective", "min-variance"]),
        ({"min_invested": 1.0, "max_weight": 0.05, "max_positions": 3, "objective": "min-variance"},
         ["--min-invested", "1", "--max-weight", "0.05", "--max-positions", "3",
          "--objective", "min-variance"]),
    ],
)  # fmt: skip
def test_bad_input_raises_what_the_cli_reports_as_exit_2(
    keywords: dict[str, Any], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    cli = run_cli(capsys, "allocate", *flags)
    assert cli.code == 2, cli.stderr
    with pytest.raises(tf.TradefolioError) as raised:
        tf.allocate(**keywords)
    assert isinstance(raised.value, (*BAD_INPUT_ERRORS, tf.InfeasibleAllocation))
    # the same first line: the API's message is the CLI's error
    assert cli.stderr.splitlines()[0] == f"error: {str(raised.value).splitlines()[0]}"


def test_bad_pandas_inputs_are_data_errors() -> None:
    prices = tf.sample_prices().iloc[-300:, :4]
    broken = prices.copy()
    broken.iloc[5, 1] = -1.0
    with pytest.raises(tf.DataError, match="AMD"):
        tf.allocate(broken)
    with pytest.raises(tf.DataError, match="not finite"):
        tf.allocate(prices, scores=pd.Series({"AAPL": np.nan}))
    with pytest.raises(tf.DataError, match="missing column"):
        tf.allocate(candidates=pd.DataFrame({"symbol": ["A"], "score": [1.0]}))
    with pytest.raises(tf.InvalidParameter, match="--scores"):
        tf.allocate(prices, scores=pd.Series({"ZZZ": 1.0}))


def test_repr_html_summarises_the_allocation() -> None:
    page = tf.allocate()._repr_html_()
    assert "momentum allocation of the bundled sample" in page
    assert "<td>CVX</td>" in page and "optimal" in page


def test_the_option_choices_are_the_models() -> None:
    from tradefolio.api import options
    from tradefolio.portfolio import choices, covariance, scoring

    assert options.ESTIMATORS is choices.ESTIMATORS == covariance.ESTIMATORS
    factors = options.FACTOR_CHOICES
    assert factors == (*scoring.FACTORS, "user")


def _own_risk_files(tmp_path: Path) -> dict[str, Path]:
    """Candidates, expected returns, per-name bounds and a labelled covariance (issue 16)."""
    (tmp_path / "c.csv").write_text("symbol,score,price\nAAA,0,10\nBBB,0,20\nCCC,0,30\n")
    (tmp_path / "mu.csv").write_text("symbol,mu\nAAA,0.10\nBBB,0.06\nCCC,0.02\n")
    (tmp_path / "bds.csv").write_text(
        "symbol,min_weight,max_weight\nAAA,0.2,0.5\nBBB,0.2,0.6\nCCC,0.1,0.7\n"
    )
    loadings = np.array([[0.1, 0.2, -0.1], [0.05, 0.0, 0.3]])
    sigma = loadings.T @ loadings + np.diag([0.01, 0.02, 0.03])
    labels = ["AAA", "BBB", "CCC"]
    pd.DataFrame(sigma, index=labels, columns=labels).to_csv(tmp_path / "q.csv")
    return {name: tmp_path / f"{name}.csv" for name in ("c", "mu", "bds", "q")}


def test_own_risk_model_files_equal_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _own_risk_files(tmp_path)
    payload = _cli_json(
        capsys,
        *["--candidates", str(files["c"]), "--objective", "min-variance", "--min-return",
          "0.05", "--covariance-file", str(files["q"]), "--expected-returns", str(files["mu"]),
          "--bounds", str(files["bds"]), "--min-invested", "1", "--max-positions", "3",
          "--fractional"],
    )  # fmt: skip
    plan = tf.allocate(
        candidates=files["c"],
        objective="min-variance",
        min_return=0.05,
        covariance_file=str(files["q"]),  # a str path is accepted as the CLI's file
        expected_returns=files["mu"],
        bounds=files["bds"],
        min_invested=1.0,
        max_positions=3,
        fractional=True,
    )
    assert payload["status"] == "optimal"
    _same_allocation(plan, payload)
    held = plan.weights[plan.weights > 0]
    caps = {"AAA": (0.2, 0.5), "BBB": (0.2, 0.6), "CCC": (0.1, 0.7)}
    for symbol, weight in held.items():
        low, high = caps[str(symbol)]
        assert low - 1e-9 <= weight <= high + 1e-9


def test_own_risk_model_bad_options_raise_what_the_cli_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = _own_risk_files(tmp_path)
    from tradefolio.errors import InvalidParameter

    cli = run_cli(
        capsys, "allocate", "--candidates", str(files["c"]), "--objective", "min-variance",
        "--factor-loadings", str(files["q"]),
    )  # fmt: skip
    assert cli.code == 2
    with pytest.raises(InvalidParameter, match="a factor model needs") as raised:
        tf.allocate(candidates=files["c"], objective="min-variance", factor_loadings=files["q"])
    assert str(raised.value) in cli.stderr
    with pytest.raises(InvalidParameter, match="--covariance-file is used by"):
        tf.allocate(candidates=files["c"], objective="cvar", covariance_file=files["q"])


def test_an_odd_lot_may_be_sold_alone_as_docs_model_md_says() -> None:
    """3 shares in lots of 2 may go to 2 (the odd share sold, less than a lot), not only
    stay 3 or move by whole lots (docs/model.md, whole shares)."""
    candidates = pd.DataFrame({"symbol": ["A"], "score": [1.0], "price": [100.0]})
    result = tf.allocate(
        candidates=candidates, holdings={"A": 3}, capital=0.0, max_weight=0.7,
        whole_shares=True, lot=2,
    )  # fmt: skip
    assert result.status == "optimal"
    assert int(result.allocations.loc["A", "shares"]) == 2
    assert result.trades[["symbol", "side", "shares"]].values.tolist() == [["A", "sell", 1.0]]


def test_a_position_below_the_minimum_trade_may_be_sold_whole() -> None:
    """--min-trade 500 still sells a whole $50 position (docs/model.md, minimum trade)."""
    candidates = pd.DataFrame({"symbol": ["A", "B"], "score": [-1.0, 1.0], "price": [50.0, 100.0]})
    result = tf.allocate(
        candidates=candidates, holdings={"A": 1}, capital=1000.0, max_weight=0.9,
        min_trade=500.0,
    )  # fmt: skip
    trades = result.trades.set_index("symbol")
    assert (trades.loc["A", "side"], trades.loc["A", "dollars"]) == ("sell", 50.0)
    assert "A" not in result.allocations.index


@pytest.mark.parametrize("extra", [(), ("--cost-bps", "1"), ("--candidates",)])
def test_no_cash_and_no_holdings_names_the_capital_flag(
    extra: tuple[str, ...], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`capital=0` without holdings: the message names `--capital` as every other option's
    does (found by review, session 10), on every path (score model, composable model, a
    candidates file through the quick path and through typer)."""
    picks = tmp_path / "c.csv"
    pd.DataFrame({"symbol": ["A", "B"], "score": [0.2, 0.1], "price": [10.0, 20.0]}).to_csv(
        picks, index=False
    )
    flags = (*extra, str(picks)) if extra == ("--candidates",) else extra
    expected = "--capital must be > 0 without --holdings (the whole account is cash), got 0"
    for tail in ((), ("--format", "json")):  # the quick path, then typer's (a json output)
        result = run_cli(capsys, "allocate", "--capital", "0", *flags, *tail)
        assert result.code == 2, result.stderr
        assert result.stderr.strip() == f"error: {expected}"
    keywords: dict[str, Any] = {"candidates": picks} if flags[:1] == ("--candidates",) else {}
    if extra[:1] == ("--cost-bps",):
        keywords["cost_bps"] = 1.0
    with pytest.raises(tf.InvalidParameter) as raised:
        tf.allocate(capital=0, **keywords)
    assert str(raised.value) == expected
