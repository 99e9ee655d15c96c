"""`tradefolio allocate`: what the user receives for the defects of review 12."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import assert_one_line_error, run_cli

pytest.importorskip("ortools")


def _write(tmp_path: Path, text: str, name: str = "candidates.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_whole_share_floor_at_the_cash_says_what_failed_and_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 3 shares of $33.3333334 cost $100.0000002: the floor and the cash row meet only to the
    # solvers' tolerance, and no whole-share point spends the $100 exactly.
    path = _write(tmp_path, "symbol,score,price\nA,1,33.3333334\nB,0.5,33.3333334\n")
    args = ["--candidates", path, "--capital", "100", "--max-weight", "1"]
    result = run_cli(capsys, "allocate", *args, "--min-invested", "1", "--whole-shares")
    assert result.code == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: --min-invested 1 with whole shares: "), line
    assert "exactly 100% of the account" in line
    assert "nothing left over" in line
    for fix in ("lower --min-invested", "--fractional", "--time-limit"):
        assert fix in line
    # a floor one share of the cheapest name below the cash: 2 shares, $66.67 of $100
    assert "up to a share of the cheapest name may stay in cash (e.g. 0.6666)" in line
    assert "millions" not in line
    assert "Traceback" not in result.stderr


def test_a_risk_objective_names_the_invested_floor_it_chose(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--objective", "min-variance", "--whole-shares", "--time-limit", "5"]
    result = run_cli(capsys, "allocate", *args, "--format", "json")
    assert result.code == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if "invests at least" in line]
    assert len(notes) == 1, result.stderr
    assert notes[0].startswith("note: --objective min-variance invests at least 99.9")
    assert "--min-invested sets another" in notes[0]
    given = run_cli(capsys, "allocate", *args, "--min-invested", "0.9", "--format", "json")
    assert given.code == 0, given.stderr
    assert "invests at least" not in given.stderr  # the user's own floor: nothing to report


def test_the_min_invested_help_states_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    result = run_cli(capsys, "allocate", "--help")
    text = " ".join(result.stdout.replace("│", " ").split())
    assert "Minimum fraction of the account invested. Default: no floor, except" in text
    assert "min-variance, cvar and mad invest fully" in text


@pytest.mark.parametrize(
    ("cell", "fragment"),
    [
        ("abc", "row 2 (XOM): shares 'abc' is not a number"),
        ("", "row 2 (XOM): shares '' is not a number"),
        ("nan", "row 2 (XOM): shares 'nan' is not a finite number"),
        ("inf", "row 2 (XOM): shares 'inf' is not a finite number"),
        ("-5", "row 2 (XOM): shares must be >= 0 (long-only), got -5"),
    ],
)
def test_a_bad_share_count_in_holdings_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str, fragment: str
) -> None:
    path = _write(tmp_path, f"symbol,shares\nXOM,{cell}\n", "held.csv")
    result = run_cli(capsys, "allocate", "--holdings", path, "--capital", "1000")
    assert_one_line_error(result, f"{path}: {fragment}")


def test_unknown_held_symbols_and_bad_prices_in_holdings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = _write(tmp_path, "symbol,shares\nZZZZ,10\n", "unknown.csv")
    result = run_cli(capsys, "allocate", "--holdings", unknown, "--capital", "1000")
    assert_one_line_error(result, "held symbol ZZZZ is not a candidate and has no price")
    priced = _write(tmp_path, "symbol,shares,price\nXOM,3,abc\n", "priced.csv")
    result = run_cli(capsys, "allocate", "--holdings", priced, "--capital", "1000")
    assert_one_line_error(result, f"{priced}: row 2 (XOM): price 'abc' is not a finite number > 0")
    blank = _write(tmp_path, "symbol,shares,price\nXOM,3,\nZZZZ,2,5\n", "blank.csv")
    result = run_cli(capsys, "allocate", "--holdings", blank, "--capital", "1000")
    assert result.code == 0, result.stderr  # a blank price: priced at its last close


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--factor", "inverse-volatility"), "--factor inverse-volatility is not used: "),
        (("--factor", "user"), "--factor user is not used: --candidates already holds each"),
        (("--lookback", "20"), "--lookback 20 is not used: it is the scoring factor's window"),
        (
            ("--objective", "min-variance", "--fractional", "--factor", "trailing-return"),
            "--factor trailing-return is not used: ",
        ),
    ],
    ids=lambda v: str(v),
)
def test_candidates_refuse_a_scoring_factor_they_would_ignore(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: tuple[str, ...], fragment: str
) -> None:
    path = _write(tmp_path, "symbol,score,price\nAAA,3,10\nBBB,2,20\n")
    result = run_cli(capsys, "allocate", "--candidates", path, "--capital", "1000", *extra)
    assert_one_line_error(result, fragment)
    if "--factor" in extra:
        assert "drop --factor, or drop --candidates to score --prices with it" in result.stderr
    # the default, given explicitly, changes nothing and passes
    same = run_cli(capsys, "allocate", "--candidates", path, "--capital", "1000")
    explicit = ("--factor", "momentum")
    assert run_cli(capsys, "allocate", "--candidates", path, "--capital", "1000", *explicit) == same
