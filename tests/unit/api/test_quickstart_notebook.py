"""examples/quickstart.ipynb: committed without outputs, executes top to bottom in a fresh
kernel, and finds the numbers the API finds in this process."""

from __future__ import annotations

import ast
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import tradefolio as tf

NOTEBOOK = Path(__file__).resolve().parents[3] / "examples" / "quickstart.ipynb"
#: Seconds any one cell may take before the run fails (the whole notebook takes ~15 s).
CELL_TIMEOUT = 600

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ortools")
pytest.importorskip("plotly")


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def _key_numbers(notebook: Any) -> dict[str, Any]:
    """The value the last code cell (`key_numbers`) displayed."""
    last = [cell for cell in notebook.cells if cell.cell_type == "code"][-1]
    assert last.source.startswith("key_numbers = {")
    (result,) = [o for o in last.outputs if o.output_type == "execute_result"]
    value: dict[str, Any] = ast.literal_eval(result.data["text/plain"])
    return value


def test_the_notebook_executes_and_its_key_numbers_hold(tmp_path: Path) -> None:
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    copy = tmp_path / NOTEBOOK.name
    shutil.copy(NOTEBOOK, copy)
    notebook = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    numbers = _key_numbers(notebook)

    # the allocation: a mean-variance portfolio within every cap it was given
    weights = numbers["allocation"]
    sectors = tf.sample_sectors()
    assert numbers["largest_sector_weight"] <= 0.35 + 1e-9
    assert all(0.02 - 1e-9 <= w <= 0.25 + 1e-9 for w in weights.values())
    assert len(weights) <= 10 and sum(weights.values()) <= 1 + 1e-9
    by_sector: dict[str, float] = {}
    for symbol, weight in weights.items():
        by_sector[sectors[symbol]] = by_sector.get(sectors[symbol], 0.0) + weight
    assert max(by_sector.values()) <= 0.35 + 1e-4
    # the same request in this process gives the same portfolio (to the 4 digits shown)
    here = tf.allocate(objective="mean-variance", risk_aversion=5, sector_cap=0.35)
    assert here.weights.round(4).to_dict() == weights
    assert weights == {"MRK": 0.25, "XOM": 0.25, "CVX": 0.1, "LLY": 0.1}

    # the user's strategy with a 5% protective stop on every entry: pinned whole-run
    # figures (regression; `tradefolio backtest --strategy breakout.py:Breakout --sizer risk
    # --risk-per-trade 0.01 --stop-loss 0.05` gives the same 24,051,138.53 from 1,399 fills),
    # exact money. Without the stop (no_stop=True) the run is 29,628,196.843 from 1,138.
    assert Decimal(numbers["breakout_final_equity"]) == Decimal("24051138.532")
    assert numbers["breakout_fills"] == 1399
    assert numbers["breakout_sharpe"] == pytest.approx(0.686862, abs=1e-6)

    # the sweep: the best fast window of the four tried, by Sharpe
    assert numbers["best_fast"] == 100

    # the tearsheet was written next to the notebook and shown in an IFrame
    assert (tmp_path / "breakout_tearsheet.html").is_file()
    iframe_cell = next(c for c in notebook.cells if "IFrame(" in c.source)
    assert any("breakout_tearsheet.html" in str(o.get("data", {})) for o in iframe_cell.outputs)
