"""Writing files so that a crash, a full disk or Ctrl-C never leaves half of one behind."""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["writable_path", "atomic_write"]


def writable_path(path: str | os.PathLike) -> Path:
    """``Path(path)`` if a file can be written there, else an OSError that says why.

    Checked before any long work (the command line calls it first): the name is not empty, is
    not a folder, and its folder exists, is a folder and is writable.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError
        Naming the path and what to do.
    """
    if str(path) == "":
        raise FileNotFoundError("no file name given (an empty string)")
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{str(target)!r} is a folder; give a file name inside it")
    folder = target.parent
    if not folder.exists():
        raise FileNotFoundError(f"folder {str(folder)!r} does not exist; create it first or "
                                "choose another path")
    if not folder.is_dir():
        raise NotADirectoryError(f"{str(folder)!r} is a file, not a folder")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"folder {str(folder)!r} is not writable")
    return target


def _remove_orphans(path: Path) -> None:
    """Delete temporaries beside ``path`` left by a writer that was killed (its process is gone)."""
    for orphan in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        pid = orphan.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            orphan.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The temporary file lives in the same folder (a rename within one file system is atomic),
    is flushed and fsynced before the rename, and is removed if anything fails, so ``path``
    holds either its old content or the whole new one, and no stray temporary is left. A
    writer killed outright cannot clean up: the next write to ``path`` removes the temporaries
    whose writing process is gone (their names carry its process id).

    Parameters
    ----------
    path : str or PathLike
        The file to create or replace; its folder must exist.
    write : callable
        Writes the content to the binary file object it is given.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError
        From :func:`writable_path`, and whatever ``write`` raises (after cleaning up).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.txt", lambda file: file.write(b"hello")).read_bytes()
    b'hello'
    """
    path = writable_path(path)
    _remove_orphans(path)
    # the writer's process id in the name: a later write can tell an orphan from a live writer
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                                         suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
