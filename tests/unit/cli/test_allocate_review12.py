"""`tradefolio allocate`: what the user receives for the defects of review 12."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import run_cli

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
    assert "millions" not in line
    assert "Traceback" not in result.stderr
