"""Step 1 of the pipeline: text -> pieces -> token ids (byte-level BPE), and back."""

from minimal_embed.tokenizer import bpe, checks, file_format, rankfiles, tokenizer
from minimal_embed.tokenizer.tokenizer import (
    GPT2_PATTERN,
    GPT4_PATTERN,
    Tokenizer,
    count_pieces,
    load_tokenizer,
)

__all__ = ["Tokenizer", "GPT2_PATTERN", "GPT4_PATTERN", "load_tokenizer", "count_pieces",
           "bpe", "checks", "file_format", "rankfiles", "tokenizer"]
