"""JSON values of a report: the one rule for numbers JSON has no spelling for.

A NaN (nothing solved) or an infinite bound (a solve stopped before any bound) is written
as null, read as "unknown" (README, the JSON contracts). `json.dumps(..., allow_nan=False)`
stays the guard at every writer: a writer that forgets this raises instead of writing
`Infinity`, which strict JSON readers reject.
"""

from __future__ import annotations

import math
from typing import Any


def finite_or_null(payload: Any) -> Any:
    """`payload` with every non-finite float (NaN, inf) as None, through dicts, lists and
    tuples (tuples become lists, as JSON writes them)."""
    if isinstance(payload, float):
        return payload if math.isfinite(payload) else None
    if isinstance(payload, dict):
        return {key: finite_or_null(value) for key, value in payload.items()}
    if isinstance(payload, list | tuple):
        # floats and strings inline (a tearsheet's series are ~136,000 numbers and dates):
        # the same rules as above without a call per element
        return [
            (value if math.isfinite(value) else None)
            if type(value) is float
            else value
            if type(value) is str
            else finite_or_null(value)
            for value in payload
        ]
    return payload


__all__ = ["finite_or_null"]
