"""Your own strategy from the command line: `--strategy FILE.py:Class` or `module:Class`.

`load_strategy_class(spec)` imports the class (a file by its path, a module by its dotted
name; a file is imported once per process and content, under a name derived from its
resolved path and its bytes, so an edited file is imported again);
the class must define `plan(closes)` (vectorised) or `on_bar(context)` (event-driven).

Its **declared parameters** are the keyword parameters of its constructor, typed by their
annotations (`int`, `float`, `bool`, `str`, or `X | None` of those) with their defaults.
`--param NAME=VALUE` values are converted to that type and checked (`parse_params`): an
unknown name, a value of the wrong type or a parameter without a default left unset is
bad input (`InvalidParameter`, exit 2) naming the parameter and what the class declares.
A constructor that rejects its values is bad input too; one that raises anything else, and
a module that fails to import, is a `StrategyError` (exit 1) with the strategy's traceback.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tradefolio.errors import InvalidParameter, StrategyError
from tradefolio.execution.events import plan_error

_SCALARS: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str}
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def is_user_spec(name: str) -> bool:
    """Whether a `--strategy` value names a class of the user's (`...:ClassName`)."""
    return ":" in name


def _failure(spec: str, what: str, exc: BaseException) -> StrategyError:
    trace = "".join(traceback.format_exception(exc)).rstrip()
    return StrategyError(f"--strategy {spec}: {what} raised {type(exc).__name__}: {exc}", trace)


