"""The one exception hierarchy: every public error class lives in `tradefolio/errors.py`."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import tradefolio
from tradefolio import errors
from tradefolio.cli.app import BAD_INPUT_ERRORS

PACKAGE_ROOT = Path(tradefolio.__file__).parent


def _exception_classes(tree: ast.Module) -> list[str]:
    """Public classes whose bases name an error or an exception."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            bases = [ast.unparse(b) for b in node.bases]
            if any(b.endswith(("Error", "Exception")) or b in dir(errors) for b in bases):
                found.append(node.name)
    return found


def test_every_error_class_is_defined_in_errors_py() -> None:
    outside = {
        path.relative_to(PACKAGE_ROOT).as_posix(): names
        for path in PACKAGE_ROOT.rglob("*.py")
        if path.name != "errors.py"
        and (names := _exception_classes(ast.parse(path.read_text(), filename=str(path))))
    }
    # `ReadFailed` is the Alpaca client's signal to its own adapter (a definitive HTTP error
    # of a read, turned into a `BrokerError` before it leaves `live/alpaca/`), not an error
    # a user meets. `NodeQPFailure` is the same kind of internal signal: the active-set
    # node solver hands a node to HiGHS with it; it never leaves the branch and bound.
    assert outside == {
        "live/alpaca/client.py": ["ReadFailed"],
        "portfolio/node_qp.py": ["NodeQPFailure"],
    }


def test_every_error_derives_from_the_root_and_is_exported() -> None:
    classes = {
        name: value
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, Exception)
    }
    assert set(classes) == set(errors.__all__)
    # `IgnoredInput` is a warning (input left out on purpose), not an error
    raised = {name: c for name, c in classes.items() if not issubclass(c, Warning)}
    assert set(classes) - set(raised) == {"IgnoredInput"}
    assert all(issubclass(c, errors.TradefolioError) for c in raised.values())


def test_the_old_homes_still_name_the_same_classes() -> None:
    # Other modules import these names from where they used to be defined.
    from tradefolio.data.providers.yahoo import ProviderError
    from tradefolio.live.broker import OrderRejected, SubmitOutcomeUnknown, SubmitRefused
    from tradefolio.live.journal import JournalDamaged, JournalError, JournalPathError
    from tradefolio.live.orders import InvalidTransition
    from tradefolio.live.polling_feed import MarketDataUnavailable

    assert ProviderError is errors.ProviderError
    assert (OrderRejected, SubmitOutcomeUnknown, SubmitRefused) == (
        errors.OrderRejected,
        errors.SubmitOutcomeUnknown,
        errors.SubmitRefused,
    )
    assert (JournalDamaged, JournalError, JournalPathError) == (
        errors.JournalDamaged,
        errors.JournalError,
        errors.JournalPathError,
    )
    assert InvalidTransition is errors.InvalidTransition
    assert MarketDataUnavailable is errors.MarketDataUnavailable


def test_exit_codes_follow_the_hierarchy() -> None:
    # Bad input (exit 2) and failures while running (exit 1) are told apart by class.
    def bad_input(error: type[Exception]) -> bool:
        return issubclass(error, BAD_INPUT_ERRORS)

    assert bad_input(errors.JournalPathError) and bad_input(errors.AccountMismatch)
    assert not bad_input(errors.JournalError) and not bad_input(errors.ProviderError)
    assert not bad_input(errors.MissingExtra) and not bad_input(errors.MissingSolverExtra)
    assert not issubclass(errors.MissingExtra, errors.SolverUnavailable)
    assert issubclass(errors.MissingSolverExtra, errors.SolverUnavailable)
    assert issubclass(errors.SubmitRefused, errors.SubmitOutcomeUnknown)
    assert errors.OrderRejected("no", retryable=True).retryable
