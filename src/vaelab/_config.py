"""Building config dataclasses from JSON, with unknown keys named in the error."""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from typing import Any, TypeVar

from vaelab.errors import ConfigError

T = TypeVar("T")


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
        raise ConfigError(
            f"unknown {section} config keys {unknown}; expected some of {sorted(known)}"
        )
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
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    else:
        return value  # a type this checker does not know: left to the dataclass
    raise ConfigError(f"{path}: expected {_name(tp)}, got {type(value).__name__} {value!r:.60}")
