"""`tf.allocate`: what the user receives for the defects of review 12."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import tradefolio as tf
from tradefolio.errors import DataError, InvalidParameter, TradefolioError

pytest.importorskip("ortools")


@pytest.mark.parametrize(
    ("shares", "fragment"),
    [
        ("abc", "holdings: XOM: shares 'abc' is not a number"),
        (None, "holdings: XOM: shares None is not a number"),
        (True, "holdings: XOM: shares True is not a number"),
        ("1_000", "holdings: XOM: shares '1_000' is not a number"),
        (math.nan, "holdings: XOM: shares nan is not a finite number"),
        (math.inf, "holdings: XOM: shares inf is not a finite number"),
        (-5, "holdings: XOM: shares must be >= 0 (long-only), got -5"),
    ],
)
def test_a_bad_share_count_is_a_data_error_naming_the_symbol_and_the_value(
    shares: object, fragment: str
) -> None:
    for holdings in ({"XOM": shares}, pd.Series({"XOM": shares}, dtype=object)):
        with pytest.raises(DataError) as raised:
            tf.allocate(holdings=holdings, capital=1000)
        assert isinstance(raised.value, TradefolioError)
        assert str(raised.value) == fragment


def test_bad_holdings_frames_and_symbols_are_data_errors() -> None:
    frame = pd.DataFrame({"symbol": ["XOM"], "shares": [3], "price": ["abc"]})
    with pytest.raises(DataError, match=r"^holdings: XOM: price 'abc' is not a finite number > 0"):
        tf.allocate(holdings=frame, capital=1000)
    with pytest.raises(DataError, match=r"^holdings: symbol ' ' is not a name \(shares 3\)"):
        tf.allocate(holdings={" ": 3}, capital=1000)
    with pytest.raises(DataError, match="held symbol ZZZZ is not a candidate and has no price"):
        tf.allocate(holdings={"ZZZZ": 10}, capital=1000)
    # a string that is a number is a share count, as in a holdings file
    assert tf.allocate(holdings={"XOM": "12"}, capital=1000).status == "optimal"


@pytest.mark.parametrize("missing", [pd.NA, math.nan, None, "", "nan", "NA"])
def test_a_missing_held_price_means_priced_from_the_data(missing: object) -> None:
    """A blank price cell in any of pandas' spellings (a nullable column's pd.NA too) is "no
    price given": the held name is priced from the sample, as with no price column."""
    prices = pd.array([missing], dtype="Float64") if missing is pd.NA else [missing]
    frame = pd.DataFrame({"symbol": ["XOM"], "shares": [3], "price": prices})
    got = tf.allocate(holdings=frame, capital=1000)
    assert got.weights.equals(tf.allocate(holdings={"XOM": 3}, capital=1000).weights)


def test_candidates_refuse_a_scoring_factor_they_would_ignore() -> None:
    frame = pd.DataFrame({"symbol": ["AAA", "BBB"], "score": [3.0, 2.0], "price": [10.0, 20.0]})
    with pytest.raises(InvalidParameter, match=r"^--factor inverse-volatility is not used: "):
        tf.allocate(candidates=frame, capital=1000, factor="inverse-volatility")
    with pytest.raises(InvalidParameter, match=r"^--lookback 20 is not used: "):
        tf.allocate(candidates=frame, capital=1000, lookback=20)
    # the default, given explicitly, changes nothing and passes
    same = tf.allocate(candidates=frame, capital=1000).weights
    explicit = tf.allocate(candidates=frame, capital=1000, factor="momentum").weights
    pd.testing.assert_series_equal(explicit, same)


def test_the_result_names_the_invested_floor_a_risk_objective_chose() -> None:
    """What the CLI prints as `note:` reaches a notebook user too: the floor chosen without
    `min_invested` is on the result (and its HTML); the user's own floor adds no note."""
    chosen = tf.allocate(objective="min-variance", whole_shares=True, time_limit=5)
    assert len(chosen.notes) == 1
    assert chosen.notes[0].startswith("--objective min-variance invests at least 99.9")
    # the floor named is the one the listed positions meet
    floor = float(chosen.notes[0].split("at least ")[1].split("%")[0]) / 100
    assert chosen.invested / chosen.capital >= floor - 1e-9
    assert "note: --objective min-variance invests at least" in chosen._repr_html_()
    own = tf.allocate(objective="min-variance", whole_shares=True, time_limit=5, min_invested=0.9)
    assert own.notes == ()
