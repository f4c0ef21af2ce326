"""Special-token text inside ordinary text: where it may become its id, and where it must not.

Special tokens (``<|endoftext|>``, ``[CLS]``, ``</s>``) are control ids, and their text in input
is a security boundary (tiktoken's semantics): each tokenizer cuts its text at the special
tokens the caller *allows* and refuses the text of those it *disallows*. All three tokenizers
(BPE, WordPiece, Unigram) share this one rule.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import regex

Names = Collection[str] | str  # "all", or a collection of special-token texts


class SpecialText:
    """Cuts text at special tokens, with the allowed / disallowed rules of ``encode``.

    ``special_tokens`` maps each special token's text to its id (already checked).

    Examples
    --------
    >>> cutter = SpecialText({"<|eot|>": 9})
    >>> cutter.cut("a<|eot|>b", allowed_special="all", disallowed_special="all")
    [('a', '<|eot|>'), ('b', None)]
    """

    def __init__(self, special_tokens: Mapping[str, int]) -> None:
        self.names = frozenset(special_tokens)
        self._regexes: dict[frozenset[str], regex.Pattern] = {}

    def allowed(self, names: Names, argument: str = "allowed_special") -> set[str]:
        """``names`` ("all" or a collection) as a set of special tokens.

        Subtle: stricter than tiktoken on purpose: an unknown name raises (tiktoken ignores it),
        so a misspelt ``"<|endoftxt|>"`` is noticed.

        Raises
        ------
        TypeError
            If ``names`` is one str other than "all", not a collection, or holds a non-str.
        ValueError
            If a name is not a special token.
        """
        if names == "all":
            return set(self.names)
        if isinstance(names, str) or not isinstance(names, Iterable):
            raise TypeError(f"{argument} must be 'all' or a collection of str, got {names!r}")
        names = list(names)
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"every name in {argument} must be a str, got "
                                f"{type(name).__name__}")
        unknown = set(names) - self.names
        if unknown:
            raise ValueError(
                f"{argument} names {sorted(unknown)}, which are not special tokens of this "
                f"tokenizer (it has {sorted(self.names)})"
            )
        return set(names)

    def cut(self, text: str, allowed_special: Names, disallowed_special: Names
            ) -> list[tuple[str, str | None]]:
        """``(ordinary text, special text or None)`` pairs: ``text`` cut at allowed tokens.

        ``disallowed_special``: "all" means every special token not allowed; ``()`` none (their
        text is then plain text).

        Raises
        ------
        ValueError
            If ``text`` contains a disallowed special token, or a name is unknown.
        """
        allowed = self.allowed(allowed_special)
        if disallowed_special == "all":
            disallowed = set(self.names) - allowed
        else:
            disallowed = self.allowed(disallowed_special, "disallowed_special")
        if disallowed:
            found = self._regex(disallowed).search(text)
            if found:
                raise ValueError(
                    f"text contains the special token {found.group()!r} at character "
                    f"{found.start()}; pass allowed_special={{{found.group()!r}}} to encode it "
                    "as a special token, or disallowed_special=() to encode it as plain text"
                )
        return self.segments(text, allowed)

    def segments(self, text: str, allowed: set[str]) -> list[tuple[str, str | None]]:
        """``text`` cut at the ``allowed`` special tokens, with no check for the others."""
        start = 0
        pieces: list[tuple[str, str | None]] = []
        if allowed:
            for found in self._regex(allowed).finditer(text):
                pieces.append((text[start : found.start()], found.group()))
                start = found.end()
        pieces.append((text[start:], None))
        return pieces

    def _regex(self, names: set[str]) -> regex.Pattern:
        """The (cached) regex matching any of ``names``."""
        key = frozenset(names)
        if key not in self._regexes:
            self._regexes[key] = alternation(names)
        return self._regexes[key]


def alternation(texts: Iterable[str]) -> regex.Pattern:
    """A regex matching any of ``texts`` (not empty), longest first so a longer token wins."""
    by_length = sorted(texts, key=lambda text: (-len(text), text))
    return regex.compile("|".join(regex.escape(text) for text in by_length))
