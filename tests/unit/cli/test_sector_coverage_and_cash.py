"""Two inputs a user-level review found mishandled: a sector cap over names the sector map
does not know (they were silently capped together as one "Unclassified" sector), and a
fully invested account (`--holdings` with `--capital 0`, i.e. no cash) refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.cli import assert_one_line_error, run_cli

from tradefolio.data.synthetic import gbm_ohlc


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    path = tmp_path / "syn.csv"
    gbm_ohlc(8, 600, seed=3, volatility=0.3).to_long().to_csv(path, index=False)
    return path


def test_allocate_refuses_a_sector_cap_over_names_without_a_sector(
    capsys: pytest.CaptureFixture[str], synthetic: Path
) -> None:
    result = run_cli(
        capsys, "allocate", "--prices", str(synthetic), "--factor", "trailing-return",
        "--lookback", "100", "--sector-cap", "0.35",
    )  # fmt: skip
    assert_one_line_error(result, "--sector-cap: no sector for SYN")


def test_a_partial_sectors_file_names_what_it_misses(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sectors = tmp_path / "sectors.csv"
    sectors.write_text("symbol,sector\nXOM,Energy\n")
    result = run_cli(capsys, "allocate", "--sector-cap", "0.35", "--sectors", str(sectors))
    assert_one_line_error(result, "no sector for ")
    assert "XOM" not in result.stderr.split("(")[0]


def test_backtest_refuses_it_before_the_first_bar(
    capsys: pytest.CaptureFixture[str], synthetic: Path, tmp_path: Path
) -> None:
    result = run_cli(
        capsys, "backtest", "--prices", str(synthetic), "--portfolio", "--objective",
        "mean-variance", "--sector-cap", "0.35", "--out", str(tmp_path / "runs"),
    )  # fmt: skip
    assert_one_line_error(result, "--sector-cap: no sector for SYN")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("fills.csv"))


def test_a_fully_invested_account_rebalances_with_no_cash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    holdings = tmp_path / "holdings.csv"
    holdings.write_text("symbol,shares\nXOM,500\nAAPL,300\n")
    result = run_cli(
        capsys, "allocate", "--holdings", str(holdings), "--capital", "0", "--max-weight",
        "0.6", "--max-turnover", "0.2", "--objective", "mean-variance", "--risk-aversion", "5",
        "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["capital"] == pytest.approx(91015.7, abs=0.01)  # the holdings alone
    assert out["status"] == "optimal"
    assert out["turnover"] <= 0.2 + 1e-9
    assert out["cash"] >= 0


def test_no_cash_and_no_holdings_is_still_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(
        run_cli(capsys, "allocate", "--capital", "0", "--objective", "mean-variance"),
        "--capital must be > 0 without --holdings",
    )
