"""The Alpaca adapter (extra `alpaca`), split by role.

* `client` — the one place that imports alpaca-py (lazily), reads the keys, checks the
  endpoint and the paper/live account choice, builds the SDK clients (retries off, a
  timeout), classifies failures and retries reads;
* `order_types` — which orders and groups Alpaca places natively (simple orders, OCO,
  bracket / OTO, replace) and the alpaca-py request for each; `NotNative` for the rest,
  which the trader manages itself;
* `execution` — `AlpacaBroker`, the `Broker` protocol over Alpaca's trading API;
* `data` — `AlpacaMarketData`, the `MarketData` protocol over Alpaca's market-data API.
"""

from tradefolio.live.alpaca.client import (
    DATA_URL_ENV,
    KEY_ENV,
    SECRET_ENV,
    URL_ENV,
    AccountMismatch,
    create_data_client,
    create_trading_client,
)
from tradefolio.live.alpaca.data import DATA_FEEDS, AlpacaMarketData
from tradefolio.live.alpaca.execution import AlpacaBroker
from tradefolio.live.alpaca.order_types import NotNative, native_problem

__all__ = [
    "DATA_FEEDS",
    "DATA_URL_ENV",
    "KEY_ENV",
    "SECRET_ENV",
    "URL_ENV",
    "AccountMismatch",
    "AlpacaBroker",
    "AlpacaMarketData",
    "NotNative",
    "create_data_client",
    "create_trading_client",
    "native_problem",
]
