"""Step 1 of the pipeline: text -> pieces -> token ids (byte-level BPE), and back.

The modules in reading order; each docstring says what it adds:

- ``patterns``: text -> pieces, GPT-2's and GPT-4's split patterns (``Splitter``);
- ``array_split``: GPT-2's split of long texts as array rules (where the pieces start);
- ``bpe``: the plain definitions, pair counting and merging, ``train_plain``,
  ``merge_by_rank_plain``, ``merges_to_ranks``;
- ``bpe_train``: ``train``, the incremental trainer (``train_plain``'s merges, fast, whatever
  the pieces' length);
- ``hashing``: byte spans as int64 keys, a hash table and grouping in NumPy;
- ``token_pairs``: which two tokens join into a token, for merging in NumPy alone;
- ``bpe_encode``: the fast rank mergers and ``encode_piece`` / ``encode_pieces``;
- ``piece_cache``: each distinct piece of a text encoded once and remembered;
- ``checks``: the rules the arguments follow, with their errors;
- ``rankfiles``: other tools' vocabulary files (tiktoken, GPT-2's ``encoder.json`` + ``vocab.bpe``);
- ``file_format``: our own readable tokenizer file;
- ``special_text``, ``batches``: the special-token cut and the padded batch all three share;
- ``parallel``: texts and files cut into tasks, worker processes, encoding at scale;
- ``counting``: ``count_corpus`` (counting in worker processes), ``sum_counts``;
- ``tokenizer``: the ``Tokenizer`` class, ``count_pieces``, ``load_tokenizer``;
- ``normalizers``: BERT's cleaning, Unicode forms, case (for the word models);
- ``word_tokenizer``: the frame of the word models (``Template`` for ``[CLS]``/``[SEP]``);
- ``wordpiece``: ``WordPieceTokenizer`` (BERT); ``unigram``: ``UnigramTokenizer`` (T5);
- ``hf_file``: Hugging Face's ``tokenizer.json``, ``load_hf_tokenizer``.
"""

from minimal_embed.tokenizer import (
    array_split,
    batches,
    bpe,
    bpe_encode,
    bpe_train,
    checks,
    counting,
    file_format,
    hashing,
    hf_file,
    normalizers,
    parallel,
    patterns,
    piece_cache,
    rankfiles,
    special_text,
    token_pairs,
    tokenizer,
    unigram,
    word_tokenizer,
    wordpiece,
)
from minimal_embed.tokenizer.hf_file import load_hf_tokenizer
from minimal_embed.tokenizer.patterns import GPT2_PATTERN, GPT4_PATTERN
from minimal_embed.tokenizer.tokenizer import Tokenizer, count_pieces, load_tokenizer
from minimal_embed.tokenizer.unigram import UnigramTokenizer
from minimal_embed.tokenizer.wordpiece import WordPieceTokenizer

__all__ = ["Tokenizer", "WordPieceTokenizer", "UnigramTokenizer", "GPT2_PATTERN", "GPT4_PATTERN",
           "load_tokenizer", "load_hf_tokenizer", "count_pieces",
           "patterns", "array_split", "bpe", "bpe_train", "hashing", "token_pairs",
           "bpe_encode", "piece_cache", "checks", "rankfiles",
           "file_format", "special_text", "batches", "parallel", "counting", "tokenizer",
           "normalizers", "word_tokenizer", "wordpiece", "unigram", "hf_file"]
