"""A user's strategy that goes wrong, as the user sees it: a raising `plan` or `on_bar` is
one `error:` line with the strategy's own frames (exit 1) in backtest and `live --paper`;
a class without `name`, an import of a module next to the file, a parameter without an
annotation, a built-in strategy's option given to the user's class, a warm-up longer than
the data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.support.cli import CliResult, assert_one_line_error, run_cli

from tradefolio.data.synthetic import gbm_ohlc

STRATEGIES = """
import numpy as np
from tradefolio import SignalPlan


class VecBoom:
    name = "vecboom"

    def plan(self, closes):
        return 1 / 0


class Late:
    name = "late"
    warmup = 5

    def on_bar(self, context):
        for sym in context.symbols:
            if context.bar == 40 and sym == context.symbols[3]:
                raise RuntimeError("boom on purpose")
            if sym not in context.positions and context.bar % 20 == 0:
                context.enter(sym)


class Typo:
    name = "typo"
    warmup = 10

    def on_bar(self, context):
        context.positions[context.symbols[2]].quantity


class NoName:
    warmup = 5

    def on_bar(self, context):
        if context.bar == 10:
            context.enter(context.symbols[0])


class NoNameVec:
    def plan(self, closes):
        entries = np.zeros(closes.shape, bool)
        entries[10, 0] = True
        return SignalPlan(entries=entries, exits=np.zeros(closes.shape, bool))


class NoAnnot:
    name = "noannot"

    def __init__(self, x=3):
        self.x = x

    def on_bar(self, context):
        pass


class BigWarm:
    name = "bigwarm"
    warmup = 5000

    def on_bar(self, context):
        pass


class Windowed:
    name = "windowed"

    def __init__(self, window: int = 10) -> None:
        self.window = window

    @property
    def warmup(self) -> int:
        return self.window

    def on_bar(self, context):
        pass
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("strategies")
    (path / "mine.py").write_text(STRATEGIES)
    gbm_ohlc(6, 120, seed=5, volatility=0.3).to_long().to_csv(path / "bars.csv", index=False)
    return path


def _run(
    capsys: pytest.CaptureFixture[str], folder: Path, command: str, spec: str, *args: str
) -> CliResult:
    prices = ("--prices", str(folder / "bars.csv"))
    argv: tuple[str, ...]
    if command == "live":
        db = folder / f"{spec.replace(':', '_').replace('/', '_')}-{len(args)}.db"
        db.unlink(missing_ok=True)
        argv = ("live", "--paper", *prices, "--db", str(db), "--no-record")
    else:
        argv = ("backtest", *prices, "--no-record")
    return run_cli(capsys, *argv, "--strategy", spec, *args)


def _assert_strategy_failure(result: CliResult, first_line: str, own_line: str) -> None:
    """Exit 1; the `error:` line first; only the strategy's frames below it."""
    assert result.code == 1, result
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(first_line), lines[0]
    trace = "\n".join(lines[1:])
    assert trace.startswith("Traceback (most recent call last):"), trace
    assert own_line in trace
    frames = [line for line in lines if line.strip().startswith("File ")]
    assert frames and all("mine.py" in frame for frame in frames), frames


@pytest.mark.parametrize("command", ["backtest", "live"])
def test_a_raising_plan_is_one_error_line_and_its_own_frames(
    capsys: pytest.CaptureFixture[str], folder: Path, command: str
) -> None:
    result = _run(capsys, folder, command, f"{folder}/mine.py:VecBoom")
    _assert_strategy_failure(
        result,
        "error: strategy vecboom raised ZeroDivisionError in plan(closes): division by zero",
        "return 1 / 0",
    )


