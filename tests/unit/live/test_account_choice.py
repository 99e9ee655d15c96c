"""Finding 4 of issue 13 (and the URL part of finding 7): the account is chosen by the
explicit flag alone. An ``APCA_API_BASE_URL`` naming the other account's endpoint is
refused in one line naming both, before any request; the account the keys reach must be
the kind the flag chose; a URL carrying credentials is refused without echoing them."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("alpaca", reason="needs the alpaca extra")

from support.fake_alpaca import KEY, SECRET, FakeAlpaca
from tradefolio.errors import InvalidParameter
from tradefolio.live.alpaca import AlpacaBroker
from tradefolio.live.alpaca.client import check_url
from unit.live.live_helpers import live_cli

KEYS = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}


@pytest.fixture
def fake() -> Iterator[FakeAlpaca]:
    with FakeAlpaca(prices={"AAA": Decimal(10)}) as server:
        yield server


@pytest.mark.parametrize(
    ("paper", "url", "names"),
    [
        (True, "https://api.alpaca.markets", ("--paper-account", "api.alpaca.markets")),
        (True, "https://API.alpaca.markets/", ("--paper-account", "live")),
        (False, "https://paper-api.alpaca.markets", ("--live-account", "paper-api")),
    ],
)
def test_a_base_url_of_the_other_account_is_refused(
    paper: bool, url: str, names: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidParameter) as info:
        AlpacaBroker.from_env(paper=paper, environ={**KEYS, "APCA_API_BASE_URL": url})
    message = str(info.value)
    assert all(name in message for name in names), message
    assert "\n" not in message


@pytest.mark.parametrize(("paper", "number"), [(True, "512345678"), (False, "PA0FAKE00000")])
def test_the_account_reached_must_be_the_kind_chosen(
    fake: FakeAlpaca, paper: bool, number: str
) -> None:
    """Behind a proxy (any other URL) the account itself is checked: Alpaca's paper
    account numbers start with PA."""
    fake.account_number = number
    broker = AlpacaBroker.from_env(
        paper=paper, environ={**KEYS, "APCA_API_BASE_URL": fake.url}, read_retry_wait=0.0
    )
    with pytest.raises(InvalidParameter, match="--paper-account" if paper else "--live-account"):
        broker.check_ready()
    assert fake.client_ids() == []


def test_the_matching_account_is_accepted(fake: FakeAlpaca) -> None:
    broker = AlpacaBroker.from_env(paper=True, environ={**KEYS, "APCA_API_BASE_URL": fake.url})
    assert broker.check_ready().cash == fake.cash


def test_credentials_in_a_url_are_refused_without_echoing_them() -> None:
    from tradefolio.live.alpaca.client import redact_url

    for url in ("http://user:S3CRET@127.0.0.1:9", "https://S3CRET@paper-api.alpaca.markets"):
        with pytest.raises(InvalidParameter, match="must not contain credentials") as info:
            check_url(url)
        assert "S3CRET" not in str(info.value)
        with pytest.raises(InvalidParameter) as info:
            AlpacaBroker.from_env(environ={**KEYS, "APCA_API_BASE_URL": url})
        assert "S3CRET" not in str(info.value)
    assert redact_url("https://u:S3CRET@host:8443/v2?token=S3CRET#x") == "https://host:8443"
    with pytest.raises(Exception) as info:
        check_url("ftp://u:S3CRET@host")
    assert "S3CRET" not in str(info.value)


@pytest.mark.parametrize(
    ("args", "url", "names"),
    [
        (["--paper-account"], "https://api.alpaca.markets", ["--paper-account", "api.alpaca"]),
        ([], "https://api.alpaca.markets", ["--paper-account", "api.alpaca"]),
        (["--paper-account"], "http://user:S3CRET@127.0.0.1:9", ["credentials"]),
    ],
)
def test_cli_refuses_in_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], url: str, names: list[str]
) -> None:
    db = tmp_path / "never.db"
    run = live_cli(
        ["--broker", "alpaca", *args, "--db", str(db), "--out", str(tmp_path / "runs")],
        {**KEYS, "APCA_API_BASE_URL": url},
    )
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), run.stderr
    assert all(name in lines[0] for name in names), lines[0]
    assert "S3CRET" not in run.stderr + run.stdout
    assert not db.exists()


def test_cli_live_account_with_the_paper_broker_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    run = live_cli(["--paper", "--live-account", "--db", str(db)], {})
    assert run.returncode == 2
    assert "--live-account" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert not db.exists()


@pytest.mark.parametrize(
    "exits",
    [
        ["--sizer", "weight", "--stop-loss", "0.05", "--trailing-stop", "0.1"],
        ["--sizer", "weight", "--take-profit", "0.2", "--trailing-stop", "0.1"],
        ["--trailing-stop", "0.1"],  # the risk sizer places its own stop too
    ],
)
def test_exits_alpaca_cannot_hold_together_are_refused_before_any_request(
    fake: FakeAlpaca, tmp_path: Path, exits: list[str]
) -> None:
    """A trailing stop beside another exit of the same shares has no native form at
    Alpaca, which refuses the second sell: the session would run with one exit missing."""
    db = tmp_path / "never.db"
    run = live_cli(
        ["--broker", "alpaca", "--paper-account", "--symbols", "AAA", "--feed", "broker",
         *exits, "--db", str(db), "--out", str(tmp_path / "runs")],
        {**KEYS, "APCA_API_BASE_URL": fake.url},
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --trailing-stop"), run.stderr
    assert fake.client_ids() == []
    assert not db.exists()
