"""Prices in, validated: readers, the bundled sample, synthetic data, providers (lazy extras)."""

from tradefolio.data.sample_data import SampleData, load_sample

__all__ = ["SampleData", "load_sample"]