@pytest.mark.parametrize("command", ["backtest", "live"])
def test_the_symbol_of_an_on_bar_error_is_worded_as_the_last_one_asked_about(
    capsys: pytest.CaptureFixture[str], folder: Path, command: str
) -> None:
    # it raises while looking at SYN004, after last asking the positions about SYN003
    late = _run(capsys, folder, command, f"{folder}/mine.py:Late")
    _assert_strategy_failure(
        late,
        "error: strategy late raised RuntimeError at bar 40 (",
        'raise RuntimeError("boom on purpose")',
    )
    assert "(last symbol it asked about: SYN003): boom on purpose" in late.stderr
    assert "while handling" not in late.stderr
    # a symbol missing from the positions is the one named, and the lookup's frame is not
    typo = _run(capsys, folder, command, f"{folder}/mine.py:Typo")
    _assert_strategy_failure(
        typo,
        "error: strategy typo raised KeyError at bar 9 (",
        "context.positions[context.symbols[2]].quantity",
    )
    assert "(last symbol it asked about: SYN003): 'SYN003'" in typo.stderr


@pytest.mark.parametrize("spec", ["NoName", "NoNameVec"])
def test_a_class_without_a_name_is_named_after_the_class(
    capsys: pytest.CaptureFixture[str], folder: Path, spec: str
) -> None:
    weight = ("--sizer", "weight")
    result = _run(capsys, folder, "backtest", f"{folder}/mine.py:{spec}", *weight)
    assert result.code == 0, result.stderr
    assert f"{spec} backtest of " in result.stdout
    assert "1 fills (1 buys, 0 sells)" in result.stdout
    paper = _run(capsys, folder, "live", f"{folder}/mine.py:{spec}", *weight, "--format", "json")
    assert paper.code == 0, paper.stderr
    assert json.loads(paper.stdout)["positions"], paper.stdout


def test_a_parameter_without_annotation_says_so(
    capsys: pytest.CaptureFixture[str], folder: Path
) -> None:
    result = _run(capsys, folder, "backtest", f"{folder}/mine.py:NoAnnot")
    assert_one_line_error(result, "parameter 'x' needs an int, float, bool or str annotation")
    assert "it has no annotation" in result.stderr
    assert "inspect._empty" not in result.stderr


def test_a_strategy_file_imports_a_module_next_to_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, folder: Path
) -> None:
    (tmp_path / "helpers_w6.py").write_text("ENTRY_BAR = 10\n")
    (tmp_path / "uses_helper.py").write_text(
        "from helpers_w6 import ENTRY_BAR\n\n\n"
        "class UsesHelper:\n"
        "    name = 'uses-helper'\n\n"
        "    def on_bar(self, context):\n"
        "        if context.bar == ENTRY_BAR:\n"
        "            context.enter(context.symbols[0])\n"
    )
    path_before = list(sys.path)
    result = _run(capsys, folder, "backtest", f"{tmp_path}/uses_helper.py:UsesHelper",
                  "--format", "json")  # fmt: skip
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout)["n_fills"] >= 1
    assert sys.path == path_before  # the folder is on the path only while loading
    swept = run_cli(
        capsys, "sweep", "--prices", str(folder / "bars.csv"), "--workers", "2",
        "--format", "json", "--out", str(tmp_path / "sweep"),
        "--set", f"strategy={tmp_path}/uses_helper.py:UsesHelper",
        "--grid", "weight=0.1,0.2", "--set", "sizer=weight",
    )  # fmt: skip
    assert swept.code == 0, swept.stderr
    rows = json.loads(swept.stdout)["leaderboard"]
    assert [r["status"] for r in rows] == ["ok", "ok"], rows


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (
            ("--fast", "5"),
            "--fast applies to sma-cross; your class takes its own parameters: use --param fast=5",
        ),
        (("--slow", "30"), "--slow applies to sma-cross"),
        (("--lookback", "60"), "--lookback applies to momentum and --portfolio"),
        (("--max-positions", "3"), "--max-positions applies to momentum and --portfolio"),
        (("--rebalance", "weekly"), "--rebalance applies to momentum and --portfolio"),
    ],
)
@pytest.mark.parametrize("command", ["backtest", "live"])
def test_a_builtin_strategy_option_with_a_user_class_is_refused(
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    command: str,
    option: tuple[str, str],
    fragment: str,
) -> None:
    result = _run(capsys, folder, command, f"{folder}/mine.py:Windowed", *option)
    assert_one_line_error(result, fragment)


