"""`tradefolio allocate`: output contracts and one-line errors for every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import assert_one_line_error, run_cli

pytest.importorskip("ortools")

CONTRACT_KEYS = {"status", "objective", "capital", "cash", "allocations"}
ALLOCATION_KEYS = {"symbol", "weight", "dollars", "shares", "price"}


def _write(tmp_path: Path, text: str, name: str = "candidates.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_default_run_allocates_the_sample(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "allocate", "--format", "json")
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload.keys() >= CONTRACT_KEYS
    assert payload["status"] == "optimal"
    assert payload["capital"] == 100_000
    allocations = payload["allocations"]
    assert 1 <= len(allocations) <= 10
    for row in allocations:
        assert row.keys() >= ALLOCATION_KEYS
        assert isinstance(row["shares"], int)
        assert 0.02 - 1e-9 <= row["weight"] <= 0.25 + 1e-9
    spent = sum(row["shares"] * row["price"] for row in allocations)
    assert payload["cash"] == pytest.approx(100_000 - spent, abs=1e-6)


def test_candidates_file_json_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "symbol,score,price\nAAA,3,10\nBBB,2,20\nCCC,1,7\nDDD,-1,5\n")
    args = ["allocate", "--candidates", path, "--capital", "1000", "--max-weight", "0.4"]
    result = run_cli(
        capsys, *args, "--min-weight", "0.1", "--max-positions", "3", "--format", "json"
    )
    payload = json.loads(result.stdout)
    assert [(a["symbol"], a["shares"]) for a in payload["allocations"]] == [
        ("AAA", 40),
        ("BBB", 20),
        ("CCC", 28),
    ]
    assert payload["dropped"] == ["DDD"]
    csv_out = run_cli(capsys, *args, "--min-weight", "0.1", "--format", "csv").stdout.splitlines()
    assert csv_out[0] == "symbol,weight,dollars,shares,price"
    assert csv_out[1].startswith("AAA,0.4,")


def test_fractional_and_every_solver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "symbol,score,price\nAAA,3,333\nBBB,2,77.7\n")
    objectives = set()
    for solver in ("cbc", "scip", "highs", "exact"):
        out = run_cli(
            capsys,
            "allocate",
            "--candidates",
            path,
            "--fractional",
            "--solver",
            solver,
            "--max-weight",
            "0.5",
            "--format",
            "json",
        )
        assert out.code == 0, out.stderr
        payload = json.loads(out.stdout)  # solver banners must not pollute stdout
        assert isinstance(payload["allocations"][0]["shares"], float)
        objectives.add(round(payload["objective"], 9))
    assert objectives == {2.5}


def test_table_output_names_status(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "allocate", "--factor", "inverse-volatility", "--max-weight", "0.1")
    assert result.code == 0
    assert "proven optimal" in result.stdout and "symbol" in result.stdout


def test_user_scores_with_prices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scores = _write(tmp_path, "symbol,score\nAAPL,2\nKO,1\n", "scores.csv")
    result = run_cli(capsys, "allocate", "--factor", "user", "--scores", scores, "--format", "json")
    assert {a["symbol"] for a in json.loads(result.stdout)["allocations"]} == {"AAPL", "KO"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("symbol,score\nAAA,1\n", "missing column price"),
        ("symbol,score,price\nAAA,1,10\nAAA,2,11\n", "duplicate symbol 'AAA'"),
        ("symbol,score,price\nAAA,nan,10\n", "score"),
        ("symbol,score,price\nAAA,inf,10\n", "score"),
        ("symbol,score,price\nAAA,1,0\n", "price of AAA"),
        ("symbol,score,price\nAAA,1,-2\n", "price of AAA"),
        ("symbol,score,price\nAAA,abc,10\n", "not a finite number"),
        ("", "empty"),
        ("symbol,score,price\n", "no rows"),
        ("symbol,score,price\n,1,10\n", "empty symbol"),
    ],
)
def test_bad_candidate_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, fragment: str
) -> None:
    result = run_cli(capsys, "allocate", "--candidates", _write(tmp_path, content))
    assert_one_line_error(result, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--candidates", "/definitely/missing.csv"], "no such file"),
        (["--max-weight", "1.5"], "--max-weight must be in (0, 1], got 1.5"),
        (["--max-weight", "0"], "--max-weight must be in (0, 1]"),
        (["--min-weight", "-0.1"], "--min-weight must be in [0, 1]"),
        (["--min-weight", "0.3", "--max-weight", "0.2"], "must not exceed --max-weight"),
        (["--max-positions", "0"], "--max-positions must be >= 1"),
        (["--capital", "0"], "--capital must be > 0 without --holdings"),
        (["--capital", "-5"], "--capital must be >= 0"),
        (["--capital", "nan"], "--capital must be >= 0"),
        (["--capital", "1e308"], "--capital must be at most 1,000,000,000,000"),
        (["--time-limit", "0"], "--time-limit must be > 0"),
        (["--solver", "gurobi"], "--solver must be one of"),
        (["--factor", "magic"], "--factor must be one of"),
        (["--lookback", "1"], "--lookback must be >= 2"),
        (["--lookback", "100000"], "price history has 8313"),
        (["--max-positions", "abc"], "'abc' is not a valid integer"),
        (["--format", "xml"], "'xml' is not one of"),
        (["--factor", "user"], "--factor user needs --scores"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_bad_options(capsys: pytest.CaptureFixture[str], args: list[str], fragment: str) -> None:
    assert_one_line_error(run_cli(capsys, "allocate", *args), fragment)


def test_prices_file_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = run_cli(capsys, "allocate", "--prices", str(tmp_path / "nope.csv"))
    assert_one_line_error(missing, "no such file")


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(capsys, "--version").stdout.startswith("tradefolio ")
    help_text = run_cli(capsys, "allocate", "--help")
    assert help_text.code == 0 and "Examples" in help_text.stdout


def test_a_dollar_option_in_conflict_is_moved_in_dollars(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The reviewer's command (session 10): the cost budget must rise by 17 dollars, said
    in dollars (its unit), not as 0.000170011 of the account; 27.01 then solves."""
    flags = ("--capital", "100000", "--cost-bps", "5", "--fixed-cost", "1", "--min-invested",
             "0.5", "--max-weight", "0.5", "--lot", "10", "--whole-shares")  # fmt: skip
    result = run_cli(capsys, "allocate", *flags, "--cost-budget", "10")
    assert_one_line_error(result, "--cost-budget must rise by 17.00 dollars")
    assert run_cli(capsys, "allocate", *flags, "--cost-budget", "27.01").code == 0


