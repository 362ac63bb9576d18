"""Compression figures of a tokenizer on a corpus, as data (``bytepiece eval``).

Pure functions over ids and texts, and ``CorpusTally``, which adds them up
block by block so a corpus never has to be held whole. Every figure counts the
original text, before any normalization a model applies, so a lossy
normalization (NFKC, whitespace collapsing) cannot flatter a model:

- *bytes*: UTF-8 bytes of the original text; *characters*: its code points;
  *lines*: lines ending in a newline, plus a last line without one.
- *tokens*: ids the model gives for the text, each line encoded with its
  newline (as ``bytepiece encode`` does), no special tokens added.
- *fallback bytes*: bytes the model spells out one by one: tokens that stand
  for a single byte which is not a character by itself, i.e. a byte >= 0x80
  (always part of a multi-byte UTF-8 character). Single ASCII bytes are
  ordinary pieces. SentencePiece's ``<0xE4>`` and byte-level BPE's ``ä``
  count the same way.
- *unknown tokens*: tokens such as SentencePiece's ``<unk>`` that stand for
  text the model cannot spell (none in bytepiece). Each counts as one token
  however much text it replaces, which flatters bytes per token: see them
  together with the round trip.
- *round trip*: whether decode(encode(line)) gives back every line. For
  bytepiece, which encodes the NFC form, the reference is the NFC form of the
  line; the tally also records whether the text was NFC to begin with.

>>> import numpy as np
>>> tally = CorpusTally(vocab_size=8, fallback=np.array([0, 0, 0, 0, 0, 0, 1, 1], bool))
>>> tally.add("añ\\nb\\n", ids=np.array([3, 6, 7, 4, 5]), seconds=0.5)
>>> figures = tally.figures()
>>> figures.bytes, figures.characters, figures.lines, figures.tokens, figures.fallback_bytes
(6, 5, 2, 5, 2)
>>> figures.bytes_per_token, figures.tokens_per_line, figures.fallback_share
(1.2, 2.5, 0.3333333333333333)
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field

import numpy as np

#: One megabyte for throughput figures (MB/s), as in the rest of bytepiece.
MB = 1_000_000


def count_lines(text: str) -> int:
    """Lines of ``text``: newlines, plus one for a last line without a newline.

    >>> count_lines("a\\n\\nb"), count_lines("a\\n"), count_lines("")
    (3, 1, 0)
    """
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


def split_lines(text: str) -> list[str]:
    """The lines of ``text``, each with its newline; only ``\\n`` ends a line.

    >>> split_lines("a\\r\\n\\nb\\u2028c")
    ['a\\r\\n', '\\n', 'b\\u2028c']
    """
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def fallback_ids(pieces: list[bytes | None]) -> np.ndarray:
    """bool per id: True for a piece that is one byte >= 0x80 (a fallback byte).

    ``pieces[i]`` is the bytes id ``i`` stands for (None for special ids).

    >>> fallback_ids([None, b"a", b"\\xe4", "ä".encode()]).tolist()
    [False, False, True, False]
    """
    return np.array([p is not None and len(p) == 1 and p[0] >= 0x80 for p in pieces], bool)


def count_fallback_bytes(ids: np.ndarray, fallback: np.ndarray) -> int:
    """Bytes spelled out by fallback pieces among ``ids`` (each such piece is one byte).

    >>> count_fallback_bytes(np.array([3, 2, 2, 1]), np.array([0, 0, 1, 0], bool))
    2
    """
    return int(np.count_nonzero(fallback[ids])) if ids.shape[0] else 0


def lines_not_round_tripped(decoded: list[str], lines: list[str]) -> int:
    """How many of ``lines`` differ from their decoded form ``decoded``.

    >>> lines_not_round_tripped(["a\\n", "b"], ["a\\n", "B"])
    1
    """
    if decoded == lines:
        return 0
    return sum(1 for d, line in zip(decoded, lines) if d != line) + abs(len(decoded) - len(lines))


def byte_lines_not_round_tripped(buf: np.ndarray, line_ends: np.ndarray, ids: np.ndarray,
                                 token_ends: np.ndarray, table: tuple[np.ndarray, np.ndarray]
                                 ) -> int:
    """How many lines of ``buf`` (uint8, lines ending at ``line_ends``) the ids do not
    spell back exactly, the ids of line k being ids[token_ends[k-1]:token_ends[k]].

    ``table`` is ``(data, offsets)``: id i spells data[offsets[i]:offsets[i+1]]
    (``Tokenizer.piece_table``). Vectorized: no Python loop over lines or tokens
    unless some line differs.

    >>> data, offsets = np.frombuffer(b"abc", np.uint8), np.array([0, 1, 2, 3])
    >>> buf = np.frombuffer(b"ab" + b"cc", np.uint8)
    >>> byte_lines_not_round_tripped(buf, np.array([2, 4]), np.array([0, 1, 2, 1]),
    ...                              np.array([2, 4]), (data, offsets))
    1
    """
    data, offsets = table
    starts, lengths = offsets[ids], offsets[ids + 1] - offsets[ids]
    ends = np.cumsum(lengths)
    decoded_ends = ends[token_ends - 1] if ids.shape[0] else np.zeros_like(token_ends)
    decoded_ends = np.where(token_ends > 0, decoded_ends, 0)
    # gather every byte the ids spell: byte j of the output is data[starts[t] + j - out_start[t]]
    total = int(ends[-1]) if ids.shape[0] else 0
    index = np.int32 if total + data.shape[0] < 2**31 else np.int64  # half the memory
    shift = (starts - (ends - lengths)).astype(index)
    spelled = data[np.repeat(shift, lengths) + np.arange(total, dtype=index)] \
        if total else np.zeros(0, np.uint8)
    if spelled.shape[0] == buf.shape[0] and np.array_equal(decoded_ends, line_ends) and \
            np.array_equal(spelled, buf):
        return 0
    text_starts = np.concatenate(([0], line_ends[:-1]))
    out_starts = np.concatenate(([0], decoded_ends[:-1]))
    bad = 0
    for a, b, c, d in zip(text_starts.tolist(), line_ends.tolist(), out_starts.tolist(),
                          decoded_ends.tolist()):
        if b - a != d - c or not np.array_equal(buf[a:b], spelled[c:d]):
            bad += 1
    return bad


@dataclass
class Figures:
    """The figures of one model on one corpus; ratios are None when undefined (0/0)."""

    bytes: int
    characters: int
    lines: int
    tokens: int
    fallback_bytes: int
    distinct_pieces: int
    vocab_size: int
    seconds: float
    lines_not_round_tripped: int
    nfc_stable: bool
    round_trip_reference: str  # "text" or "NFC text"
    unknown_tokens: int = 0

    @property
    def bytes_per_token(self) -> float | None:
        """UTF-8 bytes of the original text per token."""
        return _ratio(self.bytes, self.tokens)

    @property
    def characters_per_token(self) -> float | None:
        """Code points of the original text per token."""
        return _ratio(self.characters, self.tokens)

    @property
    def tokens_per_line(self) -> float | None:
        """Tokens per line (a line includes its newline)."""
        return _ratio(self.tokens, self.lines)

    @property
    def fallback_share(self) -> float | None:
        """Fallback bytes over the bytes of the original text (0..1 for bytepiece)."""
        return _ratio(self.fallback_bytes, self.bytes)

    @property
    def mb_per_second(self) -> float | None:
        """Encode throughput: MB (10^6 bytes) of original text per second of encoding."""
        return _ratio(self.bytes / MB, self.seconds) if self.seconds > 0 else None

    @property
    def round_trips(self) -> bool:
        """Every line decodes back to itself (for bytepiece: to its NFC form)."""
        return self.lines_not_round_tripped == 0

    def as_dict(self) -> dict:
        """Every figure, raw counts and ratios, for JSON."""
        out = asdict(self)
        for name in ("bytes_per_token", "characters_per_token", "tokens_per_line",
                     "fallback_share", "mb_per_second", "round_trips"):
            out[name] = getattr(self, name)
        return out


@dataclass
class CorpusTally:
    """Running totals of one model over the blocks of one corpus.

    ``fallback`` is ``fallback_ids`` of the model; ``reference`` is "text" when
    round trips are checked against the text itself, "NFC text" for bytepiece;
    ``unknown`` marks the ids of unknown tokens (bool per id, None: there are none).
    """

    vocab_size: int
    fallback: np.ndarray
    reference: str = "text"
    unknown: np.ndarray | None = None
    bytes: int = 0
    characters: int = 0
    lines: int = 0
    tokens: int = 0
    fallback_bytes: int = 0
    seconds: float = 0.0
    bad_lines: int = 0
    unknown_tokens: int = 0
    nfc_stable: bool = True
    used: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.used is None:
            self.used = np.zeros(self.vocab_size, bool)

    def add(self, text: str, ids: np.ndarray, seconds: float, bad_lines: int = 0,
            n_bytes: int | None = None, nfc_stable: bool | None = None) -> None:
        """Count one block: its original ``text`` (whole lines), the model's ``ids``
        for it, the ``seconds`` its encoding took and how many of its lines did not
        round-trip. ``n_bytes`` and ``nfc_stable`` save recomputing them."""
        self.bytes += len(text.encode("utf-8", "surrogatepass")) if n_bytes is None else n_bytes
        self.characters += len(text)
        self.lines += count_lines(text)
        self.tokens += int(ids.shape[0])
        self.fallback_bytes += count_fallback_bytes(ids, self.fallback)
        if self.unknown is not None and ids.shape[0]:
            self.unknown_tokens += int(np.count_nonzero(self.unknown[ids]))
        self.used[ids] = True
        self.seconds += seconds
        self.bad_lines += bad_lines
        if nfc_stable is None:
            nfc_stable = unicodedata.is_normalized("NFC", text)
        self.nfc_stable = self.nfc_stable and nfc_stable

    def figures(self) -> Figures:
        """The figures so far."""
        reference = self.reference if not self.nfc_stable else "text"
        return Figures(self.bytes, self.characters, self.lines, self.tokens,
                       self.fallback_bytes, int(np.count_nonzero(self.used)), self.vocab_size,
                       self.seconds, self.bad_lines, self.nfc_stable, reference,
                       self.unknown_tokens)


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None
