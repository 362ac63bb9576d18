"""Hugging Face ``tokenizer.json`` files of bytepiece models.

The file describes a ``tokenizers.Tokenizer`` that segments exactly as bytepiece
does, with the same ids:

* normalizer NFC;
* pre-tokenizer: the chunks bytepiece segments independently (a ``Split`` on
  ``.*\\n+|.+``, isolated), then ``ByteLevel``, which writes every byte as one
  printable character (GPT-2's table: ``Ġ`` is a space, ``Ċ`` a newline);
* model ``Unigram`` over those characters: a piece is the characters of its
  bytes, scored by its log-probability, so the lattice is bytepiece's lattice,
  pieces that are not UTF-8 included, and no byte fallback is needed;
* decoder ``ByteLevel``, back from characters to bytes.

``tokenizers`` computes the same float64 sums and breaks ties as bytepiece
does (the longest last piece wins), so the scores must be bytepiece's floats
exactly. Its JSON reader (serde_json without ``float_roundtrip``) reads a
17-digit decimal up to one ulp off, so each score is written as a decimal
that it reads exactly (``json_float``); for the few floats that have none,
exact ties in bytepiece may break differently.

``<pad>``, ``<bos>``, ``<eos>`` keep ids 0..2 with a score so low that no text
is segmented into them, and are not registered as added tokens, so the text
"<bos>" is ordinary text, as in bytepiece. (Passing ``bos_token="<bos>"`` etc.
to ``transformers.PreTrainedTokenizerFast`` registers them, and then the
strings in text are read as the special tokens, as usual in Hugging Face.)

A model's user special tokens (format 2) are added tokens with their ids:
special, not normalized, matched whole in the text before anything else, as
bytepiece's ``encode(..., allowed_special="all")`` reads them.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from functools import lru_cache

from ..model import SPECIAL_TOKENS, Model
from ..normalize import ENCODE_CHUNK


@lru_cache(maxsize=1)
def byte_to_char() -> tuple[str, ...]:
    """GPT-2's printable character for each byte, as ``ByteLevel`` uses it.

    Printable Latin-1 bytes stand for themselves, the others for 256, 257, ...

    >>> byte_to_char()[ord("a")], byte_to_char()[ord(" ")], byte_to_char()[ord("\\n")]
    ('a', 'Ġ', 'Ċ')
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return tuple(table[b] for b in range(256))


def piece_to_chars(piece: bytes) -> str:
    """A piece as the ``ByteLevel`` characters of its bytes.

    >>> piece_to_chars(" the".encode()), piece_to_chars("é".encode())
    ('Ġthe', 'Ã©')
    """
    table = byte_to_char()
    return "".join(table[b] for b in piece)


def added_token(i: int, content: str) -> dict:
    """An entry of ``added_tokens``: a special token matched whole, never normalized."""
    return {"id": i, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": True}


def to_huggingface(model: Model, register_reserved: bool = False) -> dict:
    """The ``tokenizer.json`` object of a bytepiece model (see the module); with
    ``register_reserved``, ``<pad>``, ``<bos>``, ``<eos>`` are added tokens too (as
    transformers makes them when they are named in ``tokenizer_config.json``)."""
    scores = model.log_probs().tolist()
    tokens = [piece_to_chars(p) for p in model.pieces]
    # a special token must lose against any other way to cover its characters:
    # every character is a piece scoring at least min(scores)
    special_score = float(math.floor(min(scores) * (max(map(len, SPECIAL_TOKENS)) + 1)) - 100)
    taken = set(tokens)
    vocab = [[_unique(name, taken), special_score] for name in SPECIAL_TOKENS]
    vocab += [[t, s] for t, s in zip(tokens, scores)]
    first = len(vocab)
    added = [added_token(i, vocab[i][0]) for i in range(len(SPECIAL_TOKENS))] \
        if register_reserved else []
    added += [added_token(first + k, t) for k, t in enumerate(model.special_tokens)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                  "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": ENCODE_CHUNK.pattern},
             "behavior": "Isolated", "invert": False},
            byte_level,
        ]},
        "post_processor": None,
        "decoder": byte_level,
        "model": {"type": "Unigram", "unk_id": None, "vocab": vocab, "byte_fallback": False},
    }


def to_huggingface_json(model: Model, register_reserved: bool = False) -> bytes:
    """``to_huggingface`` as the UTF-8 bytes of a ``tokenizer.json`` file, scores
    written so that ``tokenizers`` reads back exactly bytepiece's floats."""
    tokenizer = to_huggingface(model, register_reserved)
    vocab = tokenizer["model"]["vocab"]
    tokenizer["model"]["vocab"] = "@VOCAB@"
    rows = ",\n".join(f"      [{json.dumps(token, ensure_ascii=False)}, {json_float(score)}]"
                       for token, score in vocab)
    text = json.dumps(tokenizer, ensure_ascii=False, indent=2)
    text = text.replace('"@VOCAB@"', "[\n" + rows + "\n    ]", 1)
    return text.encode("utf-8")


def serde_float(text: str) -> float:
    """The float serde_json (no ``float_roundtrip``) reads from a plain decimal:
    the digits as an integer rounded to a float, divided by the power of ten.

    >>> repr(serde_float("-7.9358863666952955")), repr(-7.9358863666952955)
    ('-7.935886366695296', '-7.9358863666952955')
    """
    negative = text.startswith("-")
    number, _, exponent = text.lstrip("-").lower().partition("e")
    whole, _, fraction = number.partition(".")
    power = int(exponent or 0) - len(fraction)
    value = float(int(whole + fraction))
    while power < -308 and value != 0.0:  # serde's table of powers ends at 1e308
        value /= 1e308
        power += 308
    scale = float(f"1e{min(abs(power), 308)}")
    value = value * scale if power >= 0 else value / scale
    return -value if negative else value


def json_float(x: float) -> str:
    """A JSON number that ``serde_float`` and correctly rounding readers (Python's)
    both read as exactly ``x``; repr(x) when there is none.

    ``repr`` is tried first; else decimals near ``x`` with 14 to 18 digits after
    the point (significands below 2**64, powers of ten exact). A few floats
    (about 3 in 8000) are reached by none: serde_json reads their repr one ulp off.

    >>> json_float(-10.156850931334588), json_float(-10.104207197849167)
    ('-10.156850931334588', '-10.1042071978491670')
    """
    text = repr(x)
    if not math.isfinite(x) or serde_float(text) == x:
        return text
    magnitude = Fraction(abs(x))
    sign = "-" if x < 0 else ""
    for places in range(14, 19):
        nearest = round(magnitude * 10 ** places)
        for step in range(64):
            for digits in (nearest + step, nearest - step):
                if (0 < digits < 2**64 and float(digits) / 10.0 ** places == abs(x)
                        and float(Fraction(digits, 10 ** places)) == abs(x)):
                    whole, fraction = divmod(digits, 10 ** places)
                    return f"{sign}{whole}.{fraction:0{places}d}"
    return text


def inexact_scores(model: Model) -> int:
    """How many scores ``tokenizers`` cannot read back exactly (see ``json_float``)."""
    return sum(serde_float(json_float(x)) != x for x in model.log_probs().tolist())


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or a variant of it when a piece already has that text (``<pad>`` is
    printable ASCII, the same in ByteLevel characters)."""
    while name in taken:
        name = "<" + name + ">"
    taken.add(name)
    return name
