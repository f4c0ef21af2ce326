"""How a token is shown to a person: the one place that turns a token's bytes into a label.

A byte-level BPE token is a byte string, and not every one is whole UTF-8 characters: a 4-byte
emoji may be split into tokens of 2 bytes each. Such a token has no text of its own, so it is
shown as its bytes (``b'\\xf0\\x9f'``) rather than as a replacement character that hides which
bytes it holds. The walkthrough, ``tokenize``, ``neighbors`` and the pictures all use
:func:`show_token`, so a token looks the same wherever it appears.
"""

from __future__ import annotations

__all__ = ["show_token"]


def show_token(token: bytes, *, quoted: bool = True, space: str = " ") -> str:
    """A token's bytes as a person reads them.

    Whole UTF-8 characters are shown as a Python string literal, ``repr(token.decode())``, so a
    leading space is visible between the quotes and a newline reads ``\\n``; other bytes are
    shown as a bytes literal, ``repr(token)``.

    Parameters
    ----------
    token : bytes
        One token, e.g. ``tokenizer.token_bytes(i)``.
    quoted : bool
        Keep the quotes (and the ``b`` of a bytes literal). The pictures drop them.
    space : str
        What each space is drawn as; the pictures pass ``"·"`` so a leading space shows
        without quotes around it.

    Returns
    -------
    str

    Examples
    --------
    >>> show_token(b" love"), show_token(b"\\xf0\\x9f")
    ("' love'", "b'\\\\xf0\\\\x9f'")
    >>> show_token(b" love\\n", quoted=False, space="·")
    '·love\\\\n'
    """
    try:
        shown = repr(token.decode("utf-8"))
    except UnicodeDecodeError:
        shown = repr(token)
    if not quoted:
        shown = shown[2:-1] if shown.startswith("b") else shown[1:-1]
    return shown.replace(" ", space)
