"""The Yahoo provider and its Parquet cache, with a fake download (never the network)."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradefolio.data.providers.cache import ParquetBarCache, uncovered
from tradefolio.data.providers.yahoo import ProviderError, YahooProvider, yfinance_download
from tradefolio.errors import DataError, MissingExtra


class FakeYahoo:
    """Business-day bars with a close that encodes the date; records every request.

    `basis` scales all prices, as a dividend re-adjustment would; `missing` drops sessions
    of chosen symbols.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, date, date]] = []
        self.basis = 1.0
        self.missing: dict[str, set[date]] = {}
        self.unknown: set[str] = set()

    def close(self, symbol: str, day: date) -> float:
        return self.basis * (100.0 + 10 * (ord(symbol[0]) - 64) + day.toordinal() % 1000 / 10)

    def __call__(self, symbol: str, start: date, end: date) -> pd.DataFrame:
        self.calls.append((symbol, start, end))
        days = [
            d.date()
            for d in pd.bdate_range(start, end - timedelta(days=1))
            if d.date() not in self.missing.get(symbol, set())
        ]
        if symbol in self.unknown:
            days = []
        closes = np.array([self.close(symbol, d) for d in days])
        index = pd.DatetimeIndex(days).tz_localize("America/New_York")
        return pd.DataFrame(
            {
                "Open": closes,
                "High": closes * 1.01,
                "Low": closes * 0.99,
                "Close": closes,
                "Volume": 1000.0,
            },
            index=index,
        )


TODAY = date(2024, 7, 1)


def provider(tmp_path: Path, fake: FakeYahoo, today: date = TODAY) -> YahooProvider:
    return YahooProvider(cache_dir=tmp_path / "cache", download=fake, today=lambda: today)


def test_fetch_returns_validated_panel(tmp_path: Path) -> None:
    fake = FakeYahoo()
    panel = provider(tmp_path, fake).fetch(["AAA", "BBB"], date(2024, 1, 2), date(2024, 1, 31))
    assert panel.symbols == ["AAA", "BBB"]
    assert panel.close.index[0] == pd.Timestamp("2024-01-02")
    assert panel.close.index[-1] == pd.Timestamp("2024-01-31")  # end is inclusive
    assert panel.close.index.tz is None and panel.has_bars and panel.volume is not None
    assert panel.close.loc["2024-01-05", "BBB"] == fake.close("BBB", date(2024, 1, 5))


def test_second_fetch_is_served_from_cache(tmp_path: Path) -> None:
    fake = FakeYahoo()
    first = provider(tmp_path, fake).fetch(["AAA"], date(2024, 1, 2), date(2024, 3, 28))
    assert len(fake.calls) == 1
    again = provider(tmp_path, fake).fetch(["AAA"], date(2024, 1, 2), date(2024, 3, 28))
    inside = provider(tmp_path, fake).fetch(["AAA"], date(2024, 2, 1), date(2024, 2, 29))
    assert len(fake.calls) == 1
    pd.testing.assert_frame_equal(again.close, first.close)
    pd.testing.assert_frame_equal(inside.close, first.close.loc["2024-02-01":"2024-02-29"])


def test_extension_downloads_only_new_days_plus_one_check_session(tmp_path: Path) -> None:
    fake = FakeYahoo()
    provider(tmp_path, fake).fetch(["AAA"], date(2024, 2, 1), date(2024, 2, 29))
    fake.calls.clear()
    panel = provider(tmp_path, fake).fetch(["AAA"], date(2024, 1, 15), date(2024, 3, 15))
    # before the cache: no anchor; after it: the last cached session (Thu 2024-02-29) again
    assert fake.calls == [
        ("AAA", date(2024, 1, 15), date(2024, 2, 1)),
        ("AAA", date(2024, 2, 29), date(2024, 3, 16)),
    ]
    expected = [fake.close("AAA", d.date()) for d in pd.bdate_range("2024-01-15", "2024-03-15")]
    assert panel.close["AAA"].tolist() == expected


def test_days_from_today_on_are_never_cached(tmp_path: Path) -> None:
    fake = FakeYahoo()
    today = date(2024, 3, 13)  # a Wednesday
    provider(tmp_path, fake, today).fetch(["AAA"], date(2024, 3, 1), date(2024, 3, 15))
    fake.calls.clear()
    provider(tmp_path, fake, today).fetch(["AAA"], date(2024, 3, 1), date(2024, 3, 15))
    # cached through Tue 03-12; re-requested from that session on
    assert fake.calls == [("AAA", date(2024, 3, 12), date(2024, 3, 16))]
    assert ParquetBarCache(tmp_path / "cache").ranges("AAA") == [
        (date(2024, 3, 1), date(2024, 3, 13))
    ]


