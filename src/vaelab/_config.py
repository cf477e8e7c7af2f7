"""Building config dataclasses from JSON, with unknown keys named in the error."""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from vaelab.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
MAX_DEPTH = 64  # nesting of JSON objects and lists; vaelab's own files use fewer than 8


def parse_json(text: str | bytes, *, allow_nonfinite: bool = False, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text, refusing what vaelab never writes, with a `ConfigError` that says why.

    Refused: invalid JSON, nesting deeper than ``max_depth`` (Python's parser
    would raise RecursionError at about 1,000 levels), integers of more than
    4,300 digits and, unless ``allow_nonfinite``, NaN and infinite numbers
    (the non-standard ``NaN``, ``Infinity``, and numbers such as ``1e999``
    that overflow), named by their key. Results such as a test loss may
    legitimately be inf; settings never are.

    Parameters
    ----------
    text : str or bytes
        The JSON document (bytes must be UTF-8).
    allow_nonfinite : bool, default=False
        Accept NaN and ±inf numbers.
    max_depth : int, default=64
        The deepest nesting of objects and lists accepted.

    Returns
    -------
    Any
        The parsed value.

    Examples
    --------
    >>> parse_json('{"model": {"sigma": 0.5}}')
    {'model': {'sigma': 0.5}}
    >>> parse_json('{"model": {"sigma": NaN}}')
    Traceback (most recent call last):
    vaelab.errors.ConfigError: model.sigma=nan is not a finite number
    >>> parse_json("[" * 100 + "]" * 100)
    Traceback (most recent call last):
    vaelab.errors.ConfigError: nested more than 64 levels deep
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        value = json.loads(text)  # NaN, Infinity and 1e999 become float nan and inf
    except RecursionError:
        raise ConfigError(f"nested more than {max_depth} levels deep") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text ({err.reason} at byte {err.start})") from None
    except ValueError as err:  # JSONDecodeError, or an integer of over 4,300 digits
        raise ConfigError(f"not valid JSON ({str(err)[:120]})") from None
    if _depth(value, max_depth) > max_depth:
        raise ConfigError(f"nested more than {max_depth} levels deep")
    if not allow_nonfinite:
        bad = nonfinite(value)
        if bad is not None:
            raise ConfigError(f"{bad[0] or 'the value'}={bad[1]} is not a finite number")
    return value


def nonfinite(obj: Any, where: str = "") -> tuple[str, float] | None:
    """The first ``(dotted.path, value)`` of a NaN or infinite float inside ``obj``, or None.

    Examples
    --------
    >>> nonfinite({"train": {"lr": 1e-3}, "h": [1.0, float("inf")]})
    ('h[1]', inf)
    """
    if isinstance(obj, float) and not math.isfinite(obj):
        return where, obj
    if isinstance(obj, dict):
        items = [(f"{where}.{k}" if where else str(k), v) for k, v in obj.items()]
    elif isinstance(obj, list | tuple):
        items = [(f"{where}[{i}]", v) for i, v in enumerate(obj)]
    else:
        return None
    for path, value in items:
        found = nonfinite(value, path)
        if found is not None:
            return found
    return None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of lists and dicts in ``value``, counted without recursion up to ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            if d > limit:
                return d
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def from_dict(cls: type[T], d: Any, section: str) -> T:
    """``cls(**d)``, refusing a non-dict, unknown keys and wrongly typed values by name.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class C:
    ...     a: int = 1
    >>> from_dict(C, {"a": 2}, "demo")
    C(a=2)
    >>> from_dict(C, {"b": 2}, "demo")
    Traceback (most recent call last):
    vaelab.errors.ConfigError: unknown demo config keys ['b']; expected some of ['a']
    """
    if not isinstance(d, dict):
        raise ConfigError(f"the {section} config must be a JSON object, got {type(d).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"unknown {section} config keys {unknown}; expected some of {sorted(known)}")
    hints = typing.get_type_hints(cls)
    d = {k: check_type(v, hints[k], f"{section}.{k}") for k, v in d.items()}
    try:
        return cls(**d)
    except TypeError as err:
        raise ConfigError(f"invalid {section} config: {err}") from None


def _name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    args = typing.get_args(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_name(a) for a in args)
    if origin is tuple:
        return f"list of {_name(args[0])}"
    return getattr(tp, "__name__", str(tp))


def check_type(value: Any, tp: Any, path: str) -> Any:
    """``value`` checked against the annotation ``tp`` (JSON lists become tuples).

    Supports the types config dataclasses use: bool, int, float, str, None,
    unions of them and ``tuple[X, ...]``. A mismatch is a `ConfigError` naming
    ``path``, the expected type and the value found.

    Examples
    --------
    >>> check_type([1, 2], tuple[int, ...], "model.hidden")
    (1, 2)
    >>> check_type(3, float, "train.lr")
    3.0
    >>> check_type("3", int | None, "train.patience")
    Traceback (most recent call last):
    vaelab.errors.ConfigError: train.patience: expected int or null, got str '3'
    """
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return check_type(value, option, path)
            except ConfigError:
                continue
    elif origin is tuple:
        item = typing.get_args(tp)[0]
        if isinstance(value, list | tuple):
            return tuple(check_type(v, item, f"{path}[{i}]") for i, v in enumerate(value))
    elif tp is type(None):
        if value is None:
            return None
    elif tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # an integer beyond 1.8e308
                raise ConfigError(f"{path}: {str(value)[:12]}... is too large for a float") from None
            if not math.isfinite(value):
                raise ConfigError(f"{path}: expected a finite float, got {value}")
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value  # a type this checker does not know: left to the dataclass
    raise ConfigError(f"{path}: expected {_name(tp)}, got {type(value).__name__} {value!r:.60}")
