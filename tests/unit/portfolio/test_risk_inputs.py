"""The user's risk model and bounds files: what they mean, and one clear error per problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from support.cli import assert_one_line_error, run_cli
from tradefolio.errors import DataError, IgnoredInput, InvalidParameter
from tradefolio.portfolio.constraints import NameBounds
from tradefolio.portfolio.risk_inputs import (
    aligned_expected_returns,
    aligned_risk,
    checked_bounds,
    read_bounds,
    read_covariance,
    read_expected_returns,
    read_factor_model,
)

SYMBOLS = ["AAA", "BBB", "CCC"]


def write_matrix(
    path: Path, matrix: np.ndarray, labels: list[str], columns: list[str] | None = None
) -> Path:
    pd.DataFrame(matrix, index=labels, columns=columns or labels).to_csv(path)
    return path


def covariance_3() -> np.ndarray:
    loadings = np.array([[0.1, 0.2, -0.1], [0.05, 0.0, 0.3]])
    return loadings.T @ loadings + np.diag([0.01, 0.02, 0.03])


def test_covariance_file_round_trips_to_the_same_matrix(tmp_path: Path) -> None:
    sigma = covariance_3()
    risk = read_covariance(write_matrix(tmp_path / "q.csv", sigma, SYMBOLS))
    assert risk.symbols == tuple(SYMBOLS)
    np.testing.assert_allclose(risk.covariance(), sigma, rtol=1e-12, atol=1e-15)
    # Reordered candidates get the matching rows and columns.
    order = ["CCC", "AAA"]
    with pytest.warns(IgnoredInput, match=r"1 label\(s\) of the risk model not among .*\(BBB\)"):
        subset = aligned_risk(risk, order)
    np.testing.assert_allclose(subset.covariance(), sigma[np.ix_([2, 0], [2, 0])], atol=1e-14)


def test_columns_in_another_order_than_the_rows_are_aligned(tmp_path: Path) -> None:
    sigma = covariance_3()
    frame = pd.DataFrame(sigma, index=SYMBOLS, columns=SYMBOLS)[["CCC", "AAA", "BBB"]]
    frame.to_csv(tmp_path / "q.csv")
    risk = read_covariance(tmp_path / "q.csv")
    np.testing.assert_allclose(risk.covariance(), sigma, atol=1e-14)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m + np.triu(np.full((3, 3), 1e-3), 1), "not symmetric"),
        (lambda m: m + (np.ones((3, 3)) - np.eye(3)) * 0.2, "not positive semidefinite"),
        (lambda m: np.where(np.eye(3) > 0, -0.01, m), "negative variance"),
    ],
)
def test_bad_covariances_are_refused_with_the_reason(
    tmp_path: Path, edit: object, message: str
) -> None:
    matrix = edit(covariance_3())  # type: ignore[operator]
    with pytest.raises(DataError, match=message):
        read_covariance(write_matrix(tmp_path / "q.csv", matrix, SYMBOLS))


def test_round_off_below_the_tolerance_is_accepted(tmp_path: Path) -> None:
    sigma = covariance_3()
    eigenvalues, vectors = np.linalg.eigh(sigma)
    eigenvalues[0] = -1e-12 * eigenvalues[-1]  # round-off of a rank-deficient estimate
    nudged = vectors @ np.diag(eigenvalues) @ vectors.T
    nudged = 0.5 * (nudged + nudged.T)
    nudged[0, 1] += 1e-14  # and an asymmetry of round-off
    risk = read_covariance(write_matrix(tmp_path / "q.csv", nudged, SYMBOLS))
    np.testing.assert_allclose(risk.covariance(), nudged, atol=1e-12)


def test_labels_must_match(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="row and column labels differ"):
        read_covariance(
            write_matrix(tmp_path / "q.csv", covariance_3(), SYMBOLS, ["AAA", "BBB", "XXX"])
        )
    with pytest.raises(DataError, match="square"):
        pd.DataFrame(np.ones((3, 2)), index=SYMBOLS, columns=["AAA", "BBB"]).to_csv(
            tmp_path / "r.csv"
        )
        read_covariance(tmp_path / "r.csv")
    risk = read_covariance(write_matrix(tmp_path / "q.csv", covariance_3(), SYMBOLS))
    with pytest.raises(DataError, match="no entry for candidate DDD"):
        aligned_risk(risk, ["AAA", "DDD"], tmp_path / "q.csv")


def test_a_missing_or_non_numeric_cell_names_where(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("symbol,AAA,BBB\nAAA,1,0.1\nBBB,0.1,\n")
    with pytest.raises(DataError, match="missing or infinite value at row BBB, column BBB"):
        read_covariance(path)
    path.write_text("symbol,AAA,BBB\nAAA,1,0.1\nBBB,0.1,x\n")
    with pytest.raises(DataError, match="not a number"):
        read_covariance(path)
    with pytest.raises(DataError, match="no such covariance matrix file"):
        read_covariance(tmp_path / "absent.csv")


def test_factor_model_is_b_f_bt_plus_specific(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    exposures = rng.normal(size=(3, 2))
    root = rng.normal(size=(2, 2))
    factor_covariance = root @ root.T
    specific = np.array([0.01, 0.02, 0.03])
    write_matrix(tmp_path / "b.csv", exposures, SYMBOLS, ["value", "size"])
    write_matrix(tmp_path / "f.csv", factor_covariance, ["value", "size"])
    pd.DataFrame({"symbol": SYMBOLS, "variance": specific}).to_csv(tmp_path / "s.csv", index=False)
    risk = read_factor_model(tmp_path / "b.csv", tmp_path / "f.csv", tmp_path / "s.csv")
    expected = exposures @ factor_covariance @ exposures.T + np.diag(specific)
    np.testing.assert_allclose(risk.covariance(), expected, rtol=1e-12, atol=1e-14)
    # Factor names that differ between the files are refused.
    write_matrix(tmp_path / "g.csv", factor_covariance, ["value", "momentum"])
    with pytest.raises(DataError, match="factors differ"):
        read_factor_model(tmp_path / "b.csv", tmp_path / "g.csv", tmp_path / "s.csv")
    pd.DataFrame({"symbol": SYMBOLS[:2], "variance": specific[:2]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    with pytest.raises(DataError, match="no specific variance for CCC"):
        read_factor_model(tmp_path / "b.csv", tmp_path / "f.csv", tmp_path / "t.csv")


def test_expected_returns_and_bounds(tmp_path: Path) -> None:
    (tmp_path / "mu.csv").write_text("symbol,mu\nAAA,0.1\nBBB,-0.02\nCCC,0.05\n")
    mu = read_expected_returns(tmp_path / "mu.csv")
    with pytest.warns(IgnoredInput, match=r"1 label\(s\) of the expected returns .*\(BBB\)"):
        aligned = aligned_expected_returns(mu, ["CCC", "AAA"])
    np.testing.assert_allclose(aligned, [0.05, 0.1])
    with pytest.raises(DataError, match="no entry for candidate DDD"):
        aligned_expected_returns(mu, ["DDD"])
    (tmp_path / "dup.csv").write_text("symbol,mu\nAAA,0.1\nAAA,0.2\n")
    with pytest.raises(DataError, match="AAA appears twice"):
        read_expected_returns(tmp_path / "dup.csv")
    (tmp_path / "b.csv").write_text("symbol,min_weight,max_weight\nAAA,0.1,0.4\nBBB,0,0.5\n")
    assert read_bounds(tmp_path / "b.csv") == {"AAA": (0.1, 0.4), "BBB": (0.0, 0.5)}
    with pytest.warns(IgnoredInput, match=r"1 label\(s\) of the bounds not among the cand"):
        checked_bounds(read_bounds(tmp_path / "b.csv"), ["AAA"])
    (tmp_path / "bad.csv").write_text("symbol,min_weight,max_weight\nAAA,0.5,0.4\n")
    with pytest.raises(DataError, match="min_weight of AAA"):
        read_bounds(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("symbol,low,high\nAAA,0.1,0.4\n")
    with pytest.raises(DataError, match="expected columns symbol,min_weight,max_weight"):
        read_bounds(tmp_path / "cols.csv")
    with pytest.raises(InvalidParameter, match="max weight of AAA"):
        NameBounds({"AAA": (0.0, 1.5)})


def cli_files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "c.csv").write_text("symbol,score,price\nAAA,0,10\nBBB,0,20\nCCC,0,30\n")
    (tmp_path / "mu.csv").write_text("symbol,mu\nAAA,0.10\nBBB,0.06\nCCC,0.02\n")
    (tmp_path / "bds.csv").write_text(
        "symbol,min_weight,max_weight\nAAA,0.2,0.5\nBBB,0.2,0.6\nCCC,0.1,0.7\n"
    )
    write_matrix(tmp_path / "q.csv", covariance_3(), SYMBOLS)
    return {name: tmp_path / f"{name}.csv" for name in ("c", "mu", "bds", "q")}


def test_allocate_with_own_risk_model_matches_a_direct_enumeration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = cli_files(tmp_path)
    arguments = [
        "allocate", "--candidates", str(files["c"]), "--objective", "min-variance",
        "--min-return", "0.05", "--covariance-file", str(files["q"]),
        "--expected-returns", str(files["mu"]), "--bounds", str(files["bds"]),
        "--min-invested", "1", "--max-positions", "3", "--fractional", "--format", "json",
    ]  # fmt: skip
    result = run_cli(capsys, *arguments)
    assert result.code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == "optimal"
    weights = {a["symbol"]: a["weight"] for a in answer["allocations"]}
    w = np.array([weights.get(s, 0.0) for s in SYMBOLS])
    sigma = covariance_3()
    assert answer["objective"] == pytest.approx(float(w @ sigma @ w), rel=1e-9)
    # The oracle: every support, the convex QP on it by a fine grid over the simplex.
    grid = np.linspace(0.0, 1.0, 401)
    best = np.inf
    for a in grid:
        for b in grid[grid <= 1.0 - a + 1e-12]:
            x = np.array([a, b, max(1.0 - a - b, 0.0)])
            held = x > 1e-12
            lows, highs = np.array([0.2, 0.2, 0.1]), np.array([0.5, 0.6, 0.7])
            if np.any(held & ((x < lows - 1e-12) | (x > highs + 1e-12))):
                continue
            if x @ np.array([0.10, 0.06, 0.02]) < 0.05 - 1e-12:
                continue
            best = min(best, float(x @ sigma @ x))
    assert answer["objective"] <= best + 1e-9  # never worse than the grid's best point
    assert answer["objective"] >= best - 2e-4  # and the grid is fine enough to be close
    for symbol, (low, high) in zip(SYMBOLS, [(0.2, 0.5), (0.2, 0.6), (0.1, 0.7)], strict=True):
        if weights.get(symbol, 0.0) > 0:
            assert low - 1e-9 <= weights[symbol] <= high + 1e-9


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--factor-loadings", "x.csv"], "a factor model needs"),
        (["--objective", "cvar", "--covariance-file", "q.csv"], "--covariance-file is used by"),
        (["--covariance-file", "missing.csv"], "no such covariance matrix file"),
        (["--covariance-file", "asym.csv"], "not symmetric"),
    ],
)
def test_bad_risk_inputs_exit_2_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    cli_files(tmp_path)
    asym = covariance_3()
    asym[0, 1] += 0.01
    write_matrix(tmp_path / "asym.csv", asym, SYMBOLS)
    (tmp_path / "extra.csv").write_text("symbol,min_weight,max_weight\nZZZ,0.1,0.5\n")
    monkeypatch.chdir(tmp_path)
    arguments = ["allocate", "--candidates", "c.csv", "--fractional", "--format", "json"]
    if "--objective" not in extra:
        arguments += ["--objective", "min-variance"]
    assert_one_line_error(run_cli(capsys, *arguments, *extra), message)


@pytest.mark.parametrize("kind", ["covariance", "expected returns", "bounds"])
def test_labels_beyond_the_candidates_are_ignored_alike_with_one_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    # a risk file of a wider universe is normal: accepted, and the note counts the extras;
    # the answer is the one without the extra label
    cli_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    sigma = np.zeros((4, 4))
    sigma[:3, :3] = covariance_3()
    sigma[3, 3] = 0.01
    write_matrix(tmp_path / "q_extra.csv", sigma, [*SYMBOLS, "ZZZ"])
    (tmp_path / "mu_extra.csv").write_text("symbol,mu\nAAA,0.10\nBBB,0.06\nCCC,0.02\nZZZ,9\n")
    (tmp_path / "bds_extra.csv").write_text(
        "symbol,min_weight,max_weight\nAAA,0.2,0.5\nBBB,0.2,0.6\nCCC,0.1,0.7\nZZZ,0,1\n"
    )
    files = {"covariance": "q.csv", "expected returns": "mu.csv", "bounds": "bds.csv"}
    extra = {
        "covariance": "q_extra.csv",
        "expected returns": "mu_extra.csv",
        "bounds": "bds_extra.csv",
    }
    base = ["allocate", "--candidates", "c.csv", "--objective", "min-variance", "--fractional"]
    base += ["--max-weight", "1", "--format", "json"]

    def run(chosen: dict[str, str]) -> tuple[dict[str, Any], str]:
        flags = ["--covariance-file", chosen["covariance"], "--bounds", chosen["bounds"]]
        flags += ["--expected-returns", chosen["expected returns"], "--min-return", "0.03"]
        result = run_cli(capsys, *base, *flags)
        assert result.code == 0, result.stderr
        return json.loads(result.stdout), result.stderr

    plain, quiet = run(files)
    wider, note = run({**files, kind: extra[kind]})
    assert quiet == ""
    what = "risk model" if kind == "covariance" else kind
    assert (
        note
        == f"note: {extra[kind]}: 1 label(s) of the {what} not among the candidates ignored (ZZZ)\n"
    )
    weights = {a["symbol"]: a["weight"] for a in plain["allocations"]}
    assert {a["symbol"]: a["weight"] for a in wider["allocations"]} == pytest.approx(weights)


def test_a_negative_variance_names_the_symbol_and_the_fix(tmp_path: Path) -> None:
    sigma = covariance_3()
    sigma[1, 1] = -0.5
    write_matrix(tmp_path / "neg.csv", sigma, SYMBOLS)
    with pytest.raises(DataError) as caught:
        read_covariance(tmp_path / "neg.csv")
    assert str(caught.value) == (
        f"{tmp_path / 'neg.csv'}: the covariance matrix gives BBB a negative variance (-0.5) on "
        "its diagonal; a variance is >= 0: correct the cell [BBB,BBB]"
    )


def test_the_python_api_checks_a_covariance_frame_as_the_cli_checks_a_file(
    tmp_path: Path,
) -> None:
    import tradefolio as tf

    files = cli_files(tmp_path)
    candidates = pd.read_csv(files["c"])
    frame = pd.DataFrame(covariance_3(), index=SYMBOLS, columns=SYMBOLS)
    common = {"candidates": candidates, "objective": "min-variance", "fractional": True}
    common["max_weight"] = 1.0
    holed = frame.copy()
    holed.loc["AAA", "BBB"] = np.nan
    with pytest.raises(DataError, match="missing or infinite value at row AAA, column BBB"):
        tf.allocate(covariance=holed, **common)
    with pytest.raises(DataError, match="no entry for candidate CCC; add it or drop it"):
        tf.allocate(covariance=frame.drop(index="CCC", columns="CCC"), **common)
    with pytest.raises(InvalidParameter, match="pass a covariance DataFrame as covariance="):
        tf.allocate(covariance_file=frame, **common)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameter, match="bounds takes the path of a CSV file"):
        tf.allocate(bounds=pd.read_csv(files["bds"]), **common)  # type: ignore[arg-type]


def test_the_readers_the_docs_name_are_exported() -> None:
    import tradefolio.portfolio as portfolio

    # docs/model.md: "from tradefolio.portfolio import read_covariance, ..., NameBounds"
    assert portfolio.read_covariance is read_covariance
    assert portfolio.read_factor_model is read_factor_model
    assert portfolio.read_expected_returns is read_expected_returns
    assert portfolio.read_bounds is read_bounds
    assert portfolio.NameBounds is NameBounds
    assert {"read_covariance", "read_bounds", "NameBounds"} <= set(portfolio.__all__)
