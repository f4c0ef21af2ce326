"""Real models in: Hugging Face model folders read into this package's input stage.

``safetensors.py`` reads and writes the weight files (NumPy alone, memory-mapped, no pickles);
``families.py`` says where each model family keeps its input stage and position scheme;
``load.py`` turns a folder into a :class:`PretrainedModel` (:func:`load_pretrained`).
"""

from minimal_embed.pretrained.load import PretrainedModel, load_pretrained
from minimal_embed.pretrained.safetensors import read_metadata, read_safetensors, write_safetensors

__all__ = ["PretrainedModel", "load_pretrained", "read_metadata", "read_safetensors",
           "write_safetensors"]
