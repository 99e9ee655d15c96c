"""Bundled sample data files (see ATTRIBUTION.md); loaded through `tradefolio.data.sample_data`."""