def _import_file(path: Path, spec: str) -> types.ModuleType:
    resolved = path.expanduser().resolve()
    if not resolved.is_file():
        raise InvalidParameter(f"--strategy {spec}: no such file {path}")
    # named by path and content: the same file is imported once, an edited one again
    digest = hashlib.sha256(str(resolved).encode() + b"\0" + resolved.read_bytes())
    name = "tradefolio_user_" + digest.hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, resolved)
    if module_spec is None or module_spec.loader is None:
        raise InvalidParameter(f"--strategy {spec}: cannot import {path} as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    # as `python file.py` does: the file's folder first on the path, so the strategy can
    # import a module of its own next to it (`from helpers import ...`); only while loading
    folder = str(resolved.parent)
    sys.path.insert(0, folder)
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _failure(spec, f"importing {path}", exc) from exc
    finally:
        sys.path.remove(folder)  # the first occurrence: the one inserted above
    return module


def _split(spec: str) -> tuple[str, str]:
    """(file path or module name, class name) of a `--strategy` spec."""
    target, _, class_name = spec.rpartition(":")
    if not target or not class_name.isidentifier():
        raise InvalidParameter(
            f"--strategy {spec}: expected path/to/file.py:ClassName or package.module:ClassName"
        )
    return target, class_name


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def source_digest(spec: str) -> str:
    """A hash of the source file of the strategy `spec` names (the file of `file.py:Class`,
    the module's file of `module:Class`), so a sweep re-runs a strategy that was edited.

    Only that file is hashed (not the modules it imports). `InvalidParameter` when it
    cannot be found, as loading it would say."""
    target, _ = _split(spec)
    if _is_file(target):
        path = Path(target).expanduser().resolve()
    else:
        try:  # imported as a run loads it (once per process)
            origin = getattr(importlib.import_module(target), "__file__", None)
        except Exception:
            origin = None
        if origin is None or not Path(origin).is_file():
            raise InvalidParameter(f"--strategy {spec}: no module file for {target!r}")
        path = Path(origin)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    except OSError:
        raise InvalidParameter(f"--strategy {spec}: no such file {target}") from None


def load_strategy_class(spec: str) -> type:
    """The class `spec` names (`path/to/file.py:ClassName` or `package.module:ClassName`)."""
    target, class_name = _split(spec)
    if _is_file(target):
        module = _import_file(Path(target), spec)
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as exc:
            if exc.name and target.startswith(exc.name):
                raise InvalidParameter(f"--strategy {spec}: no module named {exc.name!r}") from None
            raise _failure(spec, f"importing {target}", exc) from exc
        except Exception as exc:
            raise _failure(spec, f"importing {target}", exc) from exc
    found = getattr(module, class_name, None)
    if not isinstance(found, type):
        raise InvalidParameter(f"--strategy {spec}: {target} has no class {class_name}")
    if not (callable(getattr(found, "plan", None)) or callable(getattr(found, "on_bar", None))):
        raise InvalidParameter(
            f"--strategy {spec}: {class_name} needs a plan(closes) or an on_bar(context) method"
        )
    return found


def _scalar_type(annotation: Any, name: str, spec: str) -> tuple[type, bool]:
    """(the scalar type, whether None is allowed) of a parameter's annotation."""
    if isinstance(annotation, str):
        text = annotation.replace(" ", "")
        optional = text.endswith("|None") or text.startswith("None|")
        core = text.removesuffix("|None").removeprefix("None|")
        if core in _SCALARS:
            return _SCALARS[core], optional
    else:
        args = typing.get_args(annotation)
        if annotation in _SCALARS.values():
            return annotation, False
        if args and type(None) in args:
            rest = [a for a in args if a is not type(None)]
            if len(rest) == 1 and rest[0] in _SCALARS.values():
                return rest[0], True
    got = "it has no annotation" if annotation is inspect.Parameter.empty else f"got {annotation!r}"
    raise InvalidParameter(
        f"--strategy {spec}: parameter {name!r} needs an int, float, bool or str annotation "
        f"to be set with --param; {got}"
    )


def declared_parameters(cls: type, spec: str) -> dict[str, tuple[type, bool, Any]]:
    """name -> (type, None allowed, default or `inspect.Parameter.empty`)."""
    signature = inspect.signature(cls)
    declared: dict[str, tuple[type, bool, Any]] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        kind, optional = _scalar_type(parameter.annotation, name, spec)
        declared[name] = (kind, optional, parameter.default)
    return declared


def _convert(raw: object, kind: type, optional: bool, name: str) -> object:
    if isinstance(raw, str):
        text = raw.strip()
        if optional and text.lower() == "none":
            return None
        if kind is bool:
            if text.lower() in _TRUE | _FALSE:
                return text.lower() in _TRUE
        elif kind is int:
            try:
                return int(text)
            except ValueError:
                pass
        elif kind is float:
            try:
                return float(text)
            except ValueError:
                pass
        else:
            return text
        raise InvalidParameter(f"--param {name}={raw}: expected {kind.__name__}")
    if raw is None:
        if optional:
            return None
    elif kind is bool:
        if isinstance(raw, bool):
            return raw
    elif kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
    elif kind is float and isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    raise InvalidParameter(f"--param {name}={raw!r}: expected {kind.__name__}")


def typed_value(cls: type, spec: str, name: str, value: object, flag: str) -> object:
    """`value` of parameter `name` typed as `cls` declares it; `InvalidParameter` naming
    the value, the type and `flag` (where it was given: `--grid param.NAME`, ...)."""
    declared = declared_parameters(cls, spec)
    if name not in declared:
        names = ", ".join(declared) or "none"
        raise InvalidParameter(
            f"{flag}: {cls.__name__} has no parameter {name!r}; it declares {names}"
        )
    kind, optional, _ = declared[name]
    try:
        return _convert(value, kind, optional, name)
    except InvalidParameter:
        shown = value if isinstance(value, str) else repr(value)
        article = "an" if kind.__name__[0] in "aeiou" else "a"
        raise InvalidParameter(
            f"{flag}: {shown!r} is not {article} {kind.__name__} ({cls.__name__} declares "
            f"{name}: {kind.__name__})"
        ) from None


def split_params(options: Sequence[str]) -> dict[str, str]:
    """`["a=1", "b=x"]` -> {"a": "1", "b": "x"} (`InvalidParameter` on a malformed one)."""
    parsed: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InvalidParameter(f"--param expects NAME=VALUE (e.g. window=20), got {option!r}")
        if name in parsed:
            raise InvalidParameter(f"--param {name} given twice")
        parsed[name] = value
    return parsed


def parse_params(cls: type, spec: str, raw: Mapping[str, object]) -> dict[str, object]:
    """`raw` values typed and checked against `cls`'s declared parameters."""
    declared = declared_parameters(cls, spec)
    unknown = sorted(set(raw) - set(declared))
    if unknown:
        names = ", ".join(declared) or "none"
        raise InvalidParameter(
            f"--param {unknown[0]}: {cls.__name__} has no such parameter; it declares {names}"
        )
    values = {
        name: _convert(value, declared[name][0], declared[name][1], name)
        for name, value in raw.items()
    }
    missing = [
        n for n, (_, _, d) in declared.items() if d is inspect.Parameter.empty and n not in values
    ]
    if missing:
        raise InvalidParameter(
            f"--strategy {spec}: set {missing[0]} with --param {missing[0]}=VALUE"
        )
    return values


def _adapted(cls: type) -> type:
    """`cls` as the engines run it: a subclass (every attribute and method of the user's
    class is kept, `isinstance` still holds) that is named after the class when it
    declares no `name`, and whose `plan(closes)` turns an exception into the one-line
    `StrategyError` with the strategy's own traceback, as a raising `on_bar` is. Done at
    load time so that the backtest and live get the same object."""
    namespace: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__doc__": cls.__doc__,
    }
    if not hasattr(cls, "name"):
        namespace["name"] = cls.__name__
    if callable(getattr(cls, "plan", None)):
        user_plan = getattr(cls, "plan")  # noqa: B009 (the user's class: not typed)

        def plan(self: Any, closes: Any) -> Any:
            try:
                return user_plan(self, closes)
            except Exception as exc:  # the user's code: its own traceback, one line
                raise plan_error(str(self.name), exc) from exc

        namespace["plan"] = plan
    return type(cls.__name__, (cls,), namespace)


def build_user_strategy(spec: str, raw: Mapping[str, object]) -> object:
    """An instance of the class `spec` names, built with the typed `--param` values (see
    `_adapted` for the name it gets when it declares none and how `plan` reports)."""
    cls = load_strategy_class(spec)
    values = parse_params(cls, spec, raw)
    try:
        return _adapted(cls)(**values)
    except (InvalidParameter, ValueError, TypeError) as exc:
        raise InvalidParameter(f"--strategy {spec}: {exc}") from None
    except Exception as exc:
        raise _failure(spec, f"{cls.__name__}(...)", exc) from exc


__all__ = [
    "build_user_strategy",
    "declared_parameters",
    "is_user_spec",
    "load_strategy_class",
    "parse_params",
    "source_digest",
    "split_params",
    "typed_value",
]
