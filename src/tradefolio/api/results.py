"""What the API returns: result objects with pandas attributes and a notebook summary.

Each result keeps the internal value it was made from (`raw`) and shows it as pandas:
`DataFrame`s and `Series` of float64 analytics (weights, returns, metrics, prices), with
dates as a tz-naive `DatetimeIndex`. Money is exact inside the backtest's ledger (integer
micro-dollars); the frames hold it as floats, and the exact figures stay available as
`Decimal` (`BacktestResult.final_equity`, `final_cash`). Every result has a `_repr_html_`,
so a notebook cell that ends with one shows a summary table.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradefolio.backtest.config import BacktestConfig
from tradefolio.backtest.engine import BacktestResult as EngineResult
from tradefolio.backtest.metric_registry import HEADLINE_PERCENT
from tradefolio.portfolio.types import AllocationResult as AllocatorResult
from tradefolio.reporting.metrics import run_metrics
from tradefolio.reporting.rebalances import empty_rebalances
from tradefolio.reporting.record import RunRecord
from tradefolio.reporting.run_folder import RunFolder, record_from_backtest, write_run_folder
from tradefolio.reporting.tearsheet import write_tearsheet

if TYPE_CHECKING:  # a backtest's result needs no research module (~30 ms of start-up)
    from tradefolio.research.dsr import DeflatedSharpe
    from tradefolio.research.sweep import SweepResult as ResearchSweep
    from tradefolio.research.walkforward import WalkForwardResult as ResearchWalkForward

_PERCENT = HEADLINE_PERCENT | {"test_return"}


def _cell(name: str, value: Any) -> str:
    """A value as the CLI's tables show it: percentages, thousands separators, 3 decimals."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,d}"
    if isinstance(value, float | np.floating | Decimal):
        number = float(value)
        if name in {"shares", "quantity"}:
            return f"{int(number):,d}" if number.is_integer() else f"{number:,.6f}"
        if name in _PERCENT or name.endswith("weight"):
            return f"{number:.2%}"
        if name in {"dollars", "price", "cash", "capital", "final_equity", "costs", "invested"}:
            return f"{number:,.2f}"
        return f"{number:.4g}" if abs(number) < 1e-3 else f"{number:,.3f}"
    return str(value)


