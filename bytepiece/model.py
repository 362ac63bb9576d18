"""The BytePiece JSON model file: reading, validating and writing.

A model is ``{base64(piece_bytes): [id, piece_text, count]}``; ids 0, 1, 2 are
``<pad>``, ``<bos>``, ``<eos>`` and pieces take ids 3, 4, ... Every one of the
256 single bytes must be a piece, so any byte string can be segmented. The
file is the source of truth: whatever is derived from it (scores, trie) is
rebuilt from it.

Format 2 adds user special tokens after the last piece, each as the entry
``base64(utf8(token) + b"\xff"): [id, token, 0]`` (``bytepiece.special``): a count
of 0 marks it. BytePiece 0.6.3 still loads such a file, the tokens being pieces it
never uses (their log-probability is -inf and no text holds 0xFF).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass

import numpy as np

from .atomic import write_atomic
from .errors import InputError, ModelError
from .model_file import read_model_file
from .special import FORMAT_WITH_SPECIAL, KEY_MARK, check_special_tokens

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>")
N_SPECIAL = len(SPECIAL_TOKENS)
_MAX_COUNT = 2**62


@dataclass(frozen=True)
class Model:
    """Pieces and counts ordered by id: ``pieces[i]`` has id ``i + 3``; the special
    tokens follow: ``special_tokens[k]`` has id ``len(pieces) + 3 + k``."""

    pieces: list[bytes]
    counts: np.ndarray  # int64[n_pieces]
    source: str = "<dict>"
    special_tokens: tuple[str, ...] = ()

    # -- reading -------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Model":
        """Read and validate a model file; raise ModelError naming the file and the problem."""
        source = os.fspath(path)
        return cls.from_json(read_model_file(source), source)

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> "Model":
        """Parse and validate the bytes of a model file."""
        try:
            pairs = json.loads(raw, object_pairs_hook=_Pairs)
        except (UnicodeDecodeError, ValueError) as e:
            raise ModelError(f"model {source}: not a JSON model file ({_short(e)})") from None
        except RecursionError:
            raise ModelError(f"model {source}: not a JSON model file (nested too deeply)") from None
        return cls._from_pairs(pairs, source)

    @classmethod
    def from_dict(cls, pieces: dict, source: str = "<dict>") -> "Model":
        """Validate a pieces dict as json.load returns it (keys are base64 strings)."""
        if not isinstance(pieces, dict):
            raise ModelError(f"model {source}: expected a JSON object, got {type(pieces).__name__}")
        return cls._from_pairs(_Pairs(pieces.items()), source)

    @classmethod
    def _from_pairs(cls, pairs, source: str) -> "Model":
        if not isinstance(pairs, _Pairs):
            raise ModelError(f"model {source}: expected a JSON object of pieces, "
                             f"got {_json_type(pairs)}")
        n = len(pairs)
        by_id: list = [None] * n
        counts = np.empty(n, np.int64)
        seen: dict[bytes, str] = {}
        special: dict[int, str] = {}  # id -> token, for the entries of count 0
        b64decode = base64.b64decode
        for key, entry in pairs:
            where = f"model {source}: piece {key!r}" if len(key) <= 40 else \
                f"model {source}: piece {key[:40]!r}..."
            if type(entry) is not list or len(entry) != 3:
                raise ModelError(f"{where}: expected [id, text, count], got {_json_repr(entry)}")
            pid, text, count = entry
            try:
                piece = b64decode(key, validate=True)
            except (binascii.Error, ValueError):
                raise ModelError(f"{where}: key is not valid base64") from None
            if not piece:
                raise ModelError(f"{where}: empty piece")
            if type(pid) is not int:
                raise ModelError(f"{where}: id {_json_repr(pid)} is not an integer")
            if type(count) is not int:
                raise ModelError(f"{where}: count {_json_repr(count)} is not an integer")
            if type(text) is not str:
                raise ModelError(f"{where}: text {_json_repr(text)} is not a string")
            if not N_SPECIAL <= pid < n + N_SPECIAL:
                raise ModelError(f"{where}: id {pid} is out of range: {n} pieces "
                                 f"take ids {N_SPECIAL}..{n + N_SPECIAL - 1}")
            if count == 0:  # a special token (format 2)
                token = _special_token(piece, text)
                if token is None:
                    raise ModelError(f"{where}: count 0 is not a positive count, and the "
                                     f"entry is no special token (key: base64 of its UTF-8 "
                                     f"text and the byte 0xff; text: that text)")
                special[pid] = token
            elif count < 0 or count > _MAX_COUNT:
                raise ModelError(f"{where}: count {count} is not a positive count")
            if piece in seen:
                raise ModelError(f"{where}: duplicate piece (also under key {seen[piece]!r})")
            seen[piece] = key
            if by_id[pid - N_SPECIAL] is not None:
                raise ModelError(f"{where}: duplicate id {pid}")
            by_id[pid - N_SPECIAL] = piece
            counts[pid - N_SPECIAL] = count
        # n distinct ids in a range of n values: none is missing
        if special:
            first = n + N_SPECIAL - len(special)
            if min(special) < first:
                raise ModelError(f"model {source}: special token {special[min(special)]!r} "
                                 f"has id {min(special)}, before a piece: special tokens take "
                                 f"the ids after the last piece ({first}..)")
            pieces = by_id[:first - N_SPECIAL]
            try:
                tokens = check_special_tokens([special[i] for i in sorted(special)],
                                              set(pieces))
            except InputError as e:
                raise ModelError(f"model {source}: {e}") from None
            by_id, counts = pieces, counts[:first - N_SPECIAL]
        else:
            tokens = ()
        missing = [b for b in range(256) if bytes([b]) not in seen]
        if missing:
            raise ModelError(f"model {source}: the single byte 0x{missing[0]:02x} is not a piece "
                             f"({len(missing)} of the 256 bytes are missing); every byte "
                             f"must be a piece")
        return cls(by_id, counts, source, tokens)

    def check(self) -> "Model":
        """This model, if it is one ``from_json`` could have made (pieces distinct non-empty
        bytes with every single byte, positive int64 counts), else ModelError."""
        pieces, counts = self.pieces, self.counts
        where = f"model {self.source!r}" if isinstance(self.source, str) else "model"
        if not isinstance(pieces, list) or not all(type(p) is bytes and p for p in pieces):
            raise ModelError(f"{where}: pieces must be a list of non-empty bytes")
        if not isinstance(counts, np.ndarray) or counts.dtype != np.int64 or \
                counts.shape != (len(pieces),):
            raise ModelError(f"{where}: counts must be an int64 array of one count per piece")
        if len(pieces) and not (0 < counts.min() and counts.max() <= _MAX_COUNT):
            raise ModelError(f"{where}: counts must be positive")
        if len(set(pieces)) != len(pieces):
            raise ModelError(f"{where}: pieces must be distinct")
        if not set(bytes([b]) for b in range(256)) <= set(pieces):
            raise ModelError(f"{where}: every single byte must be a piece")
        if not isinstance(self.special_tokens, tuple):
            raise ModelError(f"{where}: special_tokens must be a tuple of str")
        try:
            check_special_tokens(self.special_tokens, set(pieces))
        except InputError as e:
            raise ModelError(f"{where}: {e}") from None
        return self

    # -- derived -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def format_version(self) -> int:
        """1: a BytePiece 0.6.3 model; 2: one with special tokens (``bytepiece.special``)."""
        return FORMAT_WITH_SPECIAL if self.special_tokens else 1

    def with_special_tokens(self, tokens) -> "Model":
        """This model with ``tokens`` (str) added as special tokens after the last id; the
        ids of the pieces do not move. InputError for an empty, repeated, non-UTF-8 token
        or one that is a piece."""
        added = check_special_tokens(tokens, set(self.pieces), self.special_tokens)
        return Model(self.pieces, self.counts, self.source, self.special_tokens + added)

    def log_probs(self) -> np.ndarray:
        """float64 log(count / total count) per piece, computed as BytePiece 0.6.3 does."""
        total = int(self.counts.sum(dtype=object)) if len(self.counts) else 1
        return np.log(self.counts.astype(np.float64)) - np.log(float(total))

    # -- writing -------------------------------------------------------------

    def to_dict(self) -> dict:
        """The JSON object of the model file, in id order."""
        out = {
            base64.b64encode(p).decode(): [i + N_SPECIAL, p.decode(errors="ignore"), int(c)]
            for i, (p, c) in enumerate(zip(self.pieces, self.counts.tolist()))
        }
        first = len(self.pieces) + N_SPECIAL
        for k, token in enumerate(self.special_tokens):
            out[base64.b64encode(token.encode() + KEY_MARK).decode()] = [first + k, token, 0]
        return out

    def to_json(self, indent: int | None = 4) -> bytes:
        """The model file's bytes (UTF-8 JSON; indent 4 as BytePiece writes it, None compact)."""
        if indent is not None and (type(indent) is not int or not 0 <= indent <= 16):
            raise ModelError(f"indent must be None or 0..16, got {indent!r}")
        separators = None if indent is not None else (",", ":")
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False,
                          separators=separators).encode()

    def save(self, path: str | os.PathLike) -> None:
        """Write the model as BytePiece does (indent 4, UTF-8), atomically."""
        write_atomic(path, self.to_json())

    @classmethod
    def from_counts(cls, counts: dict[bytes, int], source: str = "<trainer>",
                    special_tokens: tuple[str, ...] = ()) -> "Model":
        """A model with ids assigned as BytePiece's trainer does: by (length, bytes); the
        ``special_tokens`` after them."""
        items = sorted(counts.items(), key=lambda t: (len(t[0]), t[0]))
        model = cls([p for p, _ in items], np.array([c for _, c in items], np.int64), source,
                    tuple(special_tokens))
        return cls._from_pairs(_Pairs(model.to_dict().items()), source)


def _special_token(key: bytes, text: str) -> str | None:
    """The special token of a model-file entry of count 0 with these key bytes and text,
    or None when it is not one (``bytepiece.special``)."""
    if not key.endswith(KEY_MARK):
        return None
    try:
        token = key[:-1].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return token if token and token == text else None


class _Pairs(list):
    """The key/value pairs of a JSON object, kept in order so duplicate keys are seen."""


def _json_type(value) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _json_repr(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, _Pairs) else "an object"
    return text if len(text) <= 60 else text[:57] + "..."


def _short(error: Exception) -> str:
    text = str(error)
    return text if len(text) <= 100 else text[:97] + "..."
