"""`@checked`: the public functions' keywords checked against their annotations, once.

`tf.allocate(capital="abc")` or `tf.sweep(grid=[...])` would otherwise fail deep inside
with a bare `TypeError` / `AttributeError`; the decorator compares every argument given
with its annotation (the outer type only: a `Mapping[str, float]` must be a mapping, its
items are the function's to check) and raises `InvalidParameter`, or `DataError` for the
keywords that are data (prices, candidates, holdings, ...), naming the keyword, what it
takes and what it got. Ranges and choices stay the functions' own checks (their messages
name the CLI flag). A `float` takes any real number but a bool, an `int` any integer but
a bool. A `Decimal` where a `float` is declared (money kept exact by the caller) is passed
on as that float when it has a finite one, and refused (NaN, infinity) otherwise.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any, ParamSpec, TypeVar

import numpy as np

from tradefolio.errors import DataError, InvalidParameter

P = ParamSpec("P")
R = TypeVar("R")


def checked(
    *, data: tuple[str, ...] = (), own: tuple[str, ...] = ()
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Check the arguments of the decorated function against its annotations; the
    keywords named in `data` raise `DataError`, the others `InvalidParameter`; those in
    `own` are left to the function (it checks them with a more specific message)."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(function)
        hints: dict[str, Any] = {}

        @functools.wraps(function)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not hints:  # resolved at the first call: the aliases are defined by then
                hints.update(typing.get_type_hints(function))
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                message = _binding_error(function.__name__, signature, kwargs, exc)
                raise InvalidParameter(message) from None
            converted = False
            for name, value in bound.arguments.items():
                hint = None if name in own else hints.get(name)
                if hint is None:
                    continue
                error = DataError if name in data else InvalidParameter
                if isinstance(value, Decimal) and float in _alternatives(hint):
                    number = _finite_float(value)
                    if number is None:
                        raise error(f"{name}= must be a finite number, got {_shown(value)}")
                    bound.arguments[name] = number
                    converted = True
                elif not _matches(value, hint):
                    raise error(f"{name}= must be {_describe(hint)}, got {_shown(value)}")
            if converted:
                return function(*bound.args, **bound.kwargs)
            return function(*args, **kwargs)

        return wrapper

    return decorate


def _binding_error(
    name: str, signature: inspect.Signature, kwargs: dict[str, Any], error: TypeError
) -> str:
    """The message for arguments the signature cannot take: an unknown keyword is named,
    with the closest valid one and the list of valid ones (`fats=` for `fast=`)."""
    keywords = [
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    ]
    unknown = [keyword for keyword in kwargs if keyword not in signature.parameters]
    if not unknown:
        return f"{name}(): {error}"
    close = difflib.get_close_matches(unknown[0], keywords, n=1)
    guess = f" (did you mean {close[0]}=?)" if close else ""
    return f"{name}() has no keyword {unknown[0]}={guess}; it takes {', '.join(keywords)}"


def _finite_float(value: Decimal) -> float | None:
    """`value` as the float the function declares, or None when it has no finite one
    (NaN, infinity, or beyond a float's range: Decimal('1e400'))."""
    if not value.is_finite():
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _shown(value: object) -> str:
    """`value` in a one-line message: its type, and its repr when short and one line."""
    if value is None:
        return "None"
    shown = repr(value)
    if "\n" in shown or len(shown) > 60:
        return f"a {type(value).__name__} object"
    return f"{type(value).__name__} {shown}"


def _alternatives(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _matches(value: object, hint: Any) -> bool:
    for kind in _alternatives(hint):
        if kind is Any or kind is object:
            return True
        if kind is None or kind is type(None):
            if value is None:
                return True
            continue
        if kind is float:
            if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
                return True
            continue
        if kind is int:
            if isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_):
                return True
            continue
        if kind is bool:
            if isinstance(value, bool | np.bool_):
                return True
            continue
        origin = typing.get_origin(kind)
        if origin is typing.Literal:
            return True  # the choice is the function's check, with its message
        target = origin if origin is not None else kind
        try:
            if isinstance(value, target):
                return True
        except TypeError:  # a protocol or a construct isinstance cannot test: not ours
            return True
    return False


def _describe(hint: Any) -> str:
    words = []
    for kind in _alternatives(hint):
        origin = typing.get_origin(kind) or kind
        if kind is None or kind is type(None):
            words.append("None")
        elif kind is float:
            words.append("a number")
        elif kind is int:
            words.append("a whole number")
        elif kind is bool:
            words.append("True or False")
        elif kind is str:
            words.append("a str")
        else:
            name = getattr(origin, "__name__", str(origin))
            name = name.lower() if name in _ABSTRACT else name
            words.append(f"{'an' if name[:1] in 'aeiouAEIOU' else 'a'} {name}")
    unique = list(dict.fromkeys(words))
    return ", ".join(unique[:-1]) + " or " + unique[-1] if len(unique) > 1 else unique[0]


#: Abstract collection types, said in lower case ("a mapping", "an iterable").
_ABSTRACT = frozenset({"Mapping", "Sequence", "Iterable", "Callable"})

__all__ = ["checked"]