def html_table(rows: Iterable[Sequence[Any]], header: Sequence[str], caption: str) -> str:
    """A small HTML table (escaped), the body of every `_repr_html_`."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(_cell(str(header[i]), v))}</td>" for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return (
        f"<p><b>{html.escape(caption)}</b></p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _summary_html(values: Mapping[str, Any], caption: str) -> str:
    rows = ([k.replace("_", " "), _cell(k, v)] for k, v in values.items())
    return html_table(rows, ["", ""], caption)


def _frame_html(frame: pd.DataFrame, caption: str) -> str:
    header = [str(c) for c in frame.columns]
    return html_table(frame.itertuples(index=False, name=None), header, caption)


@dataclass(frozen=True, slots=True)
class AllocationResult:
    """An allocation: target positions and the trades from the holdings to reach them.

    `raw` is the allocator's own value (`tradefolio.portfolio.types.AllocationResult`, the
    one result type of `allocate` and `PortfolioModel.solve`). `composed` says whether a
    composable-model option was used (`tf.allocate` sets it; a model you solve yourself is
    composed): then `model` names the objective and the summary adds costs and turnover,
    as `tradefolio allocate`'s table and JSON do. `title` names the request as the CLI's
    table does. `notes` are the lines the CLI prints as `note:` (the invested floor a risk
    objective chose when `min_invested` was not given). All numbers are floats (weights,
    dollars, shares, prices).
    """

    raw: AllocatorResult
    fractional: bool = False
    excluded: Mapping[str, str] = field(default_factory=dict)
    title: str = "allocation"
    composed: bool = True
    notes: tuple[str, ...] = ()

    @property
    def allocations(self) -> pd.DataFrame:
        """One row per selected name (by weight, descending), indexed by `symbol`:
        `weight` (of capital), `dollars`, `shares` (int64 unless fractional or a held
        fraction of a share is kept), `price`."""
        rows = [(a.symbol, a.weight, a.dollars, a.shares, a.price) for a in self.raw.allocations]
        frame = pd.DataFrame(rows, columns=["symbol", "weight", "dollars", "shares", "price"])
        frame = frame.astype({"weight": "float64", "dollars": "float64", "price": "float64"})
        whole = not self.fractional and bool((frame["shares"] % 1 == 0).all())
        # a held fraction not traded is listed as held (10.5), as the CLI lists it
        frame["shares"] = frame["shares"].astype("int64" if whole else "float64")
        return frame.set_index("symbol")

    @property
    def weights(self) -> pd.Series:
        """Target weight per selected symbol (a `Series` named `weight`)."""
        return self.allocations["weight"]

    @property
    def trades(self) -> pd.DataFrame:
        """The trades the optimiser proved, from the holdings to the target (buys from cash
        without holdings): `symbol`, `side` (`buy`/`sell`), `shares`, `price`, `dollars`
        (both > 0). Whole shares unless fractional (or a held odd lot kept as it is)."""
        rows = [(t.symbol, t.side, abs(t.shares), t.price, abs(t.dollars)) for t in self.raw.trades]
        frame = pd.DataFrame(rows, columns=["symbol", "side", "shares", "price", "dollars"])
        return frame.astype({"shares": "float64", "price": "float64", "dollars": "float64"})

    @property
    def status(self) -> str:
        """`optimal` (the solver's proof meets its gap target at the point returned) or
        `feasible` (a usable solution without that proof; see `gap`)."""
        return self.raw.status

    @property
    def objective(self) -> float:
        """The objective's value at the target weights."""
        return self.raw.objective

    @property
    def best_bound(self) -> float:
        """The solver's bound on the objective."""
        return self.raw.best_bound

    @property
    def gap(self) -> float:
        """The proven relative gap between objective and bound (`proven_gap` when the
        solver reported one; the JSON's `gap`)."""
        return self.raw.gap

    @property
    def proven_gap(self) -> float | None:
        """The gap of the solver's own proof at the point returned (`None` if none)."""
        return self.raw.proven_gap

    @property
    def solver(self) -> str:
        """The solver that produced the result."""
        return self.raw.solver

    @property
    def capital(self) -> float:
        """Dollars allocated (the account value with holdings)."""
        return self.raw.capital

    @property
    def cash(self) -> float:
        """Capital not spent on the target shares, after trading costs."""
        return self.raw.cash

    @property
    def invested(self) -> float:
        """Dollars in the target positions."""
        return self.raw.invested

    @property
    def model(self) -> str | None:
        """The composable model's objective name; `None` for the score model's options alone."""
        return self.raw.objective_name if self.composed else None

    @property
    def costs(self) -> float:
        """Trading costs in dollars."""
        return self.raw.costs

    @property
    def turnover(self) -> float:
        """Σ |w − w₀| from the holdings (from cash without holdings)."""
        return self.raw.turnover

    @property
    def dropped(self) -> tuple[str, ...]:
        """Symbols with a score <= 0, left out before solving."""
        return tuple(self.raw.dropped)

    def summary(self) -> dict[str, Any]:
        """The headline numbers (what `_repr_html_` shows above the positions)."""
        return {
            "status": self.status,
            "solver": self.solver,
            "objective": self.objective,
            "gap": self.gap,
            "positions": len(self.raw.allocations),
            "capital": self.capital,
            "invested": self.invested,
            "cash": self.cash,
            **({"costs": self.costs, "turnover": self.turnover} if self.model else {}),
        }

    def _repr_html_(self) -> str:
        positions = self.allocations.reset_index()
        caption = f"{self.model} {self.title}" if self.model else self.title
        parts = [_summary_html(self.summary(), caption), _frame_html(positions, "positions")]
        if self.model and self.raw.trades:  # the CLI's model table lists them too
            parts.append(_frame_html(self.trades, "trades"))
        parts.extend(f"<p>note: {html.escape(line)}</p>" for line in self.notes)
        return "".join(parts)


@dataclass(frozen=True)
class BacktestResult:
    """A finished backtest: the equity curve, fills, positions and metrics as pandas.

    `raw` is the engine's result (exact ledger in integer micro-dollars); `record` the
    run's `RunRecord` (built on first use: a run that is never shown as frames or written
    does not pay for it), from which the run folder and the tearsheet are written;
    `options` the validated `BacktestConfig` the run used. Frames are float64 analytics;
    `final_equity` and `final_cash` are the ledger's exact `Decimal`s.
    """

    raw: EngineResult
    name: str
    recorded: Mapping[str, Any]
    closes: pd.DataFrame = field(repr=False)
    benchmark: pd.Series | None = field(default=None, repr=False)
    options: BacktestConfig | None = None

    @cached_property
    def record(self) -> RunRecord:
        """The run as a `RunRecord`: equity, fills, positions, target weights, benchmark."""
        return record_from_backtest(
            self.raw,
            self.recorded,
            closes=self.closes,
            benchmark=self.benchmark,
            name=self.name,
        )

    @property
    def config(self) -> dict[str, Any]:
        """The resolved options of the run (as stored in the run folder's config.json)."""
        return dict(self.recorded)

    @property
    def equity(self) -> pd.Series:
        """Account value at each close (cash + positions marked at the close)."""
        return self.record.equity["equity"].copy()

    @property
    def account(self) -> pd.DataFrame:
        """`equity`, `cash` and `invested` at each close (cash + invested = equity)."""
        return self.record.equity.copy()

    @property
    def returns(self) -> pd.Series:
        """Simple daily returns of the equity curve (the first session dropped)."""
        return self.equity.pct_change().iloc[1:].rename("returns")

    @property
    def fills(self) -> pd.DataFrame:
        """One row per executed order, in order: `date`, `symbol`, `side`, `quantity`,
        `price` (slippage included), `commission`, `slippage` (currency)."""
        return self.record.fills.copy()

    @property
    def positions(self) -> pd.DataFrame:
        """Long form, one row per (close, held symbol): `date`, `symbol`, `quantity`,
        `price` (the close it is marked at), `market_value`."""
        return self.record.positions.copy()

    @property
    def weights(self) -> pd.DataFrame:
        """Realised weights: each symbol's market value over equity at each close (wide,
        one column per symbol traded, 0 when flat)."""
        positions = self.record.positions
        values = positions.pivot_table(
            index="date", columns="symbol", values="market_value", aggfunc="sum"
        )
        equity = self.record.equity["equity"]
        held = values.reindex(index=equity.index).fillna(0.0)
        return held.div(equity, axis=0).rename_axis(columns=None)

    @property
    def target_weights(self) -> pd.DataFrame:
        """The strategy's target weights at each rebalance decision (zero rows when the
        run records none)."""
        return self.record.target_weights.copy()

    @property
    def rebalances(self) -> pd.DataFrame:
        """One row per allocation-model solve of a `portfolio=True` run with model options
        (date, solver, status, objective, best_bound, gap, expected and realised turnover
        and costs, names, seconds, message; see `tradefolio.reporting.rebalances`); zero
        rows for any other run."""
        table = self.record.rebalances
        return empty_rebalances() if table is None else table.copy()

    @property
    def metrics(self) -> pd.Series:
        """The run's metrics (`backtest --format json`'s `metrics`): total_return, cagr,
        volatility, sharpe, sortino, max_drawdown, calmar, exposure, turnover, trades,
        win_rate (formulas in `tradefolio.backtest.metrics`)."""
        return pd.Series(self.raw.metrics().as_dict(), name=self.name, dtype="float64")

    @property
    def final_equity(self) -> Decimal:
        """Cash plus open positions at the last close, exact."""
        return self.raw.final_equity

    @property
    def final_cash(self) -> Decimal:
        """Cash at the end, exact."""
        return self.raw.final_cash

    @property
    def final_positions(self) -> dict[str, int]:
        """Shares held at the end, per symbol."""
        return dict(self.raw.final_positions)

    def report_metrics(self) -> dict[str, Any]:
        """The run folder's `metrics.json` document (beta/alpha with a benchmark, drawdown
        episodes, round trips, costs; fields in docs/cli.md)."""
        return run_metrics(self.record)

    def to_run_folder(self, path: str | Path = "runs", *, png: bool = False) -> Path:
        """Write the run folder `<path>/<UTC time>-<name>/` (as `backtest --out path`):
        config, equity, fills, positions, weights, metrics and the tearsheet; with `png`
        also the static charts (as `--png`: matplotlib, some seconds). Returns it."""
        return self.save_run_folder(path, png=png).path

    def save_run_folder(self, path: str | Path = "runs", *, png: bool = False) -> RunFolder:
        """`to_run_folder`, returning the whole `RunFolder`: its path, the tearsheet's
        path and the notes of what could not be written (e.g. no plotly)."""
        return write_run_folder(self.record, path, png=png)

    def tearsheet(self, path: str | Path) -> Path:
        """Write the self-contained HTML tearsheet to `path` (needs the `report` extra,
        plotly) and return the path; open it in a browser or an `IFrame`."""
        target = Path(path)
        return write_tearsheet(self.record, run_metrics(self.record), target)

    def _repr_html_(self) -> str:
        equity = self.record.equity["equity"]
        fills = self.record.fills
        summary = {
            "period": f"{equity.index[0].date()} .. {equity.index[-1].date()}",
            "sessions": len(equity),
            "final_equity": self.final_equity,
            "fills": len(fills),
            "positions_open": len(self.raw.final_positions),
            **self.raw.metrics().as_dict(),
        }
        return _summary_html(summary, f"{self.name} backtest")


@dataclass(frozen=True, slots=True)
class SweepResult:
    """A finished sweep: one row per run (parameters, metrics, status) as a `DataFrame`.

    `table` columns: `run`, the swept parameters, `status` (`ok`; `held`: finished, but
    holding its positions at one or more rebalances the allocation model could not solve;
    `failed`), `error`, the metrics (as `BacktestResult.metrics`), `final_equity`,
    `n_fills`, `rebalances_proven` / `rebalances_not_proven` / `rebalances_failed` (a
    `--portfolio` run's solves, null otherwise), ... (the Parquet schema of `tradefolio
    sweep`). `metric` is the one the leaderboard ranks by.
    """

    raw: ResearchSweep
    metric: str

    @property
    def table(self) -> pd.DataFrame:
        """Every run, in run order."""
        return self.raw.table.copy()

    @property
    def parameters(self) -> tuple[str, ...]:
        """The swept parameter names, in the order given."""
        return self.raw.parameters

    @property
    def failed(self) -> int:
        """Runs that failed (their `error` column says why)."""
        return self.raw.failed

    def leaderboard(self, metric: str | None = None, top: int = 10) -> pd.DataFrame:
        """The `top` successful runs, best first by `metric` (ties: the earlier run)."""
        from tradefolio.research.report import check_metric, leaderboard

        return leaderboard(self.raw.table, check_metric(metric or self.metric), top)

    @property
    def best(self) -> dict[str, Any]:
        """The swept parameters of the best run by `metric` (empty if every run failed)."""
        from tradefolio.research.report import ranked

        board = ranked(self.raw.table, self.metric)
        if board.empty:
            return {}
        top = board.iloc[0]
        return {name: _plain(top[name]) for name in self.parameters}

    def heatmap(self, rows: str, columns: str, metric: str | None = None) -> pd.DataFrame:
        """The best `metric` over every other parameter, per (`rows`, `columns`) cell."""
        from tradefolio.research.report import heatmap

        return heatmap(self.raw.table, metric or self.metric, rows, columns)

    def _repr_html_(self) -> str:
        shown = ["run", *self.parameters, self.metric, "cagr", "max_drawdown", "final_equity"]
        board = self.leaderboard().loc[:, list(dict.fromkeys(shown))]
        caption = (
            f"top {len(board)} of {len(self.raw.table)} runs by {self.metric} "
            f"({self.failed} failed)"
        )
        return _frame_html(board, caption)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds."""
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True, slots=True)
class WalkForwardResult:
    """Walk-forward validation: each fold's choice on its train window and what it earned
    on the next test window, the stitched out-of-sample equity, and the in-sample best."""

    raw: ResearchWalkForward

    @property
    def folds(self) -> pd.DataFrame:
        """One row per fold: test dates, chosen parameters, train value, test metrics."""
        return self.raw.folds_frame()

    @property
    def oos_equity(self) -> pd.Series:
        """The out-of-sample equity: the folds' test returns compounded from the cash."""
        return self.raw.oos_equity.copy()

    @property
    def oos_metrics(self) -> pd.Series:
        """Metrics of the stitched out-of-sample curve."""
        return pd.Series(dict(self.raw.oos_metrics), name="out_of_sample", dtype="float64")

    @property
    def in_sample_best(self) -> dict[str, Any]:
        """Parameters chosen with hindsight over the whole span (empty if none ran)."""
        return dict(self.raw.in_sample_best or {})

    @property
    def in_sample_metrics(self) -> pd.Series:
        """Metrics of the hindsight choice over the same span."""
        return pd.Series(dict(self.raw.in_sample_metrics or {}), name="in_sample_best")

    @property
    def deflated_sharpe(self) -> DeflatedSharpe | None:
        """The hindsight choice's deflated Sharpe ratio given every point tried."""
        return self.raw.deflated

    def _repr_html_(self) -> str:
        folds = self.folds.drop(columns=["error"])
        summary = pd.DataFrame(
            {
                "metric": list(self.raw.oos_metrics),
                "out_of_sample": list(self.raw.oos_metrics.values()),
                "in_sample_best": [
                    (self.raw.in_sample_metrics or {}).get(m) for m in self.raw.oos_metrics
                ],
            }
        )
        caption = f"walk-forward ({self.raw.scheme}), best {self.raw.metric} per train window"
        return _frame_html(folds, caption) + _frame_html(summary, "stitched vs hindsight")


__all__ = [
    "AllocationResult",
    "BacktestResult",
    "SweepResult",
    "WalkForwardResult",
    "html_table",
]
