"""`tf.sweep` and `tf.walk_forward` against the CLI's commands on the same prices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tradefolio as tf
from support.cli import run_cli
from tradefolio.cli.app import BAD_INPUT_ERRORS

GRID = {"fast": [5, 10, 20], "slow": "10..40:30"}
FIXED = {"sizer": "weight", "weight": 0.3}


def _closes(tmp_path: Path) -> tuple[pd.DataFrame, str]:
    rng = np.random.default_rng(5)
    values = np.round(50 * np.exp(np.cumsum(rng.normal(0, 0.02, (300, 3)), axis=0)), 2)
    frame = pd.DataFrame(
        values,
        index=pd.bdate_range("2015-01-01", periods=300, name="date"),
        columns=[f"S{j}" for j in range(3)],
    )
    path = tmp_path / "prices.csv"
    frame.to_csv(path)
    return frame, str(path)


def _volatile(table: pd.DataFrame) -> pd.DataFrame:
    """The table without what depends on the clock."""
    return table.drop(columns=["seconds"]).reset_index(drop=True)


def test_sweep_gives_the_cli_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    closes, path = _closes(tmp_path)
    result = run_cli(
        capsys, "sweep", "--prices", path, "--grid", "fast=5,10,20", "--grid", "slow=10..40:30",
        "--set", "sizer=weight", "--set", "weight=0.3", "--workers", "1",
        "--out", str(tmp_path / "out"), "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    cli_table = pd.read_parquet(payload["results"])
    swept = tf.sweep(GRID, closes, fixed=FIXED, workers=1)
    pd.testing.assert_frame_equal(_volatile(swept.table), _volatile(cli_table))
    assert swept.failed == payload["failed"] == 2
    assert swept.parameters == ("fast", "slow")
    board = swept.leaderboard()
    assert list(board["run"]) == [row["run"] for row in payload["leaderboard"]]
    best = payload["leaderboard"][0]
    assert swept.best == {"fast": best["fast"], "slow": best["slow"]}
    heat = swept.heatmap("fast", "slow")
    assert heat.loc[best["fast"], best["slow"]] == best["sharpe"]
    assert "top" in swept._repr_html_()


def test_sweep_into_a_folder_resumes(tmp_path: Path) -> None:
    closes, _ = _closes(tmp_path)
    first = tf.sweep(GRID, closes, fixed=FIXED, workers=1, out=tmp_path / "kept")
    again = tf.sweep(GRID, closes, fixed=FIXED, workers=1, out=tmp_path / "kept")
    assert (first.raw.executed, again.raw.executed, again.raw.reused) == (6, 0, 6)
    pd.testing.assert_frame_equal(_volatile(first.table), _volatile(again.table))


def test_walk_forward_gives_the_cli_folds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    closes, path = _closes(tmp_path)
    result = run_cli(
        capsys, "walk-forward", "--prices", path, "--grid", "fast=5,10", "--grid", "slow=20,40",
        "--train", "120", "--test", "60", "--workers", "1", "--out", str(tmp_path / "wf"),
        "--format", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    payload = json.loads(result.stdout)
    walked = tf.walk_forward(
        {"fast": [5, 10], "slow": [20, 40]}, closes, train=120, test=60, workers=1
    )
    folds = walked.folds
    assert len(folds) == len(payload["folds"])
    for ours, theirs in zip(folds.to_dict(orient="records"), payload["folds"], strict=True):
        assert (ours["fast"], ours["slow"]) == (theirs["fast"], theirs["slow"])
        assert ours["test_return"] == theirs["test_return"]
    assert walked.oos_metrics.to_dict() == payload["out_of_sample"]
    assert walked.in_sample_best == payload["in_sample_best"]["parameters"]
    assert walked.oos_equity.iloc[0] == tf.BacktestConfig().cash
    assert "walk-forward" in walked._repr_html_()


@pytest.mark.parametrize(
    ("call", "flags"),
    [
        (lambda: tf.sweep({"fastest": [1, 2]}), ["sweep", "--grid", "fastest=1,2"]),
        (lambda: tf.sweep({}), ["sweep"]),
        (lambda: tf.sweep({"fast": [5]}, metric="luck"), ["sweep", "--grid", "fast=5",
                                                         "--metric", "luck"]),
        (lambda: tf.walk_forward({"fast": [5]}, train=1, test=5),
         ["walk-forward", "--grid", "fast=5", "--train", "1", "--test", "5"]),
        # issue 17's checks, in the API since the CLI is its client
        (lambda: tf.sweep({"fast": [10, 20]}, fixed={"fast": 5}),
         ["sweep", "--grid", "fast=10,20", "--set", "fast=5"]),
        (lambda: tf.sweep(None, fixed={"fast": 5}), ["sweep", "--set", "fast=5"]),
        (lambda: tf.sweep({"slow": [100_000, 200_000]}), ["sweep", "--grid", "slow=100000,200000"]),
        (lambda: tf.walk_forward({"fast": [10]}, train=100_000),
         ["walk-forward", "--grid", "fast=10", "--train", "100000"]),
        (lambda: tf.walk_forward({"slow": [300, 400]}, train=200, test=100),
         ["walk-forward", "--grid", "slow=300,400", "--train", "200", "--test", "100"]),
    ],
)  # fmt: skip
def test_bad_input_raises_what_the_cli_reports_as_exit_2(
    call: object, flags: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cli = run_cli(capsys, *flags, "--out", str(tmp_path / "x"), "--workers", "1")
    assert cli.code == 2, cli.stderr
    with pytest.raises(BAD_INPUT_ERRORS) as raised:
        call()  # type: ignore[operator]
    assert cli.stderr.strip() == f"error: {raised.value}"


@pytest.mark.parametrize("command", ["sweep", "walk-forward"])
def test_a_close_beyond_the_ledger_is_refused_as_by_the_cli(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    closes, _ = _closes(tmp_path)
    closes.iloc[40, 1] = 2e9
    path = tmp_path / "absurd.csv"
    closes.to_csv(path)
    cli = run_cli(
        capsys, command, "--prices", str(path), "--grid", "fast=5,10",
        *(["--train", "100", "--test", "50"] if command == "walk-forward" else []),
        "--out", str(tmp_path / "x"), "--workers", "1",
    )  # fmt: skip
    assert cli.code == 2, cli.stderr
    run = tf.sweep if command == "sweep" else tf.walk_forward
    extra: dict[str, int] = {"train": 100, "test": 50} if command == "walk-forward" else {}
    with pytest.raises(tf.InvalidParameter, match=r"S1 closes at 2e\+09") as raised:
        run({"fast": [5, 10]}, str(path), workers=1, **extra)  # type: ignore[operator]
    assert cli.stderr.strip() == f"error: {raised.value}"
    assert not (tmp_path / "x").exists()  # refused before any run


class _Counting:
    """A `SweepProgress` that records what it is told."""

    def __init__(self) -> None:
        self.total: tuple[int, int] | None = None
        self.finished = 0

    def start(self, total: int, already_done: int) -> None:
        self.total = (total, already_done)

    def advance(self, outcome: object) -> None:
        self.finished += 1


def test_progress_hears_of_every_run(tmp_path: Path) -> None:
    closes, _ = _closes(tmp_path)
    progress = _Counting()
    tf.sweep(GRID, closes, fixed=FIXED, workers=1, progress=progress)
    assert progress.total == (6, 0) and progress.finished == 6
