"""Where the bundled files live: the corpus and the artefacts trained from it.

The files sit in ``data/`` at the top of a checkout. A (non-editable) ``pip install`` copies that
folder into the installed package as ``minimal_embed/_data`` (see ``package_dir`` in setup.cfg),
so :func:`path` looks there first and falls back to the checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_DATA_DIRS = (_PACKAGE_DIR / "_data", _PACKAGE_DIR.parent / "data")


def data_dir() -> Path:
    """Return the folder that holds the bundled data.

    Returns
    -------
    pathlib.Path
        ``minimal_embed/_data`` in an installed package, ``data/`` in a checkout.

    Raises
    ------
    FileNotFoundError
        If neither folder holds the bundled corpus (a broken install).
    """
    for folder in _DATA_DIRS:
        if (folder / "corpus").is_dir():
            return folder
    searched = ", ".join(str(folder) for folder in _DATA_DIRS)
    raise FileNotFoundError(
        f"the bundled data folder was not found (looked in {searched}); "
        "reinstall the package with `pip install .` from a complete checkout"
    )


def path(name: str) -> Path:
    """Return the path of one bundled file, e.g. ``path("corpus")`` or ``path("tokenizer.txt")``.

    Parameters
    ----------
    name : str
        A path relative to the data folder.

    Returns
    -------
    pathlib.Path
        The absolute path; it exists.

    Raises
    ------
    FileNotFoundError
        If the file is not bundled; the message lists what is.

    Examples
    --------
    >>> path("corpus").is_dir()
    True
    """
    folder = data_dir()
    target = folder / name
    if not target.exists():
        available = ", ".join(sorted(p.name for p in folder.iterdir() if p.name != "__pycache__"))
        raise FileNotFoundError(f"no bundled file {name!r} in {folder}; available: {available}")
    return target


def corpus_files() -> list[Path]:
    """Return the bundled corpus files (``data/corpus/*.txt``) in sorted order.

    Returns
    -------
    list of pathlib.Path
        One UTF-8 text file per topic, sorted by name so every run reads them in the same order.
    """
    return sorted(path("corpus").glob("*.txt"))


def corpus_text() -> str:
    """Return the whole bundled corpus as one string, files joined in sorted order.

    Each file ends with a newline, so joining them never glues two words together.
    """
    return "".join(file.read_text(encoding="utf-8") for file in corpus_files())
