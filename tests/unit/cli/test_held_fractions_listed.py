"""A held fraction of a share that is not traded is listed as it is held, in every format.

`allocate --holdings` with AAPL 10.5 and `--max-turnover 0 --whole-shares` trades nothing;
it used to list AAPL as 10 shares (the int of 10.5) next to the dollars of 10.5.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from support.cli import run_cli


@pytest.fixture
def holdings(tmp_path: Path) -> Path:
    path = tmp_path / "h_frac.csv"
    path.write_text("symbol,shares\nAAPL,10.5\nMSFT,20\n")
    return path


def _allocate(capsys: pytest.CaptureFixture[str], holdings: Path, output: str) -> str:
    result = run_cli(
        capsys,
        "allocate",
        "--objective",
        "mean-variance",
        "--holdings",
        str(holdings),
        "--capital",
        "10000",
        "--max-turnover",
        "0",
        "--max-weight",
        "1",
        "--whole-shares",
        "--format",
        output,
    )
    assert result.code == 0, result.stderr
    return result.stdout


def test_json_lists_the_held_fraction(capsys: pytest.CaptureFixture[str], holdings: Path) -> None:
    payload = json.loads(_allocate(capsys, holdings, "json"))
    assert payload["trades"] == []
    listed = {a["symbol"]: a for a in payload["allocations"]}
    assert listed["AAPL"]["shares"] == 10.5
    assert listed["AAPL"]["dollars"] == pytest.approx(10.5 * listed["AAPL"]["price"])
    assert listed["MSFT"]["shares"] == 20
    assert isinstance(listed["MSFT"]["shares"], int)


def test_csv_and_table_list_the_held_fraction(
    capsys: pytest.CaptureFixture[str], holdings: Path
) -> None:
    rows = {r["symbol"]: r for r in csv.DictReader(io.StringIO(_allocate(capsys, holdings, "csv")))}
    assert rows["AAPL"]["shares"] == "10.5"
    assert rows["MSFT"]["shares"] == "20"
    table = _allocate(capsys, holdings, "table")
    (aapl,) = [line for line in table.splitlines() if "AAPL" in line]
    assert "10.5" in aapl
