"""bytepiece: byte-level unigram tokenizers, BytePiece-compatible, on numba kernels.

``from bytepiece import Tokenizer, Trainer``; the heavy modules load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from .errors import BytePieceError, InputError, MemoryLimitError, ModelError

__version__ = "0.1.0"
__all__ = ["Tokenizer", "Trainer", "Model", "BytePieceError", "InputError", "ModelError",
           "MemoryLimitError"]

_LAZY = {"Tokenizer": ".tokenizer", "Trainer": ".trainer", "Model": ".model"}

if TYPE_CHECKING:  # pragma: no cover
    from .model import Model
    from .tokenizer import Tokenizer
    from .trainer import Trainer


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bytepiece' has no attribute {name!r}")