def _trade_rows(table: str) -> dict[str, list[str]]:
    """The rows of the printed `trades` table: symbol -> [side, shares, dollars]."""
    listed = table.split("trades", 1)[1]
    rows = [line.strip("│┃ ").split("│") for line in listed.splitlines() if line.startswith("│")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (("--capital", "3000000"), {"AAA": "1,500,000", "BBB": "405,324"}),
        (("--capital", "1000", "--fractional"), {"AAA": "500.000000", "BBB": "135.108110"}),
    ],
)
def test_trade_quantities_are_exact_as_the_targets(
    flags: tuple[str, ...],
    expected: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Trades printed at 6 significant digits (review, session 10): 1,500,000 shares showed
    1.5e+06, 135.108110 showed 135.108. Whole shares with thousands separators, fractional
    ones at the targets' 6 decimals, equal to the target column (bought from cash)."""
    picks = tmp_path / "c.csv"
    picks.write_text("symbol,score,price\nAAA,0.3,1.0\nBBB,0.2,3.7\n")
    base = ("allocate", "--candidates", str(picks), "--max-weight", "0.5", "--cost-bps", "1")
    result = run_cli(capsys, *base, *flags)
    assert result.code == 0, result.stderr
    trades = _trade_rows(result.stdout)
    assert {symbol: row[1] for symbol, row in trades.items()} == expected
    for symbol, shares in expected.items():
        assert f" {shares} │" in result.stdout.split("trades", 1)[0], symbol  # the target


def test_csv_keeps_its_target_columns_and_says_where_the_trades_are(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--format csv` is the targets (its columns unchanged); a rebalance with trades says
    on stderr that they, the status and the costs are in `--format json` (review, session
    10: a csv user saw no trades and no status). A plain proven run prints no note."""
    picks = tmp_path / "c.csv"
    picks.write_text("symbol,score,price\nAAA,0.3,1.0\nBBB,0.2,3.7\n")
    held = tmp_path / "h.csv"
    held.write_text("symbol,shares\nBBB,100\n")
    base = ("allocate", "--candidates", str(picks), "--max-weight", "0.5", "--format", "csv")
    plain = run_cli(capsys, *base)
    assert plain.code == 0 and plain.stderr == ""
    result = run_cli(capsys, *base, "--holdings", str(held), "--capital", "1000")
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[0] == "symbol,weight,dollars,shares,price"
    assert result.stderr == (
        "note: --format csv lists the targets; the 2 trades, the status (optimal), costs "
        "and turnover are in --format json\n"
    )


def test_the_composable_model_prints_the_notes_and_why_a_held_name_is_sold(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The reviewer's case (session 10): JNJ held with 100 sessions of closes cannot be
    scored and is sold; the composable model's table printed neither the "excluded" nor
    the "dropped" note, so the sale had no explanation. Every model prints them."""
    from tradefolio.data.sample_data import load_sample_prices

    closes = load_sample_prices().iloc[-300:].copy()
    closes.loc[closes.index[:200], "JNJ"] = float("nan")
    prices = tmp_path / "p.csv"
    closes.to_csv(prices, index_label="Date")
    held = tmp_path / "h.csv"
    held.write_text("symbol,shares\nJNJ,50\nCVX,20\n")
    base = ("allocate", "--prices", str(prices))
    score = run_cli(capsys, *base)
    composed = run_cli(capsys, *base, "--holdings", str(held), "--cost-bps", "1")
    assert score.code == 0 and composed.code == 0, composed.stderr
    assert "│ JNJ    │ sell │" in composed.stdout
    notes = composed.stderr.splitlines()
    assert notes[:2] == [
        "excluded JNJ: needs 253 consecutive closes, has 100 in the window",
        "sold (held, not scored): JNJ",
    ]
    assert notes[2].startswith("dropped (score <= 0): ")
    assert score.stderr.splitlines() == [notes[0], notes[2]]  # the score model's own notes
