"""The tokenizers ``bytepiece eval`` measures: bytepiece, SentencePiece, Hugging Face.

``load_eval_model`` tells the kind of a model file by its content and wraps it
in an adapter with one method, ``encode_block``: a block of whole lines in,
the flat ids, the seconds the library's batch encoder took and the number of
lines that do not round-trip out. SentencePiece and tokenizers are optional
(the ``compare`` extra) and imported only for their own files.
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import InputError, ModelError
from .evaluate import (byte_lines_not_round_tripped, fallback_ids, lines_not_round_tripped,
                       split_lines)
from .normalize import nfc
from .token_array import line_ends

KINDS = ("bytepiece", "sentencepiece", "huggingface")
_EXTRA = "pip install 'bytepiece-numba[compare]'"
#: The first key of a tokenizer.json; none of them can be a bytepiece piece (base64).
_HF_FIRST_KEY = re.compile(
    rb'\s*\{\s*"(version|truncation|padding|added_tokens|normalizer|pre_tokenizer|'
    rb'post_processor|decoder|model)"\s*:')
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


@dataclass
class EncodedBlock:
    """A model's ids for a block (int64, all lines back to back), the seconds its
    encoder took, how many lines did not round-trip, and whether the block was
    NFC (None when the adapter did not need to know)."""

    ids: np.ndarray
    seconds: float
    bad_lines: int
    nfc_stable: bool | None = None


def model_kind(path: str) -> str:
    """"bytepiece", "sentencepiece" or "huggingface", from the start of the file.

    JSON whose first key is one of a tokenizer.json's is Hugging Face's, other
    JSON bytepiece's; a protobuf (first byte 0x0a) or a ``.model`` file
    SentencePiece's; anything else is left to bytepiece's loader to refuse.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError as e:
        raise ModelError(f"model {path}: cannot read: {e.strerror or e}") from None
    if head.lstrip().startswith(b"{"):
        return "huggingface" if _HF_FIRST_KEY.match(head) else "bytepiece"
    if head[:1] == b"\x0a" or path.endswith(".model"):
        return "sentencepiece"
    return "bytepiece"


def load_eval_model(path: str, threads: int | None = None):
    """The adapter of the model file at ``path`` (any of KINDS)."""
    kind = model_kind(path)
    if kind == "sentencepiece":
        return SentencePieceModel(path, threads)
    if kind == "huggingface":
        return HuggingFaceModel(path)
    return BytePieceModel(path, threads)


