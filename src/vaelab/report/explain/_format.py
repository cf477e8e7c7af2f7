"""Numbers as the page writes them, shared by its words (`_text`) and its captions (`_figures`)."""

from __future__ import annotations


def _g(x: float, digits: int = 3) -> str:
    """A number for prose.

    Examples
    --------
    >>> _g(3.14159), _g(1234.5), _g(0.000123)
    ('3.14', '1234', '0.000123')
    """
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def _pct(x: float) -> str:
    """A share as per cent: ``_pct(0.2163)`` is ``'21.6%'``."""
    return f"{_g(100 * x)}%"
