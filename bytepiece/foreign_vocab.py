"""The vocabularies of other libraries' model files, for ``bytepiece inspect``.

A SentencePiece ``.model`` is read with bytepiece's own protobuf reader and a
Hugging Face ``tokenizer.json`` as JSON, so neither library is needed. Each
becomes a ``Vocabulary``: the bytes every id spells (None for special, control,
unknown and unused tokens), the log-probabilities of a unigram model (BPE and
WordPiece files hold none), and the training settings the file records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import ModelError
from .model import read_model_file


@dataclass
class Vocabulary:
    """A model file's ids, as ``bytepiece inspect`` reports them.

    ``pieces[i]``: the bytes id ``i`` spells, None for a special token (or an id
    the file leaves out); ``scores[i]``: its log-probability (unigram models only,
    else ``scores`` is None; None for SentencePiece's byte-fallback pieces, which
    have none); ``settings``: training settings the file records.
    """

    kind: str
    model_type: str
    pieces: list[bytes | None]
    scores: list[float | None] | None
    settings: dict[str, object] | None


def read_vocabulary(path: str, kind: str) -> Vocabulary:
    """The vocabulary of the ``kind`` ("sentencepiece" or "huggingface") file at ``path``."""
    data = read_model_file(path)  # refuses files larger than any model
    if kind == "sentencepiece":
        return sentencepiece_vocabulary(data, path)
    return huggingface_vocabulary(data, path)


def sentencepiece_vocabulary(data: bytes, source: str = "<bytes>") -> Vocabulary:
    """A SentencePiece ``ModelProto``'s pieces (``▁`` as a space, ``<0xNN>`` as the byte),
    scores (unigram models) and trainer spec.

    >>> from bytepiece.convert.sentencepiece import write_model_proto
    >>> data = write_model_proto([("<unk>", 0.0, 2), ("\\u2581a", -1.0, 1), ("<0xE4>", 0.0, 6)],
    ...                          {"model_type": 1, "vocab_size": 3}, {})
    >>> v = sentencepiece_vocabulary(data)
    >>> v.model_type, v.pieces, v.scores, v.settings["vocab_size"]
    ('unigram', [None, b' a', b'\\xe4'], [0.0, -1.0, None], 3)
    """
    from .convert.sentencepiece import (BYTE, CONTROL, UNIGRAM, UNKNOWN, UNUSED,
                                        _parse_byte_piece, read_model_proto)

    proto = read_model_proto(data, source)
    settings = dict(proto.trainer_spec)
    model_type = settings.get("model_type", UNIGRAM)
    names = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}
    pieces: list[bytes | None] = []
    for piece, _, kind in proto.pieces:
        if kind in (CONTROL, UNKNOWN, UNUSED):
            pieces.append(None)
        elif kind == BYTE:
            pieces.append(bytes([_parse_byte_piece(piece, source)]))
        else:
            pieces.append(piece.replace("\u2581", " ").encode())
    if isinstance(model_type, int):
        settings["model_type"] = names.get(model_type, str(model_type))
    unigram = settings["model_type"] == "unigram" if "model_type" in settings else True
    # byte pieces are a fallback, not a piece of the distribution: their score means nothing
    scores = [None if kind == BYTE else score for _, score, kind in proto.pieces]
    return Vocabulary("sentencepiece", str(settings.get("model_type", "unigram")), pieces,
                      scores if unigram else None, settings)


def huggingface_vocabulary(data: bytes, source: str = "<bytes>") -> Vocabulary:
    """A ``tokenizer.json``'s tokens as bytes (ByteLevel characters mapped back to bytes,
    ``<0xNN>`` as the byte, ``▁`` as a space), scores of a Unigram model; added tokens
    marked special are None.

    >>> v = huggingface_vocabulary(b'{"added_tokens": [{"id": 0, "content": "<s>", '
    ...     b'"special": true}], "model": {"type": "Unigram", "vocab": [["<s>", 0.0], '
    ...     b'["\\\\u2581the", -2.5], ["<0x0A>", -9.0]]}}')
    >>> v.model_type, v.pieces, v.scores
    ('unigram', [None, b' the', b'\\n'], [0.0, -2.5, -9.0])
    """
    from .evaluate_models import _hf_token_bytes

    try:
        tokenizer = json.loads(data)
        model = tokenizer["model"]
        model_type = str(model.get("type") or ("BPE" if "merges" in model else "unknown"))
        vocab = model["vocab"]
        if isinstance(vocab, list):
            entries = {str(token): (i, float(score)) for i, (token, score) in enumerate(vocab)}
        else:
            entries = {str(token): (int(i), None) for token, i in vocab.items()}
        added = tokenizer.get("added_tokens") or []
        special = {int(t["id"]): str(t["content"]) for t in added if t.get("special")}
        for t in added:
            entries.setdefault(str(t["content"]), (int(t["id"]), None))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ModelError(f"model {source}: not a valid tokenizer.json ({type(e).__name__}: "
                         f"{e})") from None
    byte_level = '"ByteLevel"' in data.decode("utf-8", "replace")
    prefix = model.get("continuing_subword_prefix") if model_type == "WordPiece" else None
    size = max((i for i, _ in entries.values()), default=-1) + 1
    pieces: list[bytes | None] = [None] * size
    scores: list[float] | None = [0.0] * size if model_type == "Unigram" else None
    for token, (i, score) in entries.items():
        if i < 0:
            raise ModelError(f"model {source}: token {token!r} has the negative id {i}")
        if i in special:
            continue
        if prefix and token.startswith(prefix) and token != prefix:
            token = token[len(prefix):]
        pieces[i] = _hf_token_bytes(token, byte_level)
        if scores is not None and score is not None:
            scores[i] = score
    return Vocabulary("huggingface", model_type.lower(), pieces, scores, None)
