"""Run directories as places on disk: who may write one, and what `--overwrite` may remove.

Three rules keep a user's files safe:

- A run directory appears whole or not at all. `create_run_dir` builds it in a
  hidden sibling (``.NAME.vaelab-new-PID``) and renames it into place once its
  first files are written, so a run killed at any moment leaves either nothing or
  a directory with a complete ``config.json``.
- One writer at a time. `RunLock` holds an exclusive ``fcntl.flock`` on
  ``RUN/.vaelab.lock`` while a process trains into RUN. The kernel drops the lock
  when the process dies, so a lock left by a killed run never blocks a resume.
- ``--overwrite`` replaces only what vaelab wrote. It applies to a directory that
  is recognisably a vaelab run (a ``config.json`` with vaelab's keys) and removes
  only the files in `RUN_FILES`; anything else in the directory stays. A directory
  that is not a run, and not empty, is refused with the names of what is in it.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path

from vaelab.errors import RunDirError

LOCK = ".vaelab.lock"
# Every file vaelab writes into a run directory (relative paths). --overwrite and a
# fresh start remove these and nothing else.
RUN_FILES = (
    "config.json",
    "model.safetensors",
    "metrics.jsonl",
    "summary.json",
    "checkpoint.safetensors",
    "checkpoint.prev.safetensors",
    "evaluation.json",
    "samples.npy",
    "figures/samples.png",
    "figures/reconstructions.png",
)
_STAGING = ".vaelab-new-"


def check_out_path(path: Path) -> Path:
    """Where a new run directory will go, refused early when it cannot be one.

    A symlink is followed on purpose (a link to a roomier disk is a common setup);
    a dangling link, a path below a regular file and an existing non-directory
    (``/dev/null``, a file) are refused, naming what is in the way.

    Returns
    -------
    Path
        The absolute path the run directory will have.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise RunDirError(f"--out {path} is a symlink to {os.readlink(path)}, which does not exist")
    resolved = path.resolve()
    if resolved.exists() and not resolved.is_dir():
        raise RunDirError(f"--out {path} exists and is not a directory; give a directory path")
    for parent in resolved.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunDirError(f"--out {path} lies below {parent}, which is a file, not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise RunDirError(f"--out {path}: cannot create it in {parent} (not writable)")
            break
    if resolved.is_dir() and not os.access(resolved, os.W_OK | os.X_OK):
        raise RunDirError(f"--out {path} is not writable")
    return resolved


def is_run_dir(path: Path) -> bool:
    """True when ``path`` holds a ``config.json`` that vaelab wrote (format, version, model)."""
    config = Path(path) / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and {"format", "vaelab_version", "model"} <= set(data)


def foreign_entries(path: Path) -> list[str]:
    """Names in ``path`` that vaelab did not write (sorted; figures/ counted by its files)."""
    path = Path(path)
    ours = set(RUN_FILES) | {LOCK}
    found = []
    for entry in sorted(path.iterdir()):
        name = entry.name
        if name == "figures" and entry.is_dir() and not entry.is_symlink():
            found += [f"figures/{e.name}" for e in sorted(entry.iterdir()) if f"figures/{e.name}" not in ours]
        elif name not in ours and not is_temp_file(name) and name != "figures":
            found.append(name)
    return found


def is_temp_file(name: str) -> bool:
    """A temp file that an interrupted atomic write of vaelab's leaves (``.NAME.*.tmp``)."""
    return (
        name.startswith(".")
        and (name.endswith(".tmp") or name.endswith(".link"))
        and any(name.startswith(f".{Path(f).name}.") for f in RUN_FILES)
    )


def remove_temp_files(run_dir: Path) -> list[str]:
    """Delete the temp files of interrupted atomic writes in ``run_dir`` (and figures/)."""
    removed = []
    for folder in (Path(run_dir), Path(run_dir) / "figures"):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.is_file() and not entry.is_symlink() and is_temp_file(entry.name):
                entry.unlink(missing_ok=True)
                removed.append(entry.name)
    return removed


def clear_run_files(run_dir: Path, keep: tuple[str, ...] = ()) -> None:
    """Remove the files vaelab writes in a run directory (but ``keep``), and nothing else.

    ``config.json`` goes last, so that a process killed half-way still leaves a
    directory that `is_run_dir` recognises.
    """
    run_dir = Path(run_dir)
    for name in sorted(set(RUN_FILES) - set(keep), key=lambda n: n == "config.json"):
        path = run_dir / name
        if path.is_file() or path.is_symlink():
            path.unlink()
    remove_temp_files(run_dir)
    figures = run_dir / "figures"
    if figures.is_dir() and not figures.is_symlink() and not any(figures.iterdir()):
        figures.rmdir()


class RunLock:
    """An exclusive lock on a run directory, held while one process writes it.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with RunLock(d):
    ...         try:
    ...             RunLock(d).acquire()
    ...         except RunDirError as err:
    ...             print(str(err).split(":")[0].endswith("is in use by another vaelab process"))
    True
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            raise RunDirError(
                f"{self.path.parent} is in use by another vaelab process: "
                f"{_holder(self.path)}; wait for it to finish or stop it"
            ) from None
        holder = f"pid {os.getpid()} on {socket.gethostname()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, (holder + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (unlinking it would race)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text or "a process that has not yet written its name"


def create_run_dir(run_dir: Path, overwrite: bool, write_first_files) -> RunLock:
    """Create (or, with ``overwrite``, take over) ``run_dir`` under a held `RunLock`.

    ``write_first_files(directory)`` writes the run's first files (config.json,
    model.safetensors). A new directory is built in a hidden sibling and renamed
    into place afterwards, so it exists whole or not at all; on any error the
    sibling is removed. An existing run is locked first, then its vaelab files are
    removed and the first files written; user files in it are left alone.

    Returns
    -------
    RunLock
        Held; the caller releases it when training ends.
    """
    run_dir = Path(run_dir)
    if run_dir.exists():
        return _take_over(run_dir, overwrite, write_first_files)
    parent = run_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(run_dir)
    staging = parent / f".{run_dir.name}{_STAGING}{os.getpid()}"
    staging.mkdir()
    lock = RunLock(staging)
    try:
        lock.acquire()
        write_first_files(staging)
        try:
            os.rename(staging, run_dir)  # fails if run_dir appeared meanwhile
        except OSError as err:
            if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise RunDirError(f"{run_dir} was created by another process meanwhile") from None
            raise
        lock.path = run_dir / LOCK
        return lock
    except BaseException:
        lock.release()
        shutil.rmtree(staging, ignore_errors=True)  # ours alone: created above by this process
        raise


def _take_over(run_dir: Path, overwrite: bool, write_first_files) -> RunLock:
    entries = [e for e in run_dir.iterdir() if e.name != LOCK and not is_temp_file(e.name)]
    if entries and not is_run_dir(run_dir):
        shown = ", ".join(sorted(e.name for e in entries)[:5]) + (" ..." if len(entries) > 5 else "")
        raise RunDirError(
            f"--out {run_dir} is not empty and is not a vaelab run directory "
            f"(it holds {shown}); vaelab never deletes files it did not write: "
            "choose another --out"
        )
    if entries and not overwrite:
        raise RunDirError(
            f"run directory {run_dir} already holds a run; choose another --out, "
            "pass --overwrite to replace it, or --resume it"
        )
    lock = RunLock(run_dir).acquire()
    try:
        clear_run_files(run_dir, keep=("config.json",))  # replaced atomically next
        write_first_files(run_dir)
    except BaseException:
        lock.release()
        raise
    return lock


def _remove_stale_staging(run_dir: Path) -> None:
    """Remove hidden staging siblings of ``run_dir`` left by killed processes (unlocked ones)."""
    for staging in run_dir.parent.glob(f".{run_dir.name}{_STAGING}*"):
        if not staging.is_dir() or staging.is_symlink() or foreign_entries(staging):
            continue
        try:
            with RunLock(staging):
                shutil.rmtree(staging)
        except RunDirError:
            continue  # another process is still building it
