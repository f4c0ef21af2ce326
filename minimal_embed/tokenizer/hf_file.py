"""Hugging Face's ``tokenizer.json``: the one file most published models ship, read and written.

The file is JSON describing a pipeline: ``normalizer`` -> ``pre_tokenizer`` -> ``model`` ->
``post_processor``, with a ``decoder`` and ``added_tokens`` (special tokens matched in the raw
text first). :func:`load_hf_tokenizer` reads the three model families of the README's table
into the package's tokenizers:

- ``BPE`` with the ``ByteLevel`` pre-tokenizer (GPT-2, GPT-4-style splits through an extra
  ``Split`` regex): :class:`~.tokenizer.Tokenizer`; :func:`write_bpe` writes one back;
- ``WordPiece`` with BERT's pre-tokenizer: :class:`~.wordpiece.WordPieceTokenizer`;
- ``Unigram`` with ``Metaspace``: :class:`~.unigram.UnigramTokenizer`.

**Merges and ranks.** A BPE file lists its merges in priority order and gives every token an
id; ``tokenizers`` applies the highest-priority merge present, our Tokenizer the pair whose
joined token has the lowest id (rank == id). The two agree when the file's merges are exactly
what :func:`~.rankfiles.merges_from_ranks` recovers from the ids: merge ``i`` is what the
encoding rule leaves of the ``i``-th longer token using only lower ranks. That holds for every
trained file (GPT-2's included); a file whose merge order disagrees with its ids (a hand-edited
list, two merges making one token, a token no merge makes) would be encoded differently, so it
is refused with the first disagreement named, never silently re-ranked.

Anything else a file may ask for -- another model, normalizer or pre-tokenizer, special tokens
that strip spaces around them -- raises a ValueError naming it, rather than giving other ids.
A damaged file raises a ValueError naming the file, whatever field is wrong.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from minimal_embed._files import atomic_write
from minimal_embed.tokenizer import normalizers as norm
from minimal_embed.tokenizer.patterns import GPT2_PATTERN, GPT4_PATTERN
from minimal_embed.tokenizer.rankfiles import byte_alphabet, merges_from_ranks
from minimal_embed.tokenizer.tokenizer import Tokenizer
from minimal_embed.tokenizer.unigram import UnigramTokenizer
from minimal_embed.tokenizer.word_tokenizer import Template
from minimal_embed.tokenizer.wordpiece import WordPieceTokenizer

PathLike = str | os.PathLike
# The published spellings of the two known splits, as HF files carry them (tokenizers' regex
# engine, Oniguruma, reads `{1,3}+` as a repetition, not as regex's possessive `{1,3}`).
_HF_SPELLING = {
    GPT2_PATTERN: r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    GPT4_PATTERN: r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
                  r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}
_OURS = {spelling: pattern for pattern, spelling in _HF_SPELLING.items()}
_ISOLATED = "(?:{p})|(?:(?!(?:{p}))(?s:.))+"  # a match, or a run of text where none starts
_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
               "use_regex": True}


def load_hf_tokenizer(path: PathLike) -> Tokenizer | WordPieceTokenizer | UnigramTokenizer:
    """Read a ``tokenizer.json`` (or a model folder holding one) into the matching tokenizer.

    Returns
    -------
    Tokenizer, WordPieceTokenizer or UnigramTokenizer
        For a byte-level ``BPE``, a ``WordPiece`` and a ``Unigram`` model; each encodes as
        ``tokenizers`` does (``encode(text, allowed_special="all")`` is its
        ``encode(text, add_special_tokens=False).ids``; ``add_special_tokens=True`` on the two
        word models is its default ``encode``).

    Raises
    ------
    FileNotFoundError
        If there is no such file (or no ``tokenizer.json`` in the folder).
    ValueError
        If the file is not valid JSON of that shape, or asks for a model type, normalizer,
        pre-tokenizer or post-processor that is not supported (the message names it).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> tok = Tokenizer.train("low lower lowest", 260, special_tokens=["<|endoftext|>"])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     tok.to_hf(pathlib.Path(folder) / "tokenizer.json")
    ...     load_hf_tokenizer(folder) == tok
    True
    """
    spec, name = _read(path)
    with _named(name):
        kind = _field(spec["model"], "type", str, f"{name}: model")
        if kind == "BPE":
            ranks, pattern, special_tokens = _bpe_parts(spec, name)
            return _built(Tokenizer, name, ranks, pattern=pattern, special_tokens=special_tokens)
        if kind == "WordPiece":
            return _wordpiece(spec, name)
        if kind == "Unigram":
            return _unigram(spec, name)
    raise ValueError(f"{name}: model type {kind!r} is not supported; supported are 'BPE' "
                     "(byte-level), 'WordPiece' and 'Unigram'")


def read_bpe(path: PathLike) -> tuple[dict[bytes, int], str, dict[str, int]]:
    """A byte-level BPE ``tokenizer.json`` as ``(ranks, pattern, special_tokens)``.

    Raises
    ------
    ValueError
        As :func:`load_hf_tokenizer`, and if the model is not ``BPE``.
    """
    spec, name = _read(path)
    with _named(name):
        kind = _field(spec["model"], "type", str, f"{name}: model")
        if kind != "BPE":
            raise ValueError(f"{name}: model type {kind!r} is not byte-level BPE; "
                             "load_hf_tokenizer reads WordPiece and Unigram files")
        return _bpe_parts(spec, name)


def format_bpe(ranks: Mapping[bytes, int], pattern: str, special_tokens: Mapping[str, int]
               ) -> str:
    """A byte-level BPE ``tokenizer.json`` (as text) for ranks, a split pattern and specials.

    Tokens are written in GPT-2's byte alphabet, the merges recovered from the ranks
    (:func:`~.rankfiles.merges_from_ranks`), special tokens both in ``added_tokens`` and in the
    vocabulary (as GPT-2's file has them). :data:`GPT2_PATTERN` becomes ``ByteLevel``'s own
    split; any other pattern a ``Split`` step, GPT-4's in its published spelling, others as
    they are (subtle: ``tokenizers`` reads them with Oniguruma, which agrees with ``regex`` on
    the usual syntax but not on possessive ``{m,n}+``).

    Raises
    ------
    ValueError
        If a token cannot be written as a merge of two lower-ranked tokens.
    """
    alphabet = byte_alphabet()

    def as_text(token: bytes) -> str:
        return "".join(alphabet[byte] for byte in token)

    vocab = {as_text(token): rank for token, rank in sorted(ranks.items(), key=lambda i: i[1])}
    vocab.update(sorted(special_tokens.items(), key=lambda item: item[1]))
    merges = [[as_text(left), as_text(right)] for left, right in merges_from_ranks(dict(ranks))]
    if pattern == GPT2_PATTERN:
        pre_tokenizer: dict[str, Any] = dict(_BYTE_LEVEL)
    else:
        split = {"type": "Split", "pattern": {"Regex": _HF_SPELLING.get(pattern, pattern)},
                 "behavior": "Isolated", "invert": False}
        pre_tokenizer = {"type": "Sequence",
                         "pretokenizers": [split, dict(_BYTE_LEVEL, use_regex=False)]}
    added = [{"id": token_id, "content": text, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True}
             for text, token_id in sorted(special_tokens.items(), key=lambda item: item[1])]
    spec = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": pre_tokenizer,
        "post_processor": dict(_BYTE_LEVEL, trim_offsets=False),
        "decoder": dict(_BYTE_LEVEL),
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    return json.dumps(spec, ensure_ascii=False, indent=2)


def write_bpe(path: PathLike, ranks: Mapping[bytes, int], pattern: str,
              special_tokens: Mapping[str, int]) -> None:
    """Write :func:`format_bpe`'s file to ``path`` atomically (all of it, or nothing)."""
    content = format_bpe(ranks, pattern, special_tokens).encode("utf-8")
    atomic_write(path, lambda file: file.write(content))


# --- reading: the file, its added tokens and its steps -------------------------------------------


def _read(path: PathLike) -> tuple[dict, str]:
    """The JSON object of ``path`` (a folder: its tokenizer.json) and the name errors use."""
    path = Path(path)
    if path.is_dir():
        path = path / "tokenizer.json"
    name = str(path)
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{name}: not UTF-8 text ({error})") from None
    except (ValueError, RecursionError) as error:  # bad JSON, nested too deeply, 5000 digits
        raise ValueError(f"{name}: not valid JSON: {str(error)[:200]}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise ValueError(f"{name}: expected a JSON object with a 'model' object, as "
                         "tokenizers' Tokenizer.save writes")
    return spec, name


@contextlib.contextmanager
def _named(name: str) -> Iterator[None]:
    """Turn what a malformed file makes the reader raise into a ValueError that names it."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise ValueError(f"{name}: not a tokenizer.json of the expected shape "
                         f"({type(error).__name__}: {error})") from None
    except ValueError as error:
        if str(error).startswith(name):
            raise
        raise ValueError(f"{name}: {error}") from None


def _field(spec: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``spec[key]`` if ``spec`` is an object and the value has type ``kind``; else ValueError."""
    if not isinstance(spec, dict) or key not in spec:
        raise ValueError(f"{where}: expected an object with the key {key!r}")
    value, kinds = spec[key], kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise ValueError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


def _built(cls: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """``cls(*args, **kwargs)``, its TypeError or ValueError prefixed with the file's name."""
    try:
        return cls(*args, **kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name}: {error}") from None


def _added_tokens(spec: dict, name: str, normalized_ok: bool) -> dict[str, int]:
    """``added_tokens`` as ``{text: id}``; ValueError for options we do not follow."""
    tokens: dict[str, int] = {}
    for number, entry in enumerate(spec.get("added_tokens") or []):
        where = f"{name}: added_tokens[{number}]"
        content = _field(entry, "content", str, where)
        for option in ("lstrip", "rstrip", "single_word"):
            if entry.get(option):
                raise ValueError(f"{where} ({content!r}) has {option}=true, which is not "
                                 "supported (its matching would take spaces around it)")
        if entry.get("normalized") and not normalized_ok:
            raise ValueError(f"{where} ({content!r}) is matched after normalising the text "
                             "(normalized=true), which is not supported with this normalizer")
        tokens[content] = _field(entry, "id", int, where)
    return tokens


def _steps(spec: Any, kind_key: str, list_key: str) -> list[dict]:
    """A step, or the steps of a ``Sequence`` of them, as a flat list (None: none)."""
    if spec is None:
        return []
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise ValueError(f"expected a {kind_key} object with a 'type', got {spec!r:.80}")
    if spec["type"] == "Sequence":
        return [step for item in spec.get(list_key) or [] for step in
                _steps(item, kind_key, list_key)]
    return [spec]


def _normalizer(spec: dict, name: str) -> norm.Normalizer | None:
    """The file's normalizer as one of :mod:`~.normalizers`' steps, or None."""
    steps: list[norm.Normalizer] = []
    for step in _steps(spec.get("normalizer"), "normalizer", "normalizers"):
        kind = step["type"]
        if kind == "BertNormalizer":
            steps.append(norm.BertNormalizer(
                bool(step.get("clean_text", True)), bool(step.get("handle_chinese_chars", True)),
                step.get("strip_accents"), bool(step.get("lowercase", True))))
        elif kind in ("NFC", "NFD", "NFKC", "NFKD"):
            steps.append(norm.UnicodeForm(kind))
        elif kind == "Lowercase":
            steps.append(norm.Lowercase())
        elif kind == "StripAccents":
            steps.append(norm.StripAccents())
        elif kind == "Precompiled":
            charsmap = base64.b64decode(_field(step, "precompiled_charsmap", str, name),
                                        validate=True)
            steps.append(norm.Precompiled(charsmap))
        elif kind == "Replace":
            pattern = _field(step, "pattern", dict, f"{name}: Replace")
            regex_text = pattern.get("Regex")
            steps.append(norm.Replace(pattern["String"] if regex_text is None else regex_text,
                                      _field(step, "content", str, f"{name}: Replace"),
                                      is_regex=regex_text is not None))
        elif kind == "Strip":
            steps.append(norm.Strip(bool(step.get("strip_left")),
                                    bool(step.get("strip_right"))))
        else:
            raise ValueError(f"{name}: normalizer {kind!r} is not supported; supported are "
                             "BertNormalizer, Precompiled, NFC, NFD, NFKC, NFKD, Lowercase, "
                             "StripAccents, Replace, Strip and a Sequence of them")
    if not steps:
        return None
    return steps[0] if len(steps) == 1 else norm.Sequence(tuple(steps))


def _template(spec: dict, name: str, special_tokens: dict[str, int]) -> Template | None:
    """The post-processor as a :class:`~.word_tokenizer.Template` (adding the tokens it names
    to ``special_tokens``), or None."""
    processor = spec.get("post_processor")
    if processor is None:
        return None
    kind = _field(processor, "type", str, f"{name}: post_processor")
    if kind in ("BertProcessing", "RobertaProcessing"):
        (cls, cls_id), (sep, sep_id) = processor["cls"], processor["sep"]
        special_tokens.setdefault(cls, cls_id)
        special_tokens.setdefault(sep, sep_id)
        single = ((cls, 0), ("A", 0), (sep, 0))
        if kind == "BertProcessing":
            return Template(single, (*single, ("B", 1), (sep, 1)))
        return Template(single, (*single, (sep, 0), ("B", 0), (sep, 0)))
    if kind != "TemplateProcessing":
        raise ValueError(f"{name}: post_processor {kind!r} is not supported; supported are "
                         "TemplateProcessing, BertProcessing and RobertaProcessing")
    names = processor.get("special_tokens") or {}
    for key, entry in names.items():
        ids, texts = entry.get("ids"), entry.get("tokens")
        if not (isinstance(ids, list) and isinstance(texts, list) and len(ids) == len(texts) == 1):
            raise ValueError(f"{name}: the template token {key!r} must stand for one token")
        special_tokens.setdefault(texts[0], ids[0])

    def items(which: str) -> tuple[tuple[str, int], ...]:
        parsed = []
        for item in processor.get(which) or []:
            if "Sequence" in item:
                parsed.append((item["Sequence"]["id"], int(item["Sequence"]["type_id"])))
            else:
                key = item["SpecialToken"]["id"]
                parsed.append((names[key]["tokens"][0], int(item["SpecialToken"]["type_id"])))
        return tuple(parsed)

    return Template(items("single"), items("pair"))


# --- the three models ----------------------------------------------------------------------------


def _bpe_parts(spec: dict, name: str) -> tuple[dict[bytes, int], str, dict[str, int]]:
    """Ranks, pattern and special tokens of a byte-level BPE file (see the module docstring)."""
    model = spec["model"]
    for option in ("dropout", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(option):
            raise ValueError(f"{name}: BPE with {option}={model[option]!r} is not supported")
    if model.get("byte_fallback"):
        raise ValueError(f"{name}: BPE with byte_fallback is not byte-level BPE; not supported")
    if _normalizer(spec, name) is not None:
        raise ValueError(f"{name}: a byte-level BPE file with a normalizer is not supported")
    pattern = _bpe_pattern(spec, name)
    processors = _steps(spec.get("post_processor"), "post_processor", "processors")
    if any(step["type"] != "ByteLevel" for step in processors):
        raise ValueError(f"{name}: post_processor {processors[0]['type']!r} is not supported "
                         "for BPE (the Tokenizer adds no tokens of its own)")
    special_tokens = _added_tokens(spec, name, normalized_ok=True)
    from_char = {character: byte for byte, character in enumerate(byte_alphabet())}
    ranks: dict[bytes, int] = {}
    for text, token_id in _field(model, "vocab", dict, f"{name}: model").items():
        if text in special_tokens:
            continue
        if any(character not in from_char for character in text) or not text:
            raise ValueError(f"{name}: vocab token {text!r} is not written in the ByteLevel "
                             "byte alphabet")
        ranks[bytes(from_char[character] for character in text)] = token_id
    for text, token_id in special_tokens.items():
        if token_id < len(ranks):
            raise ValueError(f"{name}: special token {text!r} has id {token_id}, among the "
                             f"ordinary ids 0..{len(ranks) - 1}; the Tokenizer keeps special ids "
                             "above the ordinary ones (as GPT-2's file does)")
    _check_merges(model.get("merges") or [], ranks, from_char, name)
    return ranks, pattern, special_tokens


def _bpe_pattern(spec: dict, name: str) -> str:
    """The split pattern of a ByteLevel pre-tokenizer, with or without a Split before it."""
    steps = _steps(spec.get("pre_tokenizer"), "pre_tokenizer", "pretokenizers")
    kinds = [step["type"] for step in steps]
    if kinds not in (["ByteLevel"], ["Split", "ByteLevel"]) or steps[-1].get("add_prefix_space"):
        raise ValueError(f"{name}: pre_tokenizer {kinds} is not supported for BPE; supported are "
                         "ByteLevel (add_prefix_space=false), or Split (a regex, Isolated) then "
                         "ByteLevel")
    if kinds == ["ByteLevel"]:
        if not steps[0].get("use_regex", True):
            raise ValueError(f"{name}: ByteLevel without its regex and without a Split is "
                             "not supported")
        return GPT2_PATTERN
    split, byte_level = steps
    regex_text = split.get("pattern", {}).get("Regex") if isinstance(split.get("pattern"),
                                                                     dict) else None
    if (not isinstance(regex_text, str) or split.get("behavior") != "Isolated"
            or split.get("invert") or byte_level.get("use_regex", True)):
        raise ValueError(f"{name}: only a Split by a regex (behavior Isolated, invert false) "
                         "followed by ByteLevel with use_regex=false is supported")
    return _OURS.get(regex_text, isolated(regex_text))


def isolated(pattern: str) -> str:
    """``pattern`` extended so that the text between its matches is a piece too (HF's
    ``Isolated``), where ``findall`` would drop it; a pattern written by this stays as it is.

    Examples
    --------
    >>> import regex
    >>> regex.findall(isolated(r"\\d+"), "ab12cd")
    ['ab', '12', 'cd']
    """
    extra = len(pattern) - len(_ISOLATED.format(p=""))  # twice the inner pattern's length
    if extra >= 0 and extra % 2 == 0 and _ISOLATED.format(p=pattern[3 : 3 + extra // 2]) == pattern:
        return pattern
    return _ISOLATED.format(p=pattern)


def _check_merges(merges: list, ranks: dict[bytes, int], from_char: dict[str, int],
                  name: str) -> None:
    """The file's merges must be those the ranks give (see the module docstring)."""
    try:
        expected = merges_from_ranks(ranks)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    for number, merge in enumerate(merges):
        parts = merge.split(" ") if isinstance(merge, str) else merge
        if not (isinstance(parts, list) and len(parts) == 2 and all(
                isinstance(part, str) and part and all(c in from_char for c in part)
                for part in parts)):
            raise ValueError(f"{name}: merges[{number}] must be two tokens, got {merge!r}")
        left, right = (bytes(from_char[c] for c in part) for part in parts)
        if number >= len(expected) or expected[number] != (left, right):
            rule = (f"by the ids, merge {number} is {expected[number][0]!r} + "
                    f"{expected[number][1]!r}" if number < len(expected) else "one too many")
            raise ValueError(
                f"{name}: merges[{number}] ({left!r} + {right!r}) disagrees with the ids "
                f"({rule}); encoding by rank would not give the file's tokens, so files "
                "whose merge order disagrees with their ids are not supported")
    if len(merges) != len(expected):
        raise ValueError(f"{name}: the file lists {len(merges)} merges, but its vocabulary "
                         f"has {len(expected)} tokens longer than a byte")


def _wordpiece(spec: dict, name: str) -> WordPieceTokenizer:
    """A WordPiece file with BERT's pre-tokenizer."""
    model = spec["model"]
    steps = _steps(spec.get("pre_tokenizer"), "pre_tokenizer", "pretokenizers")
    if [step["type"] for step in steps] != ["BertPreTokenizer"]:
        raise ValueError(f"{name}: pre_tokenizer {[s['type'] for s in steps]} is not supported "
                         "for WordPiece; supported is BertPreTokenizer")
    normalizer = _normalizer(spec, name)
    special_tokens = _added_tokens(spec, name, normalized_ok=normalizer is None)
    template = _template(spec, name, special_tokens)
    decoder = spec.get("decoder") or {}
    return _built(WordPieceTokenizer, name, _field(model, "vocab", dict, f"{name}: model"),
                  unk_token=model.get("unk_token", "[UNK]"),
                  prefix=model.get("continuing_subword_prefix") or "##",
                  max_word_chars=model.get("max_input_chars_per_word", 100),
                  normalizer=normalizer, special_tokens=special_tokens, template=template,
                  cleanup=bool(decoder.get("cleanup", True)))


def _unigram(spec: dict, name: str) -> UnigramTokenizer:
    """A Unigram file with Metaspace (after an optional WhitespaceSplit)."""
    model = spec["model"]
    steps = _steps(spec.get("pre_tokenizer"), "pre_tokenizer", "pretokenizers")
    kinds = [step["type"] for step in steps]
    if kinds not in (["Metaspace"], ["WhitespaceSplit", "Metaspace"]):
        raise ValueError(f"{name}: pre_tokenizer {kinds} is not supported for Unigram; "
                         "supported are Metaspace, and WhitespaceSplit then Metaspace")
    metaspace = steps[-1]
    prepend = metaspace.get("prepend_scheme")
    if prepend is None:  # files before tokenizers 0.19 say add_prefix_space
        prepend = "always" if metaspace.get("add_prefix_space", True) else "never"
    normalizer = _normalizer(spec, name)
    special_tokens = _added_tokens(spec, name, normalized_ok=normalizer is None)
    template = _template(spec, name, special_tokens)
    pieces = _field(model, "vocab", list, f"{name}: model")
    for number, piece in enumerate(pieces):
        if not (isinstance(piece, list) and len(piece) == 2):
            raise ValueError(f"{name}: model vocab[{number}] must be [token, score]")
    return _built(UnigramTokenizer, name, [(token, score) for token, score in pieces],
                  unk_id=model.get("unk_id"), byte_fallback=bool(model.get("byte_fallback")),
                  normalizer=normalizer, replacement=metaspace.get("replacement", "\u2581"),
                  prepend_scheme=prepend, split=bool(metaspace.get("split", True)),
                  whitespace_split=kinds[0] == "WhitespaceSplit",
                  special_tokens=special_tokens, template=template)
