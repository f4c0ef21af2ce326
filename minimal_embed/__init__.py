"""minimal_embed: how a language model turns text into its input vectors, in NumPy.

text -> pieces (split pattern) -> token ids (byte-level BPE) -> token vectors (E[ids])
     -> + position vectors (sinusoidal / learned) -> input embeddings (seq_len, batch, d_model)

The public names are re-exported here; see README.md for a tour in pipeline order.
"""

from minimal_embed import data
from minimal_embed.embedding import Embedding, SparseRows
from minimal_embed.optim import SGD, Adam
from minimal_embed.tokenizer import GPT2_PATTERN, GPT4_PATTERN, Tokenizer, load_tokenizer

__all__ = ["data", "Embedding", "SparseRows", "SGD", "Adam",
           "Tokenizer", "GPT2_PATTERN", "GPT4_PATTERN", "load_tokenizer"]
