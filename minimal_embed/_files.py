"""Writing files so that a crash, a full disk or Ctrl-C never leaves half of one behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The temporary file lives in the same folder (a rename within one file system is atomic),
    is flushed and fsynced before the rename, and is removed if anything fails, so ``path``
    holds either its old content or the whole new one, and no stray temporary is left.

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
    FileNotFoundError
        If the folder does not exist; ``IsADirectoryError`` if ``path`` is a folder; and
        whatever ``write`` raises (after cleaning up).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.txt", lambda file: file.write(b"hello")).read_bytes()
    b'hello'
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{str(path)!r} is a folder; give a file name inside it")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"folder {str(folder)!r} does not exist; create it first or "
                                "choose another path")
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".partial")
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
