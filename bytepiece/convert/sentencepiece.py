"""SentencePiece models (``.model``, a serialized ``ModelProto``) from and to bytepiece models.

Writing: a unigram model with byte fallback and no normalization that
SentencePiece segments like bytepiece, with the same ids. SentencePiece piece
``i`` is bytepiece id ``i`` for every id of the bytepiece model:

* ids 0, 1, 2: ``<pad>``, ``<bos>``, ``<eos>`` as CONTROL pieces;
* a single byte 0x01..0x7f is the NORMAL piece of that character; 0x00 and
  the bytes from 0x80 up are SentencePiece's BYTE pieces ``<0xNN>`` (used only
  by byte fallback, for a character that no piece covers);
* a longer piece that is UTF-8 is a NORMAL piece; one that is not UTF-8, or
  holds a NUL, cannot be a SentencePiece piece: it becomes an UNUSED
  placeholder, so ids stay aligned, and SentencePiece never produces it;
* after bytepiece's ids come what SentencePiece requires and never produces
  here: the BYTE pieces of 0x01..0x7f (their characters are NORMAL pieces,
  so they never fall back to bytes) and ``<unk>`` (every byte is a piece).

Scores are bytepiece's log-probabilities, rounded to float32 (the proto's type).

Reading: a SentencePiece unigram model becomes a bytepiece model whose
log-probabilities are the SentencePiece scores (see ``from_sentencepiece``),
with a map from SentencePiece ids to bytepiece ids.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError
from ..model import N_SPECIAL, SPECIAL_TOKENS, Model
from .protobuf import (ProtobufError, as_float, field_bytes, field_float, field_varint,
                       iter_fields, signed32)

# ModelProto.SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM = 1  # TrainerSpec.ModelType
#: SentencePiece's meta symbol for a space when ``escape_whitespaces`` is on (U+2581).
SPACE_SYMBOL = "\u2581"
UNK_PIECE = "<unk>"


@dataclass
class SentencePieceModel:
    """The parts of a ``ModelProto`` that segmentation depends on.

    ``pieces``: ``(piece, score, type)`` in id order. ``trainer_spec`` and
    ``normalizer_spec``: field number -> value, for the fields this module
    knows (unknown fields are skipped when reading).
    """

    pieces: list[tuple[str, float, int]]
    trainer_spec: dict[int, object] = field(default_factory=dict)
    normalizer_spec: dict[int, object] = field(default_factory=dict)


# -- TrainerSpec and NormalizerSpec fields used here: number, name, kind ----------

_TRAINER_FIELDS = {
    3: ("model_type", "int"), 4: ("vocab_size", "int"), 10: ("character_coverage", "float"),
    20: ("max_sentencepiece_length", "int"), 21: ("split_by_unicode_script", "bool"),
    22: ("split_by_whitespace", "bool"), 23: ("split_by_number", "bool"),
    24: ("treat_whitespace_as_suffix", "bool"), 25: ("split_digits", "bool"),
    26: ("allow_whitespace_only_pieces", "bool"), 35: ("byte_fallback", "bool"),
    40: ("unk_id", "int"), 41: ("bos_id", "int"), 42: ("eos_id", "int"), 43: ("pad_id", "int"),
    45: ("unk_piece", "str"), 46: ("bos_piece", "str"), 47: ("eos_piece", "str"),
    48: ("pad_piece", "str"),
}
_NORMALIZER_FIELDS = {
    1: ("name", "str"), 2: ("precompiled_charsmap", "bytes"), 3: ("add_dummy_prefix", "bool"),
    4: ("remove_extra_whitespaces", "bool"), 5: ("escape_whitespaces", "bool"),
}
#: proto2 defaults of the fields above that matter when a model omits them.
_DEFAULTS = {"model_type": UNIGRAM, "byte_fallback": False, "add_dummy_prefix": True,
             "remove_extra_whitespaces": True, "escape_whitespaces": True,
             "treat_whitespace_as_suffix": False, "name": "", "precompiled_charsmap": b""}


def _encode_spec(values: dict[str, object], fields: dict[int, tuple[str, str]]) -> bytes:
    out = bytearray()
    for number, (name, kind) in sorted(fields.items()):
        if name not in values:
            continue
        value = values[name]
        if kind == "float":
            out += field_float(number, float(value))
        elif kind in ("str", "bytes"):
            out += field_bytes(number, value)
        else:
            out += field_varint(number, int(value))
    return bytes(out)


def _decode_spec(data: bytes, fields: dict[int, tuple[str, str]]) -> dict[str, object]:
    values: dict[str, object] = {}
    for number, _, raw in iter_fields(data):
        if number not in fields:
            continue
        name, kind = fields[number]
        wanted = bytes if kind in ("float", "str", "bytes") else int
        if not isinstance(raw, wanted) or (kind == "float" and len(raw) != 4):
            raise ProtobufError(f"field {number} ({name}) has the wrong wire type")
        if kind == "float":
            values[name] = as_float(raw)
        elif kind == "str":
            values[name] = raw.decode("utf-8", errors="replace")
        elif kind == "bytes":
            values[name] = bytes(raw)
        elif kind == "bool":
            values[name] = bool(raw)
        else:
            values[name] = signed32(raw)
    return values


# -- the ModelProto ----------------------------------------------------------------

def write_model_proto(pieces: list[tuple[str, float, int]], trainer_spec: dict[str, object],
                      normalizer_spec: dict[str, object]) -> bytes:
    """Serialize a ``ModelProto``: pieces (piece, score, type), then the two specs."""
    out = bytearray()
    for piece, score, kind in pieces:
        body = field_bytes(1, piece) + field_float(2, score)
        if kind != NORMAL:  # NORMAL is the default
            body += field_varint(3, kind)
        out += field_bytes(1, body)
    out += field_bytes(2, _encode_spec(trainer_spec, _TRAINER_FIELDS))
    out += field_bytes(3, _encode_spec(normalizer_spec, _NORMALIZER_FIELDS))
    return bytes(out)


def read_model_proto(data: bytes, source: str = "<bytes>") -> SentencePieceModel:
    """Parse a ``ModelProto``; raise ModelError when the bytes are not one."""
    pieces: list[tuple[str, float, int]] = []
    trainer: dict[str, object] = {}
    normalizer: dict[str, object] = {}
    try:
        for number, wire_type, value in iter_fields(data):
            if number == 1 and isinstance(value, bytes):
                piece, score, kind = "", 0.0, NORMAL
                for n, _, v in iter_fields(value):
                    if n == 1 and isinstance(v, bytes):
                        piece = v.decode("utf-8")
                    elif n == 2 and isinstance(v, bytes) and len(v) == 4:
                        score = as_float(v)
                    elif n == 3 and isinstance(v, int):
                        kind = v
                pieces.append((piece, score, kind))
            elif number == 2 and isinstance(value, bytes):
                trainer = _decode_spec(value, _TRAINER_FIELDS)
            elif number == 3 and isinstance(value, bytes):
                normalizer = _decode_spec(value, _NORMALIZER_FIELDS)
    except (ProtobufError, UnicodeDecodeError) as e:
        raise ModelError(f"model {source}: not a SentencePiece model ({e})") from None
    if not pieces:
        raise ModelError(f"model {source}: not a SentencePiece model (no pieces)")
    return SentencePieceModel(pieces, trainer, normalizer)


# -- bytepiece -> SentencePiece ------------------------------------------------------

def byte_piece(byte: int) -> str:
    """SentencePiece's name of the BYTE piece of a byte.

    >>> byte_piece(0xE4)
    '<0xE4>'
    """
    return f"<0x{byte:02X}>"


def to_sentencepiece(model: Model) -> bytes:
    """The serialized SentencePiece model of a bytepiece model (ids kept; see the module)."""
    scores = model.log_probs().astype(np.float32).tolist()
    texts = [_utf8_text(piece) for piece in model.pieces]
    taken = {t for t in texts if t is not None} | set(SPECIAL_TOKENS) | {UNK_PIECE}
    pieces: list[tuple[str, float, int]] = [(name, 0.0, CONTROL) for name in SPECIAL_TOKENS]
    for piece, text, score in zip(model.pieces, texts, scores):
        if len(piece) == 1 and (piece[0] >= 0x80 or piece[0] == 0):
            pieces.append((byte_piece(piece[0]), score, BYTE))
        elif text is None:
            pieces.append((_placeholder(piece, taken), 0.0, UNUSED))
        else:
            pieces.append((text, score, NORMAL))
    # SentencePiece wants all 256 BYTE pieces; those of characters 0x01..0x7f, which
    # are NORMAL pieces above and so never fall back to bytes, come after the ids
    pieces += [(byte_piece(b), 0.0, BYTE) for b in range(1, 0x80)]
    pieces.append((UNK_PIECE, 0.0, UNKNOWN))
    trainer = {
        "model_type": UNIGRAM, "vocab_size": len(pieces), "character_coverage": 1.0,
        "max_sentencepiece_length": max(map(len, model.pieces)),
        "split_by_unicode_script": False, "split_by_whitespace": False,
        "split_by_number": False, "split_digits": False, "treat_whitespace_as_suffix": False,
        "allow_whitespace_only_pieces": True, "byte_fallback": True,
        "unk_id": len(pieces) - 1, "bos_id": 1, "eos_id": 2, "pad_id": 0,
        "unk_piece": UNK_PIECE, "bos_piece": SPECIAL_TOKENS[1], "eos_piece": SPECIAL_TOKENS[2],
        "pad_piece": SPECIAL_TOKENS[0],
    }
    normalizer = {"name": "identity", "add_dummy_prefix": False,
                  "remove_extra_whitespaces": False, "escape_whitespaces": False}
    return write_model_proto(pieces, trainer, normalizer)


def _utf8_text(piece: bytes) -> str | None:
    """The text of a piece SentencePiece can hold: UTF-8 without NUL, else None."""
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\x00" in text else text


def _placeholder(piece: bytes, taken: set[str]) -> str:
    """A name for a piece that is not UTF-8, unlike any other piece's in the model.

    Placeholders are UNUSED pieces: their text only needs to be unique, since
    SentencePiece never outputs them; ``<bytepiece:HEX>`` names the bytes.
    """
    name = f"<bytepiece:{piece.hex()}>"
    while name in taken:
        name = "<" + name + ">"
    taken.add(name)
    return name


# -- SentencePiece -> bytepiece ------------------------------------------------------

#: Count given to the most probable piece when scores become counts (2**52: counts
#: stay exact in float64, and a piece 25 nats less probable still counts ~60000).
TOP_COUNT = 1 << 52


@dataclass
class Conversion:
    """A converted model, the SentencePiece id -> bytepiece id map (None: no
    equivalent, e.g. ``<unk>`` or UNUSED pieces), and notes on what differs."""

    model: Model
    id_map: list[int | None]
    notes: list[str]


def from_sentencepiece(data: bytes, source: str = "<bytes>") -> Conversion:
    """A bytepiece model from a serialized SentencePiece unigram model.

    Pieces become their UTF-8 bytes (``▁`` back to a space when the model
    escapes whitespace), BYTE pieces ``<0xNN>`` single bytes; the CONTROL
    pieces named by ``bos_piece``/``eos_piece``/``pad_piece`` map to bytepiece's
    ``<bos>``/``<eos>``/``<pad>``; ``<unk>``, other CONTROL and UNUSED pieces
    are left out. Counts are ``round(2**52 * exp(score - max score))``, and
    the bytes that no NORMAL piece covers take up the probability the scores
    leave (see ``_fill_fallback_bytes``), so bytepiece's log-probabilities
    log(count / total) are the scores, up to rounding.
    """
    sp = read_model_proto(data, source)
    spec = {**_DEFAULTS, **sp.trainer_spec}
    norm = {**_DEFAULTS, **sp.normalizer_spec}
    if spec["model_type"] != UNIGRAM:
        kinds = {2: "BPE", 3: "WORD", 4: "CHAR"}
        raise ModelError(f"model {source}: a SentencePiece "
                         f"{kinds.get(spec['model_type'], spec['model_type'])} model; "
                         f"only unigram models can be converted")
    notes = _normalizer_notes(norm, spec)
    unescape = bool(norm["escape_whitespaces"])
    specials = {spec.get("pad_piece", "<pad>"): 0, spec.get("bos_piece", "<s>"): 1,
                spec.get("eos_piece", "</s>"): 2}

    for piece, score, _ in sp.pieces:
        if not math.isfinite(score):
            raise ModelError(f"model {source}: piece {piece!r} has the score {score}; "
                             f"scores are finite log-probabilities")
    normal_scores = [s for _, s, k in sp.pieces if k in (NORMAL, USER_DEFINED)]
    if not normal_scores:
        raise ModelError(f"model {source}: no NORMAL pieces to convert")
    top = max(normal_scores + [s for _, s, k in sp.pieces if k == BYTE and s < 0])
    order: list[bytes] = []        # bytepiece pieces in id order
    counts: dict[bytes, int] = {}
    id_map: list[int | None | _Pending] = []
    scored: set[bytes] = set()  # pieces whose count comes from a NORMAL piece
    user_defined = 0
    for piece, score, kind in sp.pieces:
        if kind in (CONTROL, UNKNOWN):
            id_map.append(specials.get(piece) if kind == CONTROL else None)
            continue
        if kind == UNUSED:
            id_map.append(None)
            continue
        if kind == BYTE:
            # SentencePiece gives its BYTE pieces score 0 and uses them only as a fallback;
            # bytepiece's models converted to SentencePiece give them their log-probabilities
            key = bytes([_parse_byte_piece(piece, source)])
            count = max(1, round(TOP_COUNT * math.exp(score - top))) if score < 0 else 0
        else:
            user_defined += kind == USER_DEFINED
            text = piece.replace(SPACE_SYMBOL, " ") if unescape else piece
            key = text.encode("utf-8")
            count = max(1, round(TOP_COUNT * math.exp(score - top)))
        if key not in counts:
            order.append(key)
            counts[key] = count
        elif kind != BYTE:  # a NORMAL piece's score is the one SentencePiece segments with
            if key in scored:
                notes.append(f"pieces {piece!r} and another have the same bytes; "
                             f"the first one's score is kept")
            else:
                counts[key] = count
        if kind != BYTE:
            scored.add(key)
        id_map.append(_Pending(key))  # the id is known once every piece is placed
    for b in range(256):
        key = bytes([b])
        if key not in counts:
            counts[key] = 0
            order.append(key)
    ids = {piece: i + N_SPECIAL for i, piece in enumerate(order)}
    final_map = [ids[i.key] if isinstance(i, _Pending) else i for i in id_map]
    notes += _fill_fallback_bytes(counts, top, min(normal_scores))
    model = Model(order, np.array([counts[p] for p in order], np.int64), source)
    model = Model.from_dict(model.to_dict(), source)  # validate like any model file
    if user_defined:
        notes.append(f"{user_defined} USER_DEFINED pieces became ordinary pieces: "
                     f"SentencePiece always prefers them, bytepiece weighs them by score")
    if not spec["byte_fallback"]:
        notes.append("the model has no byte fallback: SentencePiece gives <unk> for "
                     "characters it does not know, bytepiece gives their bytes")
    return Conversion(model, final_map, notes)


def _fill_fallback_bytes(counts: dict[bytes, int], top: float, lowest: float) -> list[str]:
    """Give the bytes that no NORMAL piece covers (count 0 so far) their counts.

    The scores' probabilities sum to some Z, the counts to Z * TOP_COUNT /
    exp(top). When Z < 1 the missing mass 1 - Z goes to these bytes, so the
    total is TOP_COUNT / exp(top) and log(count / total) is exactly the score:
    bytepiece then ranks segmentations as SentencePiece does, whatever their
    number of pieces. That is safe while two such bytes score below every
    NORMAL piece: a character then never prefers its bytes to its own piece,
    and bytes stay a fallback, as in SentencePiece. Otherwise they get count 1
    and every log-probability is the score minus log(Z). Returns notes.
    """
    fallback = [p for p, c in counts.items() if c == 0]
    if not fallback:
        return []
    total = round(TOP_COUNT * math.exp(min(-top, 600.0)))  # no overflow
    spare = total - sum(counts.values())
    share = spare // len(fallback) if spare > 0 else 0
    if share >= 1 and 2 * math.log(share / total) < lowest - 1e-6:
        for p in fallback:
            counts[p] = share
        return [f"{len(fallback)} single bytes have no piece of their own (byte fallback): "
                f"they share the probability the scores leave, log-probabilities are "
                f"the scores"]
    for p in fallback:
        counts[p] = 1
    if total <= 0:  # a top score so high that its probability is above 1
        return [f"{len(fallback)} single bytes have no piece of their own and get count 1; "
                f"the scores are not log-probabilities (the highest is {top})"]
    z = (total - spare) / total
    return [f"{len(fallback)} single bytes have no piece of their own and get count 1; "
            f"the scores' probabilities sum to {z:.4f}, so log-probabilities are the "
            f"scores {'+' if z < 1 else '-'} {abs(math.log(z)):.4f}: segmentations into "
            f"different numbers of pieces may rank differently than in SentencePiece"]


@dataclass(frozen=True)
class _Pending:
    """An id map entry waiting for the bytepiece id of its piece."""

    key: bytes


def _parse_byte_piece(piece: str, source: str) -> int:
    if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
        try:
            return int(piece[3:5], 16)
        except ValueError:
            pass
    raise ModelError(f"model {source}: BYTE piece {piece!r} is not of the form <0xNN>")


def _normalizer_notes(norm: dict[str, object], spec: dict[str, object]) -> list[str]:
    """What SentencePiece does to text before segmenting it that bytepiece does not."""
    notes = []
    if norm["precompiled_charsmap"]:
        notes.append(f"SentencePiece normalizes text with the rule {norm['name'] or 'set'!r}; "
                     f"bytepiece applies NFC only: normalize input the same way to match")
    if norm["add_dummy_prefix"]:
        notes.append("SentencePiece adds a space in front of every text (add_dummy_prefix); "
                     "bytepiece does not: prepend one to match")
    if norm["remove_extra_whitespaces"]:
        notes.append("SentencePiece removes leading, trailing and repeated spaces "
                     "(remove_extra_whitespaces); bytepiece keeps them")
    if spec["treat_whitespace_as_suffix"]:
        notes.append("the model treats whitespace as a suffix; bytepiece sees plain spaces")
    return notes
