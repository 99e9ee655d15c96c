"""The Python the README and docs/python.md show runs as printed, on public names only."""

from __future__ import annotations

import ast
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]
#: Modules a newcomer's code may import: tradefolio itself (never a submodule) and the
#: standard scientific / standard-library ones.
ALLOWED_IMPORTS = {"tradefolio", "pandas", "numpy", "tempfile", "pathlib"}

pytest.importorskip("ortools")
pytest.importorskip("plotly")


def python_blocks(markdown: str) -> list[str]:
    """The ```python fenced blocks of a markdown text, in order."""
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def readme_python_section() -> str:
    """The code of the README's `## Python` section (its one python block)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    (code,) = python_blocks(section)
    return code


def imported_modules(code: str) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def run_code(code: str, where: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Execute `code` as a script in the folder `where`; return its globals."""
    monkeypatch.chdir(where)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(code, "<documented code>", "exec"), namespace)
    return namespace


def test_the_readme_python_section_gives_an_allocation_a_backtest_and_a_tearsheet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = readme_python_section()
    assert imported_modules(code) <= ALLOWED_IMPORTS
    done = run_code(code, tmp_path, monkeypatch)
    plan, run, sweep = done["plan"], done["run"], done["sweep"]
    assert plan.status == "optimal" and plan.model == "mean-variance"
    sectors = done["tf"].sample_sectors()
    by_sector = plan.weights.groupby(sectors.reindex(plan.weights.index)).sum()
    assert by_sector.max() <= 0.35 + 1e-9
    assert run.name == "breakout" and len(run.fills) > 100
    assert run.fills["side"].iloc[0] == "buy"
    page = (tmp_path / "breakout.html").read_text(encoding="utf-8")
    assert "breakout" in page and "plotly" in page.lower()
    assert list(sweep.table["fast"]) == [10, 20, 50] and sweep.failed == 0
    printed = capsys.readouterr().out
    assert "sharpe" in printed and "weight" in printed


def test_the_python_quick_start_page_runs_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = python_blocks((ROOT / "docs" / "python.md").read_text(encoding="utf-8"))
    code = "\n".join(blocks)
    assert imported_modules(code) <= ALLOWED_IMPORTS
    done = run_code(code, tmp_path, monkeypatch)
    assert done["prices"].shape == (8313, 20)
    assert done["panel"].open.shape == (500, 3)
    # the numbers the page states in its comments
    run = done["run"]
    assert run.final_equity == Decimal("40529060.246") and len(run.fills) == 2591
    assert done["message"] == "--max-weight must be in (0, 1], got 1.5"
    assert not done["plan"].weights.empty and isinstance(done["plan"].weights, pd.Series)
    assert not done["mine"].fills.empty and not done["flat"].fills.empty
    assert set(done["flat"].fills.loc[lambda f: f["side"] == "buy", "quantity"]) != {0}
    assert (done["folder"] / "tearsheet.html").is_file() and done["page"].is_file()
    assert len(done["walk"].folds) == 5
    assert set(done["sweep"].best) == {"fast", "slow"}