class BytePieceModel:
    """A bytepiece model: NFC, then the kernel over the whole block (no per-line Python)."""

    kind = "bytepiece"
    reference = "NFC text"
    unknown = None  # every byte is a piece

    def __init__(self, model, threads: int | None = None) -> None:
        from .small import SMALL_INPUT
        from .tokenizer import Tokenizer

        self.path = os.fspath(model) if isinstance(model, (str, os.PathLike)) else "<dict>"
        self.tokenizer = Tokenizer(model)
        self.threads = threads or os.cpu_count() or 1
        self.vocab_size = self.tokenizer.vocab_size
        self.fallback = fallback_ids([None] * 3 + list(self.tokenizer)[3:])
        # load the kernel now, so the first block's time is not numba's start-up
        self.encode_block("a\u00e9\n" * (SMALL_INPUT // 3 + 1))

    def encode_block(self, text: str, data: bytes | None = None) -> EncodedBlock:
        """Ids of the lines of ``text`` (``data``: its UTF-8 bytes, if at hand)."""
        started = time.perf_counter()
        if data is not None and data.isascii():
            stable, encoded = True, data
        else:
            stable = unicodedata.is_normalized("NFC", text)
            encoded = (data if data is not None else text.encode()) if stable else \
                nfc(text).encode()
        buf = np.frombuffer(encoded, np.uint8)
        ends = line_ends(buf)
        ids, token_ends = self.tokenizer.encode_buffer(buf, ends, num_threads=self.threads)
        seconds = time.perf_counter() - started
        bad = byte_lines_not_round_tripped(buf, ends, ids.astype(np.int64), token_ends,
                                           self.tokenizer.piece_table())
        return EncodedBlock(ids.astype(np.int64), seconds, bad, stable)


class SentencePieceModel:
    """A SentencePiece ``.model``, through its batch encoder over the block's lines."""

    kind = "sentencepiece"
    reference = "text"

    def __init__(self, path: str, threads: int | None = None) -> None:
        try:
            import sentencepiece
        except ImportError:
            raise InputError(f"model {path} is a SentencePiece model: measuring it needs the "
                             f"sentencepiece library ({_EXTRA})") from None
        self.path = path
        self.threads = threads or os.cpu_count() or 1
        try:
            self.sp = sentencepiece.SentencePieceProcessor(model_file=path)
        except (OSError, RuntimeError, ValueError) as e:
            raise ModelError(f"model {path}: not a bytepiece, SentencePiece or tokenizer.json "
                             f"model (sentencepiece: {_first_line(e)})") from None
        sp = self.sp
        self.vocab_size = sp.get_piece_size()
        pieces: list[bytes | None] = []
        for i in range(self.vocab_size):
            piece = sp.id_to_piece(i)
            if sp.is_byte(i):
                pieces.append(bytes([int(piece[3:5], 16)]))
            elif sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
                pieces.append(None)
            else:
                pieces.append(piece.replace("\u2581", " ").encode())
        self.fallback = fallback_ids(pieces)
        self.unknown = np.array([sp.is_unknown(i) for i in range(self.vocab_size)], bool)

    def encode_block(self, text: str, data: bytes | None = None) -> EncodedBlock:
        lines = split_lines(text)
        started = time.perf_counter()
        batch = self.sp.encode(lines, out_type=int, num_threads=self.threads)
        seconds = time.perf_counter() - started
        bad = lines_not_round_tripped(self.sp.decode(batch), lines)
        return EncodedBlock(_flat(batch), seconds, bad)


class HuggingFaceModel:
    """A Hugging Face ``tokenizer.json``, through ``encode_batch`` over the block's lines
    (no special tokens added; tokenizers picks its own threads, see RAYON_NUM_THREADS)."""

    kind = "huggingface"
    reference = "text"

    def __init__(self, path: str) -> None:
        try:
            import tokenizers
        except ImportError:
            raise InputError(f"model {path} is a Hugging Face tokenizer.json: measuring it "
                             f"needs the tokenizers library ({_EXTRA})") from None
        self.path = path
        try:
            self.tokenizer = tokenizers.Tokenizer.from_file(path)
        except Exception as e:  # noqa: BLE001 - tokenizers raises plain Exceptions
            raise ModelError(f"model {path}: not a valid tokenizer.json "
                             f"(tokenizers: {_first_line(e)})") from None
        vocab = self.tokenizer.get_vocab(with_added_tokens=True)
        self.vocab_size = max(self.tokenizer.get_vocab_size(with_added_tokens=True),
                              max(vocab.values(), default=-1) + 1)
        byte_level = '"ByteLevel"' in self.tokenizer.to_str()
        pieces: list[bytes | None] = [None] * self.vocab_size
        for token, i in vocab.items():
            pieces[i] = _hf_token_bytes(token, byte_level)
        self.fallback = fallback_ids(pieces)
        self.unknown = np.zeros(self.vocab_size, bool)
        unk = json.loads(self.tokenizer.to_str()).get("model", {}).get("unk_token")
        if isinstance(unk, str) and unk in vocab:
            self.unknown[vocab[unk]] = True

    def encode_block(self, text: str, data: bytes | None = None) -> EncodedBlock:
        lines = split_lines(text)
        started = time.perf_counter()
        encodings = self.tokenizer.encode_batch(lines, add_special_tokens=False)
        seconds = time.perf_counter() - started
        batch = [e.ids for e in encodings]
        decoded = self.tokenizer.decode_batch(batch, skip_special_tokens=False)
        return EncodedBlock(_flat(batch), seconds, lines_not_round_tripped(decoded, lines))


def _hf_token_bytes(token: str, byte_level: bool) -> bytes:
    """The bytes a tokenizers vocabulary entry stands for: ``<0xNN>`` byte-fallback
    tokens are one byte; with ByteLevel, each character is GPT-2's stand-in for a byte."""
    match = _BYTE_PIECE.fullmatch(token)
    if match:
        return bytes([int(match.group(1), 16)])
    if byte_level:
        table = _char_to_byte()
        if all(c in table for c in token):
            return bytes(table[c] for c in token)
    return token.replace("\u2581", " ").encode("utf-8", "surrogatepass")


@lru_cache(maxsize=1)
def _char_to_byte() -> dict[str, int]:
    from .convert.huggingface import byte_to_char

    return {c: b for b, c in enumerate(byte_to_char())}


def _flat(batch: list[list[int]]) -> np.ndarray:
    from itertools import chain

    total = sum(map(len, batch))
    return np.fromiter(chain.from_iterable(batch), np.int64, total)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
