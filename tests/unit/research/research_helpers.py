"""Tiny market data and sweeps shared by the research tests (kept small: 2 shared cores)."""

from __future__ import annotations

from tradefolio.data.sample_data import load_sample_prices
from tradefolio.research.space import SweepSpec, parse_grid_option
from tradefolio.research.tasks import MarketData


def small_data(sessions: int = 400, symbols: int = 5) -> MarketData:
    """The last `sessions` sessions of the first `symbols` sample stocks."""
    closes = load_sample_prices().iloc[-sessions:, :symbols]
    return MarketData.of(closes)


def small_spec() -> SweepSpec:
    """Six SMA-cross runs, two of them invalid (fast >= slow), weight sizing."""
    return SweepSpec(
        base={"sizer": "weight", "weight": 0.2},
        axes=(parse_grid_option("fast=5,10,30"), parse_grid_option("slow=10,30")),
    )
