"""`live.alpaca.client`: keys, the failure classifier and the one read retry loop.

The HTTP paths of these rules are tested against the loopback fake Alpaca server in
`tests/unit/live/test_alpaca.py` and `test_alpaca_data.py`; here the loop's own contract:
how many attempts, how long it waits, what it raises."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra: pip install 'tradefolio[alpaca]'")

from tradefolio.errors import BrokerError
from tradefolio.live.alpaca.client import (
    Failure,
    ReadFailed,
    ReadPolicy,
    classify,
    load_sdk,
    read_keys,
    retry_reads,
)
from tradefolio.live.broker import SubmitOutcomeUnknown

SDK = load_sdk("tests")


def _api_error(status: int, body: str) -> Exception:
    """An alpaca-py `APIError` as the SDK raises it for an HTTP answer."""
    http = pytest.importorskip("requests")
    response = http.Response()
    response.status_code = status
    response._content = body.encode()
    error = http.HTTPError(response=response)
    return SDK.api_error(body, error)


def _failing(errors: list[Exception], answer: str = "ok") -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return answer

    return call, calls


def _policy(retries: int, waits: list[float]) -> ReadPolicy:
    return ReadPolicy(
        sdk=SDK,
        retries=retries,
        wait=0.5,
        sleep=waits.append,
        unavailable=SubmitOutcomeUnknown,
        unexpected=(SDK.validation_error,),
    )


def test_read_keys_names_the_missing_variables_and_the_flag() -> None:
    with pytest.raises(BrokerError, match=r"--feed broker needs .* APCA_API_SECRET_KEY$"):
        read_keys({"APCA_API_KEY_ID": "k"}, "--feed broker")
    assert read_keys({"APCA_API_KEY_ID": "k", "APCA_API_SECRET_KEY": "s"}, "x") == ("k", "s")


def test_classifier_tells_alpaca_json_from_a_gateway_page() -> None:
    alpaca = classify(_api_error(404, '{"code": 40410000, "message": "order not found"}'), SDK)
    assert alpaca == Failure(404, 40410000, "order not found", True)
    assert not alpaca.transient
    gateway = classify(_api_error(404, "<html>Not Found</html>"), SDK)
    assert gateway is not None and not gateway.alpaca_body and gateway.code is None
    busy = classify(_api_error(429, '{"code": 42910000, "message": "rate limit"}'), SDK)
    assert busy is not None and busy.transient
    assert classify(ValueError("not the SDK's"), SDK) is None


def test_transient_failures_are_retried_with_growing_waits_then_unavailable() -> None:
    waits: list[float] = []
    call, calls = _failing([_api_error(503, "{}") for _ in range(3)])
    with pytest.raises(SubmitOutcomeUnknown, match=r"HTTP 503.*after 3 attempts"):
        retry_reads("account", call, _policy(2, waits))
    assert len(calls) == 3 and waits == [0.5, 1.0]
    waits.clear()
    call, calls = _failing([_api_error(500, "{}")])
    assert retry_reads("account", call, _policy(2, waits)) == "ok"
    assert len(calls) == 2 and waits == [0.5]


def test_definitive_errors_are_not_retried() -> None:
    waits: list[float] = []
    call, calls = _failing([_api_error(403, '{"code": 40310000, "message": "forbidden"}')])
    with pytest.raises(ReadFailed) as info:
        retry_reads("account", call, _policy(5, waits))
    assert info.value.failure.status == 403 and len(calls) == 1 and waits == []


def test_foreign_exceptions_propagate_and_negative_retries_are_refused() -> None:
    call, _ = _failing([KeyError("a bug of ours")])
    with pytest.raises(KeyError):
        retry_reads("account", call, _policy(2, []))
    with pytest.raises(BrokerError, match="read_retries must be >= 0"):
        _policy(-1, [])
