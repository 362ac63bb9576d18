"""A directory that ``transformers.AutoTokenizer.from_pretrained`` loads: a bytepiece
model as a ``PreTrainedTokenizerFast``.

Three files: ``tokenizer.json`` (``huggingface.to_huggingface``, with ``<pad>``,
``<bos>``, ``<eos>`` and the model's special tokens as added tokens),
``tokenizer_config.json`` (the class, the three tokens' roles, no clean-up of
spaces in decoding, the chat template if given) and ``special_tokens_map.json``.
The ids are bytepiece's: ordinary text as ``encode``, special tokens in text as
``encode(..., allowed_special="all")``.
"""

from __future__ import annotations

import json

from ..model import Model
from .huggingface import to_huggingface, to_huggingface_json


def transformers_files(model: Model, chat_template: str | None = None) -> dict[str, bytes]:
    """The files of the directory, by name, as bytes."""
    vocab = to_huggingface(model)["model"]["vocab"]
    pad, bos, eos = (vocab[i][0] for i in range(3))  # "<pad>"... unless a piece has the text
    roles = {"bos_token": bos, "eos_token": eos, "pad_token": pad}
    extra = list(model.special_tokens)
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **roles,
        "additional_special_tokens": extra,
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1_000_000_000_000_000_019_884_624_838_656,
        "add_bos_token": False,
        "add_eos_token": False,
    }
    if chat_template is not None:
        config["chat_template"] = chat_template
    special_map = {**roles, "additional_special_tokens": extra}
    return {
        "tokenizer.json": to_huggingface_json(model, register_reserved=True),
        "tokenizer_config.json": _json(config),
        "special_tokens_map.json": _json(special_map),
    }


def _json(value) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