def test_changed_adjustment_basis_refetches_the_whole_range(tmp_path: Path) -> None:
    fake = FakeYahoo()
    provider(tmp_path, fake).fetch(["AAA"], date(2024, 1, 2), date(2024, 1, 31))
    fake.basis = 0.5  # a dividend: Yahoo rescales all history
    fake.calls.clear()
    panel = provider(tmp_path, fake).fetch(["AAA"], date(2024, 1, 2), date(2024, 2, 29))
    assert fake.calls[-1] == ("AAA", date(2024, 1, 2), date(2024, 3, 1))
    expected = [fake.close("AAA", d.date()) for d in pd.bdate_range("2024-01-02", "2024-02-29")]
    assert panel.close["AAA"].tolist() == expected  # one basis throughout, no splice
    fake.calls.clear()
    provider(tmp_path, fake).fetch(["AAA"], date(2024, 1, 2), date(2024, 2, 29))
    assert fake.calls == []


def test_unknown_symbol_is_a_data_error(tmp_path: Path) -> None:
    fake = FakeYahoo()
    fake.unknown.add("ZZZ")
    with pytest.raises(DataError, match="yahoo:ZZZ: no prices between 2024-01-02 and 2024-01-31"):
        provider(tmp_path, fake).fetch(["AAA", "ZZZ"], date(2024, 1, 2), date(2024, 1, 31))


def test_download_failure_is_a_provider_error(tmp_path: Path) -> None:
    def broken(symbol: str, start: date, end: date) -> pd.DataFrame:
        raise ConnectionError("connection reset")

    service = YahooProvider(cache_dir=tmp_path, download=broken, today=lambda: TODAY)
    with pytest.raises(ProviderError, match=r"yahoo:AAA: download .* failed \(connection reset"):
        service.fetch(["AAA"], date(2024, 1, 2), date(2024, 1, 31))
    assert ParquetBarCache(tmp_path).ranges("AAA") == []


def test_interior_gap_between_symbols(tmp_path: Path) -> None:
    fake = FakeYahoo()
    fake.missing["BBB"] = {date(2024, 1, 10)}
    service = provider(tmp_path, fake)
    with pytest.raises(DataError, match="symbol 'BBB' has an interior gap, no price on 2024-01-10"):
        service.fetch(["AAA", "BBB"], date(2024, 1, 2), date(2024, 1, 31))
    panel = service.fetch(["AAA", "BBB"], date(2024, 1, 2), date(2024, 1, 31), on_gap="fill")
    assert panel.close.loc["2024-01-10", "BBB"] == fake.close("BBB", date(2024, 1, 9))


def test_without_cache_every_fetch_downloads(tmp_path: Path) -> None:
    fake = FakeYahoo()
    service = YahooProvider(cache_dir=None, download=fake, today=lambda: TODAY)
    service.fetch(["AAA"], date(2024, 1, 2), date(2024, 1, 5))
    service.fetch(["AAA"], date(2024, 1, 2), date(2024, 1, 5))
    assert len(fake.calls) == 2
    assert not (tmp_path / "cache").exists()


def test_symbols_with_odd_characters_are_cached(tmp_path: Path) -> None:
    fake = FakeYahoo()
    provider(tmp_path, fake).fetch(["^GSPC", "BRK/B"], date(2024, 1, 2), date(2024, 1, 5))
    provider(tmp_path, fake).fetch(["^GSPC", "BRK/B"], date(2024, 1, 2), date(2024, 1, 5))
    assert len(fake.calls) == 2


def test_bad_requests() -> None:
    service = YahooProvider(download=FakeYahoo())
    with pytest.raises(ValueError, match="after --end"):
        service.fetch(["AAA"], date(2024, 2, 1), date(2024, 1, 1))
    with pytest.raises(ValueError, match="given twice"):
        service.fetch(["AAA", "AAA"], date(2024, 1, 1), date(2024, 2, 1))


def test_missing_yfinance_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yfinance", None)  # what an absent package gives
    with pytest.raises(MissingExtra, match=r"pip install 'tradefolio\[data\]'"):
        yfinance_download("AAA", date(2024, 1, 1), date(2024, 2, 1))


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    wanted=st.tuples(st.integers(0, 40), st.integers(0, 40)).filter(lambda r: r[0] < r[1]),
    covered=st.lists(
        st.tuples(st.integers(0, 40), st.integers(1, 10)).map(lambda r: (r[0], r[0] + r[1])),
        max_size=5,
    ),
)
def test_uncovered_matches_day_set_oracle(
    wanted: tuple[int, int], covered: list[tuple[int, int]]
) -> None:
    base = date(2024, 1, 1)

    def day(n: int) -> date:
        return base + timedelta(days=n)

    holes = uncovered((day(wanted[0]), day(wanted[1])), [(day(a), day(b)) for a, b in covered])
    hole_days = {
        (d - base).days for a, b in holes for d in (a + timedelta(i) for i in range((b - a).days))
    }
    oracle = set(range(*wanted)) - {n for a, b in covered for n in range(a, b)}
    assert hole_days == oracle
    # maximal, ordered, non-touching runs
    assert all(a < b for a, b in holes)
    assert all(holes[i][1] < holes[i + 1][0] for i in range(len(holes) - 1))
