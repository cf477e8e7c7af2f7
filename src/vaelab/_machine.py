"""Facts about this machine that limits are computed from, importable from anywhere."""

from __future__ import annotations

import os


def physical_memory() -> int:
    """This machine's physical memory in bytes; 0 where the system does not say.

    Examples
    --------
    >>> physical_memory() >= 0
    True
    """
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return 0
