"""Walk-forward: folds, choice on train only, stitched out-of-sample equity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.runner import run_config
from tradefolio.errors import InvalidParameter
from tradefolio.research.executors import SerialExecutor
from tradefolio.research.results import ResultsStore
from tradefolio.research.space import SweepSpec, parse_grid_option
from tradefolio.research.tasks import MarketData
from tradefolio.research.walkforward import Fold, make_folds, run_walk_forward
from unit.research.research_helpers import small_data

SPEC = SweepSpec(
    base={"sizer": "weight", "weight": 0.2},
    axes=(parse_grid_option("fast=5,10"), parse_grid_option("slow=20,40")),
)


def test_rolling_and_anchored_folds() -> None:
    assert make_folds(10, train=4, test=3) == [Fold(0, 0, 4, 4, 7), Fold(1, 3, 7, 7, 10)]
    assert make_folds(10, train=4, test=3, scheme="anchored") == [
        Fold(0, 0, 4, 4, 7),
        Fold(1, 0, 7, 7, 10),
    ]
    # A last window of one session is dropped; one of two is kept.
    assert make_folds(11, train=4, test=3)[-1].test_end == 10
    assert make_folds(12, train=4, test=3)[-1] == Fold(2, 6, 10, 10, 12)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"train": 1, "test": 3}, "--train"),
        ({"train": 4, "test": 1}, "--test"),
        ({"train": 8, "test": 3}, "exceed"),
        ({"train": 4, "test": 3, "scheme": "expanding"}, "--scheme"),
    ],
)
def test_bad_fold_options(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidParameter, match=fragment):
        make_folds(10, **kwargs)  # type: ignore[arg-type]


def test_walk_forward_chooses_on_train_and_stitches_test_returns() -> None:
    data = small_data(sessions=500, symbols=4)
    result = run_walk_forward(SPEC, data, SerialExecutor(), train=200, test=150)
    assert [f.fold.test_start for f in result.folds] == [200, 350]
    for fold_result in result.folds:
        fold = fold_result.fold
        # The chosen point is the train-window best (recomputed independently).
        train = data.closes.iloc[fold.train_start : fold.train_end]
        scores = {}
        for fast in (5, 10):
            for slow in (20, 40):
                config = BacktestConfig.create(sizer="weight", weight=0.2, fast=fast, slow=slow)
                scores[(fast, slow)] = run_config(config, train).metrics().sharpe
        best = max(scores, key=lambda k: scores[k])
        assert fold_result.chosen == {"fast": best[0], "slow": best[1]}
        assert fold_result.train_value == scores[best]
    equity = result.oos_equity
    assert equity.index[0] == data.closes.index[199]
    assert equity.index[-1] == data.closes.index[-1]
    assert equity.iloc[0] == 1_000_000.0
    assert np.all(np.isfinite(equity.to_numpy()))
    frame = result.folds_frame()
    assert list(frame["fold"]) == [0, 1]
    total = (1 + frame["test_return"]).prod() - 1
    assert result.oos_metrics["total_return"] == pytest.approx(total, rel=1e-9)
    assert result.deflated is not None and 0 <= result.deflated.dsr <= 1
    assert result.deflated.n_trials == 4


def test_test_window_prices_never_change_the_choice() -> None:
    data = small_data(sessions=500, symbols=4)
    base = run_walk_forward(SPEC, data, SerialExecutor(), train=200, test=150)
    first_test = base.folds[0].fold
    closes = data.closes.to_numpy().copy()
    rng = np.random.default_rng(11)
    # Scramble every price from the first test window on: fold 0's choice must not move.
    closes[first_test.test_start :] *= np.exp(
        rng.normal(0, 0.05, closes[first_test.test_start :].shape)
    )
    perturbed = MarketData.of(
        pd.DataFrame(closes, index=data.closes.index, columns=data.closes.columns)
    )
    moved = run_walk_forward(SPEC, perturbed, SerialExecutor(), train=200, test=150)
    assert moved.folds[0].chosen == base.folds[0].chosen
    assert moved.folds[0].train_value == base.folds[0].train_value
    assert moved.folds[0].test_metrics != base.folds[0].test_metrics
    # Scramble only the last test window: no choice moves at all.
    last = base.folds[-1].fold
    closes = data.closes.to_numpy().copy()
    closes[last.test_start :] *= np.exp(rng.normal(0, 0.05, closes[last.test_start :].shape))
    perturbed = MarketData.of(
        pd.DataFrame(closes, index=data.closes.index, columns=data.closes.columns)
    )
    moved = run_walk_forward(SPEC, perturbed, SerialExecutor(), train=200, test=150)
    assert [f.chosen for f in moved.folds] == [f.chosen for f in base.folds]
    assert [f.train_value for f in moved.folds] == [f.train_value for f in base.folds]


def test_walk_forward_resumes_its_train_runs(tmp_path: Path) -> None:
    data = small_data(sessions=500, symbols=4)
    first = run_walk_forward(
        SPEC, data, SerialExecutor(), train=200, test=150, store=ResultsStore(tmp_path / "wf")
    )
    again = run_walk_forward(
        SPEC, data, SerialExecutor(), train=200, test=150, store=ResultsStore(tmp_path / "wf")
    )
    assert again.reused == 2 * 4 + 4 and first.reused == 0
    assert again.oos_equity.equals(first.oos_equity)
