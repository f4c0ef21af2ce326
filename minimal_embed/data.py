"""Where the bundled files live: the corpus and the artefacts trained from it."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
# data/ sits at the top of a checkout; a (non-editable) pip install copies it into the package
# as minimal_embed/_data (package_dir in setup.cfg), so that copy is looked in first
_DATA_DIRS = (_PACKAGE_DIR / "_data", _PACKAGE_DIR.parent / "data")


def data_dir() -> Path:
    """Return the folder of bundled data: ``minimal_embed/_data`` if installed, else ``data/``.

    Raises FileNotFoundError if neither holds the bundled corpus (a broken install).
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
    """Return the absolute path of a bundled file; ``name`` is relative to :func:`data_dir`.

    Raises FileNotFoundError if the file is not bundled; the message lists what is.

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
    """Return the bundled corpus files, ``data/corpus/*.txt`` (UTF-8, one per topic), by name."""
    return sorted(path("corpus").glob("*.txt"))  # sorted: every run reads them in one order


def corpus_text() -> str:
    """Return the whole bundled corpus as one string, its files joined in sorted order."""
    # each file ends with a newline, so joining them never glues two words together
    return "".join(file.read_text(encoding="utf-8") for file in corpus_files())