def test_a_builtin_strategy_option_in_a_sweep_of_a_user_class_is_refused(
    capsys: pytest.CaptureFixture[str], folder: Path, tmp_path: Path
) -> None:
    result = run_cli(
        capsys, "sweep", "--prices", str(folder / "bars.csv"), "--workers", "1",
        "--out", str(tmp_path / "sweep"), "--set", f"strategy={folder}/mine.py:Windowed",
        "--set", "fast=5", "--grid", "param.window=5,10",
    )  # fmt: skip
    assert_one_line_error(result, "--fast applies to sma-cross")
    assert "--set param.fast=5" in result.stderr


@pytest.mark.parametrize(
    ("spec", "args", "warmup"),
    [("BigWarm", (), "5,000"), ("Windowed", ("--param", "window=120"), "120")],
)
@pytest.mark.parametrize("command", ["backtest", "live"])
def test_a_warmup_longer_than_the_data_is_one_error_line(
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    spec: str,
    args: tuple[str, ...],
    warmup: str,
    command: str,
) -> None:
    result = _run(capsys, folder, command, f"{folder}/mine.py:{spec}", *args)
    assert_one_line_error(
        result,
        f"warm-up of {warmup} sessions leaves nothing to trade in the 120 bars given",
    )
    fits = _run(capsys, folder, command, f"{folder}/mine.py:Windowed", "--param", "window=119")
    assert fits.code == 0, fits.stderr


ENTERS = """
class Dip:
    name = "dip"

    def __init__(self, hold: int = 5) -> None:
        self.hold = hold

    def on_bar(self, context):
        for symbol in context.symbols:
            held = context.positions.get(symbol)
            if held is None and context.bar % (2 * self.hold) == 0:
                context.enter(symbol)
            elif held is not None and context.bar % (2 * self.hold) == self.hold:
                context.exit(symbol)
"""


def test_a_sweep_reruns_a_strategy_whose_file_was_edited(
    capsys: pytest.CaptureFixture[str], folder: Path, tmp_path: Path
) -> None:
    source = tmp_path / "dip.py"
    source.write_text(ENTERS)
    argv = (
        "sweep", "--prices", str(folder / "bars.csv"), "--workers", "1", "--format", "json",
        "--out", str(tmp_path / "sweep"), "--set", f"strategy={source}:Dip",
        "--set", "sizer=weight", "--grid", "param.hold=5,15",
    )  # fmt: skip
    first = run_cli(capsys, *argv)
    assert first.code == 0, first.stderr
    assert "(2 run now on serial x1, 0 from earlier, 0 failed)" in first.stderr
    traded = {r["param.hold"]: r["n_fills"] for r in json.loads(first.stdout)["leaderboard"]}
    assert min(traded.values()) > 0
    again = run_cli(capsys, *argv)
    assert "(0 run now on serial x1, 2 from earlier, 0 failed)" in again.stderr  # unchanged
    source.write_text(ENTERS.replace("context.enter(symbol)", "pass"))  # never enters now
    edited = run_cli(capsys, *argv)
    assert edited.code == 0, edited.stderr
    assert "(2 run now on serial x1, 0 from earlier, 0 failed)" in edited.stderr
    rows = json.loads(edited.stdout)["leaderboard"]
    assert [r["n_fills"] for r in rows] == [0, 0]
    assert {r["final_equity"] for r in rows} == {1_000_000.0}


