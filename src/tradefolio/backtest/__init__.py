"""backtest area (see ARCHITECTURE.md)."""
