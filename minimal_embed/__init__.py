"""minimal_embed: how a language model turns text into its input vectors, in NumPy.

text -> pieces (split pattern) -> token ids (byte-level BPE) -> token vectors (E[ids])
     -> + position vectors (sinusoidal / learned) -> input embeddings (seq_len, batch, d_model)

The public names are re-exported here; see README.md for a tour in pipeline order.
"""

__version__ = "0.2.0"  # the one place the version is written (setup.cfg reads it)

from minimal_embed import data, schemes
from minimal_embed.attention import (
    attend,
    attend_backward,
    attention_scores,
    softmax,
    softmax_backward,
)
from minimal_embed.checkpoint import read_checkpoint, write_checkpoint
from minimal_embed.embedding import Embedding, SparseRows
from minimal_embed.layernorm import LayerNorm
from minimal_embed.model import AttentionLM, ModelConfig
from minimal_embed.optim import SGD, Adam
from minimal_embed.pipeline import InputEmbedding
from minimal_embed.positional import (
    LearnedPositions,
    add_positions,
    add_positions_backward,
    concat_positions,
    concat_positions_backward,
    scale_token_embeddings,
    scale_token_embeddings_backward,
    sinusoidal_table,
    sinusoidal_table_plain,
)
from minimal_embed.pretrained import load_pretrained, read_safetensors, write_safetensors
from minimal_embed.relative import (
    T5RelativeBias,
    alibi_bias,
    alibi_slopes,
    rel_shift,
    relative_sinusoids,
    rope,
    rope_backward,
    t5_relative_buckets,
    transformer_xl_scores,
)
from minimal_embed.schemes import POSITION_SCHEMES, PositionScheme, position_scheme
from minimal_embed.tokenizer import (
    GPT2_PATTERN,
    GPT4_PATTERN,
    Tokenizer,
    UnigramTokenizer,
    WordPieceTokenizer,
    count_pieces,
    load_hf_tokenizer,
    load_tokenizer,
    rankfiles,
)
from minimal_embed.train import TrainConfig, load_checkpoint, nearest_tokens

__all__ = ["__version__", "data", "rankfiles", "schemes",
           "Tokenizer", "GPT2_PATTERN", "GPT4_PATTERN", "load_tokenizer", "load_hf_tokenizer",
           "count_pieces",
           "WordPieceTokenizer", "UnigramTokenizer",
           "Embedding", "SparseRows",
           "sinusoidal_table", "sinusoidal_table_plain", "LearnedPositions", "add_positions",
           "add_positions_backward", "concat_positions", "concat_positions_backward",
           "scale_token_embeddings", "scale_token_embeddings_backward",
           "attention_scores", "softmax", "softmax_backward", "attend", "attend_backward",
           "alibi_slopes", "alibi_bias", "t5_relative_buckets", "T5RelativeBias", "rope",
           "rope_backward", "relative_sinusoids", "rel_shift", "transformer_xl_scores",
           "POSITION_SCHEMES", "PositionScheme", "position_scheme",
           "LayerNorm", "InputEmbedding", "read_checkpoint", "write_checkpoint",
           "SGD", "Adam", "AttentionLM", "ModelConfig", "TrainConfig", "load_checkpoint",
           "nearest_tokens", "load_pretrained", "read_safetensors", "write_safetensors"]