def test_the_source_digest_of_a_module_strategy_is_its_file(tmp_path: Path) -> None:
    import hashlib

    from tradefolio.backtest import strategies
    from tradefolio.backtest.user_strategy import source_digest

    module_file = Path(strategies.__file__).read_bytes()
    digest = source_digest("tradefolio.backtest.strategies:SmaCrossEvents")
    assert digest == hashlib.sha256(module_file).hexdigest()[:16]
    (tmp_path / "a.py").write_text("class A:\n    name = 'a'\n")
    before = source_digest(f"{tmp_path}/a.py:A")
    (tmp_path / "a.py").write_text("class A:\n    name = 'b'\n")
    assert source_digest(f"{tmp_path}/a.py:A") != before


def test_a_sweep_says_which_exits_its_runs_place(
    capsys: pytest.CaptureFixture[str], folder: Path, tmp_path: Path
) -> None:
    base = (
        "sweep", "--prices", str(folder / "bars.csv"), "--workers", "1", "--format", "json",
        "--set", f"strategy={folder}/mine.py:Windowed", "--grid", "param.window=5,10",
    )  # fmt: skip
    no_stop = run_cli(capsys, *base, "--set", "no_stop=true", "--out", str(tmp_path / "a"))
    assert no_stop.code == 0, no_stop.stderr
    assert (
        "exits on sized entries: none placed (--no-stop: the risk sizer sized from a notional "
        "0.05 stop)"
    ) in " ".join(no_stop.stderr.split())
    assert json.loads(no_stop.stdout)["exits"] == [
        {"stop_loss": None, "take_profit": None, "trailing_stop": None, "sizing_stop": 0.05}
    ]
    swept = run_cli(capsys, *base, "--grid", "take_profit=0.1,0.2", "--out", str(tmp_path / "b"))
    assert swept.code == 0, swept.stderr
    said = " ".join(swept.stderr.split())
    assert (
        "some runs: exits on sized entries: stop at fill x (1 - 0.05), "
        "take-profit at fill x (1 + 0.1)"
    ) in said
    assert [e["take_profit"] for e in json.loads(swept.stdout)["exits"]] == [0.1, 0.2]


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        (
            ("--grid", "param.window=5,x"),
            "--grid param.window: 'x' is not an int (Windowed declares window: int)",
        ),
        (("--grid", "param.window=5.5,10"), "--grid param.window: '5.5' is not an int"),
        (("--grid", "param.windw=5,10"), "Windowed has no parameter 'windw'; it declares window"),
        (
            ("--grid", "weight=0.1,0.2", "--set", "param.window=7.5"),
            "--set param.window: '7.5' is not an int",
        ),
    ],
)
def test_sweep_values_of_a_strategy_parameter_are_typed_and_the_bad_one_named(
    capsys: pytest.CaptureFixture[str],
    folder: Path,
    tmp_path: Path,
    option: tuple[str, ...],
    fragment: str,
) -> None:
    result = run_cli(
        capsys, "sweep", "--prices", str(folder / "bars.csv"), "--workers", "1",
        "--out", str(tmp_path / "sweep"), "--set", f"strategy={folder}/mine.py:Windowed",
        *option,
    )  # fmt: skip
    assert_one_line_error(result, fragment)


def test_sweep_values_are_typed_as_declared(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, folder: Path
) -> None:
    (tmp_path / "typed.py").write_text(
        "class Typed:\n"
        "    name = 'typed'\n\n"
        "    def __init__(self, window: int = 5, level: float = 0.5, tag: str = 'a') -> None:\n"
        "        self.window, self.level, self.tag = window, level, tag\n\n"
        "    def on_bar(self, context):\n"
        "        pass\n"
    )
    result = run_cli(
        capsys, "sweep", "--prices", str(folder / "bars.csv"), "--workers", "1",
        "--format", "json", "--out", str(tmp_path / "sweep"),
        "--set", f"strategy={tmp_path}/typed.py:Typed", "--grid", "param.window=5,10",
        "--grid", "param.level=1,0.5", "--grid", "param.tag=10,b",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)["leaderboard"]
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    assert {type(r["param.window"]) for r in rows} == {int}
    assert sorted({r["param.level"] for r in rows}) == [0.5, 1.0]
    assert sorted({r["param.tag"] for r in rows}) == ["10", "b"]
