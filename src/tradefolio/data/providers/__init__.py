"""Market-data providers behind optional extras, each with a Parquet cache.

Providers import their third-party client lazily (inside the function that downloads), so
`import tradefolio.data.providers` works without the `data` extra installed.
"""

from tradefolio.data.providers.cache import ParquetBarCache
from tradefolio.data.providers.yahoo import ProviderError, YahooProvider, yfinance_download

__all__ = ["ParquetBarCache", "ProviderError", "YahooProvider", "yfinance_download"]
