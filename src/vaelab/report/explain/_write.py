"""Writing the explainer's files: checked before the run, atomic, undone on failure.

`check_out_dir` runs before anything is trained, so a folder that cannot be written
fails in a second, not after minutes of training. `write_files` writes each file
atomically and, if one fails, removes the files and folders that it created (never
a file that was there before, nor anything else in the folder).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from vaelab._atomic import atomic_write_bytes
from vaelab.errors import ConfigError


def _stat(path: Path, out: Path) -> os.stat_result | None:
    """``os.stat(path)``; None when it does not exist. Loops and refusals are ConfigErrors."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ConfigError(
                f"out={out}: {path} runs into a symlink loop (a link that leads "
                f"back to itself), so it names no directory"
            ) from None
        raise ConfigError(f"out={out}: {path} cannot be looked up ({err.strerror})") from None


def check_out_dir(out: str | Path, names: Iterable[str] = ()) -> Path:
    """Refuse an output folder that could not be written, before any work is done.

    Parameters
    ----------
    out : str or Path
        The folder; it may not exist yet.
    names : iterable of str
        Paths inside ``out`` that will be written as files (``"explain.json"``) or,
        ending in ``"/"``, used as folders (``"figures/"``).

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ConfigError
        When ``out`` or one of its parents is a file, passes through a symlink loop or
        is not writable, or when one of ``names`` exists as the wrong kind of entry.

    Examples
    --------
    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp())
    >>> _ = (base / "f").write_text("")
    >>> check_out_dir(base / "new" / "out", ["explain.json"]).name
    'out'
    >>> check_out_dir(base / "f" / "out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vaelab.errors.ConfigError: out=.../f/out: .../f is a file, not a directory
    """
    out = Path(out)
    path = out
    while (st := _stat(path, out)) is None and path != path.parent:
        path = path.parent  # the nearest existing ancestor decides whether mkdir can work
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"out={out}: {path} is a file, not a directory")
    if st is not None and not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"out={out}: no permission to write in {path}")
    if path == out:
        for name in names:
            entry = _stat(out / name.rstrip("/"), out)
            if entry is not None and stat.S_ISDIR(entry.st_mode) != name.endswith("/"):
                kind = "a directory" if name.endswith("/") else "a file"
                raise ConfigError(
                    f"out={out}: {out / name.rstrip('/')} exists and is not "
                    f"{kind}; explain writes {name.rstrip('/')} there"
                )
    return out


def write_files(out: str | Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write ``files`` (relative path to content) into ``out``, each atomically.

    On failure, the files and folders this call created are removed and the error is
    raised again (an OSError as a `ConfigError` naming the file). Files that existed
    before are replaced atomically, one at a time; other files are never touched.

    Parameters
    ----------
    out : str or Path
        The folder; created with its parents when missing.
    files : mapping of str to bytes
        Relative paths such as ``"explain.json"`` or ``"figures/a.png"``.

    Returns
    -------
    list of Path
        The files written, in order.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "out"
    >>> [p.name for p in write_files(out, {"a.txt": b"1", "figs/b.png": b"2"})]
    ['a.txt', 'b.png']
    """
    out = Path(out)
    new_dirs: list[Path] = []
    new_files: list[Path] = []
    written: list[Path] = []
    try:
        for rel, data in files.items():
            path = out / rel
            try:
                missing = []
                parent = path.parent
                while not parent.exists():
                    missing.append(parent)
                    parent = parent.parent
                for folder in reversed(missing):
                    folder.mkdir()
                    new_dirs.append(folder)
                existed = path.exists()
                atomic_write_bytes(path, data)
            except OSError as err:  # no space, no permission, a file where a folder goes
                raise ConfigError(f"out={out}: cannot write {path} ({err.strerror or err})") from None
            if not existed:
                new_files.append(path)
            written.append(path)
    except BaseException:
        for path in reversed(new_files):
            path.unlink(missing_ok=True)
        for folder in reversed(new_dirs):
            try:
                folder.rmdir()
            except OSError:  # not empty: something else wrote there meanwhile
                pass
        raise
    return written
