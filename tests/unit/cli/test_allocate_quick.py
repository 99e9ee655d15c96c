"""`allocate --candidates` without typer (`allocate_quick.py`) against the typer command.

Each case runs twice in-process through `app.main`: once as a user's command line runs
(the quick path takes it) and once with the quick path switched off (typer, the
allocator's composable model, the same printer). Exit code, stdout and stderr must be
byte-identical, for tables, JSON and CSV, edge-case files and bad input alike.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import CliResult, run_cli
from tradefolio.cli import app
from tradefolio.cli.allocate_quick import parse_quick

pytest.importorskip("ortools")

FILES = {
    "basic": "symbol,score,price\nAAA,3,10\nBBB,2,20\nCCC,1,7\nDDD,0.5,5\n",
    "dropped": "symbol,score,price\nAAA,3,10\nBBB,-2,20\nCCC,0,7\nDDD,1e-7,5\n",
    "all-dropped": "symbol,score,price\nAAA,-3,10\nBBB,0,20\n",
    "ties-and-tiny": "symbol,score,price\nAAA,2,10\nBBB,2,10\nCCC,1e-7,3\nDDD,2,0.5\nEEE,0.3,1\n",
    "one-name": "symbol,score,price\nONLY,1.5,123.45\n",
    "bom-blank-lines-and-case": "\ufeffSymbol , SCORE,Price\n\nAAA,1,2\n\nBBB,3,4\n",
    "many": "symbol,score,price\n"
    + "".join(f"S{i:02d},{(i * 37) % 11 - 3},{5 + i}\n" for i in range(45)),
    "markup-symbol": "symbol,score,price\n[b]X,3,10\nY:Z:,2,20\n",
    "unicode-symbol": "symbol,score,price\nÄÖÜ,3,10\n株式,2,20\n",
    "wide": "symbol,score,price\nA_VERY_LONG_SYMBOL_THAT_WIDENS_THE_TABLE_PAST_EIGHTY,1,0.01\n",
    "bad-price": "symbol,score,price\nAAA,1,10\nBBB,2,0\n",
    "bad-score": "symbol,score,price\nAAA,abc,10\n",
    "missing-column": "symbol,score\nAAA,1\n",
    "empty": "",
    "header-only": "symbol,score,price\n",
}

SUCCESS = [
    ("basic", []),
    ("basic", ["--format", "json"]),
    ("basic", ["--format", "csv"]),
    ("basic", ["--capital=250000", "--max-weight", "0.4", "--min-weight", "0.1"]),
    ("dropped", []),
    ("dropped", ["--format", "json", "--fractional"]),
    ("dropped", ["--fractional", "--max-positions", "2"]),
    ("all-dropped", []),
    ("all-dropped", ["--format", "json"]),
    ("ties-and-tiny", ["--max-weight", "0.3", "--min-weight", "0.3"]),
    ("ties-and-tiny", ["--solver", "exact", "--format", "json"]),
    ("ties-and-tiny", ["--solver", "SCIP", "--format", "json"]),
    ("ties-and-tiny", ["--solver", "highs"]),
    ("one-name", ["--max-weight", "1", "--fractional"]),
    ("bom-blank-lines-and-case", ["--time-limit", "5"]),
    ("many", []),
    ("many", ["--format", "json", "--min-weight", "0"]),
    ("markup-symbol", []),
    ("unicode-symbol", []),
    ("wide", []),
]

ERRORS = [
    ("bad-price", []),
    ("bad-score", []),
    ("missing-column", []),
    ("empty", []),
    ("header-only", []),
    ("basic", ["--max-weight", "2"]),
    ("basic", ["--min-weight", "0.5", "--max-weight", "0.4"]),
    ("basic", ["--capital", "1e13"]),
    ("basic", ["--capital", "nan"]),
    ("basic", ["--solver", "bogus"]),
    ("basic", ["--time-limit", "0"]),
    ("basic", ["--max-positions", "2.5"]),
    ("basic", ["--max-positions", "0"]),
    ("basic", ["--format", "JSON"]),
    ("basic", ["--fractional=1"]),
    ("basic", ["--capital", "-5"]),
    ("basic", ["--prices", "x.csv"]),
    ("basic", ["--capital"]),
    ("basic", ["extra"]),
]


def _both(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> tuple[CliResult, CliResult]:
    """`tradefolio ARGS` through the quick path, then through typer alone."""
    quick = run_cli(capsys, *args)
    with monkeypatch.context() as patched:
        patched.setattr(app, "_run_quick", lambda _: False)
        full = run_cli(capsys, *args)
    return quick, full


def _args(tmp_path: Path, name: str, extra: list[str]) -> list[str]:
    path = tmp_path / f"{name}.csv"
    path.write_text(FILES[name], encoding="utf-8")
    return ["allocate", "--candidates", str(path), *extra]


@pytest.mark.parametrize(
    ("name", "extra", "code"),
    [(name, extra, 0) for name, extra in SUCCESS] + [(name, extra, 2) for name, extra in ERRORS],
)
def test_same_output_and_errors_as_the_typer_command(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    extra: list[str],
    code: int,
) -> None:
    args = _args(tmp_path, name, extra)
    quick, full = _both(capsys, monkeypatch, args)
    assert quick == full
    assert quick.code == code, quick
    if code == 0:
        assert parse_quick(args[1:]) is not None  # the quick path ran this command
        if "json" in extra:
            assert json.loads(quick.stdout)["status"] == "optimal"
    else:
        assert quick.stderr.startswith("error: ") and len(quick.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "environment",
    [{"COLUMNS": "30"}, {"COLUMNS": "200"}, {"FORCE_COLOR": "1"}, {"TTY_COMPATIBLE": "0"}],
)
def test_same_table_whatever_the_console(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    quick, full = _both(capsys, monkeypatch, _args(tmp_path, "dropped", []))
    assert quick.code == 0
    assert quick == full


def test_a_missing_or_unreadable_file_is_typers_business(tmp_path: Path) -> None:
    assert parse_quick(["--candidates", str(tmp_path / "missing.csv")]) is None
    assert parse_quick(["--candidates", str(tmp_path)]) is None
    assert parse_quick(["--help"]) is None
    assert parse_quick([]) is None


def test_the_quick_path_imports_neither_typer_nor_rich_nor_numpy(tmp_path: Path) -> None:
    args = _args(tmp_path, "basic", [])
    script = (
        "import json, sys\n"
        "from tradefolio.cli.app import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    *table, modules = done.stdout.splitlines()
    loaded = set(json.loads(modules))
    assert "ortools" in loaded  # a real solve
    heavy = loaded & {"typer", "click", "rich", "numpy", "pandas", "pydantic"}
    assert not heavy, heavy
    assert table[0] == f"allocation of {args[2]}"
