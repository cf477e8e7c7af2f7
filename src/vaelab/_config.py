"""Building config dataclasses from JSON, with unknown keys named in the error."""

from __future__ import annotations

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
    try:
        return cls(**d)
    except TypeError as err:
        raise ConfigError(f"invalid {section} config: {err}") from None
