"""The settings a live session started with, and the check that a resumed run uses them.

A journal is one session: resuming it with another strategy, other parameters, another
sizer, other cash or other prices would splice two different sessions into one record
(and trade the second from the first one's positions). The CLI journals its settings when
the session starts (`Journal.initialise`'s config) and refuses a resume whose settings
differ, naming each difference.

Prices are compared by fingerprint: the symbols, the first session and a SHA-256 of the
closes up to the last session the file had when the session started. A file that has
grown since (new sessions appended) is the same prices; one whose known rows changed is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

PRICES_KEY = "prices"


def prices_fingerprint(closes: pd.DataFrame, until: date | None = None) -> dict[str, Any]:
    """Symbols, first and last session and a digest of the closes (rows up to `until`)."""
    if until is not None:
        closes = closes.loc[closes.index <= pd.Timestamp(until)]
    digest = hashlib.sha256()
    digest.update("\x1f".join(str(c) for c in closes.columns).encode())
    digest.update(np.asarray(pd.DatetimeIndex(closes.index).asi8, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(closes.to_numpy(dtype="float64")).tobytes())
    return {
        "symbols": [str(c) for c in closes.columns],
        "first": None if closes.empty else closes.index[0].date().isoformat(),
        "last": None if closes.empty else closes.index[-1].date().isoformat(),
        "digest": digest.hexdigest(),
    }


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def differences(
    stored: Mapping[str, Any], current: Mapping[str, Any], closes: pd.DataFrame | None
) -> list[str]:
    """What differs between the settings a session started with (`stored`) and a resumed
    run's (`current`, whose replayed prices are `closes`); keys the stored settings lack
    (a journal of an older tradefolio) are not compared."""
    found: list[str] = []
    for key in sorted(set(stored) & set(current)):
        if key == PRICES_KEY:
            continue
        if stored[key] != current[key]:
            found.append(f"{key} {_shown(stored[key])} now {_shown(current[key])}")
    before = stored.get(PRICES_KEY)
    now = current.get(PRICES_KEY)
    if isinstance(before, dict) and isinstance(now, dict):
        if "digest" in before and closes is not None:
            until = date.fromisoformat(before["last"]) if before.get("last") else None
            again = prices_fingerprint(closes, until)
            if again["symbols"] != before["symbols"] or again["first"] != before["first"]:
                found.append(
                    f"prices: symbols {_shown(before['symbols'])} from {before['first']} now "
                    f"{_shown(again['symbols'])} from {again['first']}"
                )
            elif again["digest"] != before["digest"]:
                found.append(f"prices: the closes up to {before['last']} are not the same")
        elif before != now:
            found.append(f"prices {_shown(before)} now {_shown(now)}")
    return found


__all__ = ["PRICES_KEY", "differences", "prices_fingerprint"]
