"""Non-finite numbers in JSON output: null, never `NaN` / `Infinity` or a crash."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tradefolio.cli.common import print_json
from tradefolio.reporting.json_values import finite_or_null


def test_every_non_finite_float_becomes_null_at_any_depth() -> None:
    payload = {
        "gap": math.inf,
        "rows": [{"best_bound": -math.inf, "objective": math.nan, "names": 3}],
        "pair": (1.5, math.nan),
        "label": "x",
    }
    text = json.dumps(finite_or_null(payload), allow_nan=False)
    assert json.loads(text) == {
        "gap": None,
        "rows": [{"best_bound": None, "objective": None, "names": 3}],
        "pair": [1.5, None],
        "label": "x",
    }


def test_a_list_s_elements_follow_the_same_rules_as_any_value() -> None:
    # a list's floats and strings take the inline path: numpy floats (a float subclass),
    # nested lists and tuples, dicts and other values the general one, all alike
    numpy_nan = np.float64("nan")
    payload = [1.0, math.inf, "2024-01-02", numpy_nan, np.float64(2.5), [math.nan, "a"],
               (math.nan,), {"x": -math.inf}, 3, None, True]  # fmt: skip
    assert finite_or_null(payload) == [
        1.0, None, "2024-01-02", None, 2.5, [None, "a"], [None], {"x": None}, 3, None, True,
    ]  # fmt: skip
    assert [finite_or_null(value) for value in payload] == finite_or_null(payload)


def test_the_clis_json_writer_prints_null(capsys: pytest.CaptureFixture[str]) -> None:
    print_json({"best_bound": math.inf, "gap": math.nan})
    assert json.loads(capsys.readouterr().out) == {"best_bound": None, "gap": None}
