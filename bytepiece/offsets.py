"""Character offsets of tokens in the text as given (before NFC).

Two steps over whole batches: each token's NFC characters are running sums of
per-piece counts (``nfc_char_spans``: the kernel ``_kernels.offsets`` walks the
tokens, its numpy twin here serves inputs segmented before numba is loaded),
and an alignment maps each NFC character back to the characters of the original
text it came from (``original_spans``). Texts that are NFC already (the usual
case) align to themselves; only the others are aligned, a normalization segment
at a time (``nfc_alignment``).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

import numpy as np

from .normalize import nfc

_segments_pattern: re.Pattern | None = None


def _char_class(code_points: Sequence[int]) -> str:
    """A regular-expression character class (without brackets) of the code points."""
    parts = []
    points = sorted(code_points)
    k = 0
    while k < len(points):
        j = k
        while j + 1 < len(points) and points[j + 1] == points[j] + 1:
            j += 1
        lo, hi = points[k], points[j]
        parts.append(f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}")
        k = j + 1
    return "".join(parts)


def _segments() -> re.Pattern:
    """The stretches of text that NFC may change: a character with the characters
    after it that have no normalization boundary before them, or a lone character
    that NFC changes. Built once from unicodedata (about 0.15 s).

    A character ``c`` has a boundary before it when its canonical decomposition
    starts with a starter (combining class 0) that is not the second character of
    any canonical pair (so that it never composes with what comes before: then
    NFC(x + c...) == NFC(x) + NFC(c...)). Hangul vowel and trailing jamo compose
    algorithmically and are added by hand.
    """
    global _segments_pattern
    if _segments_pattern is None:
        second = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
        special = []
        for cp in range(0x110000):
            c = chr(cp)
            if unicodedata.combining(c) or unicodedata.decomposition(c):
                special.append(c)
                parts = unicodedata.decomposition(c).split()
                if len(parts) == 2 and not parts[0].startswith("<"):
                    second.add(int(parts[1], 16))
        not_boundary, changing = set(second), []
        for c in special:
            first = unicodedata.normalize("NFD", c)[0]
            if unicodedata.combining(first) or ord(first) in second:
                not_boundary.add(ord(c))
            if nfc(c) != c:
                changing.append(ord(c))
        _segments_pattern = re.compile(
            f"(?s).[{_char_class(sorted(not_boundary))}]+|[{_char_class(changing)}]")
    return _segments_pattern


def _split_segment(segment: str) -> list[tuple[int, int, str]]:
    """``(start, end, nfc)`` of the smallest pieces of a short segment whose NFC forms,
    joined, give the segment's NFC (each cut tried: segments are a character or a few)."""
    whole = nfc(segment)
    cuts = [0] + [i for i in range(1, len(segment))
                  if nfc(segment[:i]) + nfc(segment[i:]) == whole] + [len(segment)]
    pieces = [(a, b, nfc(segment[a:b])) for a, b in zip(cuts, cuts[1:])]
    if "".join(p[2] for p in pieces) != whole:  # cuts that do not compose: keep it whole
        return [(0, len(segment), whole)]
    return pieces


def nfc_alignment(text: str) -> tuple[str, np.ndarray, np.ndarray]:
    """``(nfc_text, starts, ends)``: the NFC form of ``text`` and, for each of its
    characters, the int64 span of ``text`` it came from (a character that NFC
    made of several, or reordered, spans all of them).

    >>> nfc_alignment("ae\\u0301")[1:]
    (array([0, 1]), array([1, 3]))
    """
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    parts: list[str] = []
    done = 0

    def same(a: int, b: int) -> None:
        if b > a:
            starts.append(np.arange(a, b, dtype=np.int64))
            ends.append(np.arange(a + 1, b + 1, dtype=np.int64))
            parts.append(text[a:b])

    for match in _segments().finditer(text):
        a = match.start()
        same(done, a)
        for s, e, normalized in _split_segment(match.group()):
            if normalized == text[a + s:a + e]:
                same(a + s, a + e)
            else:
                starts.append(np.full(len(normalized), a + s, np.int64))
                ends.append(np.full(len(normalized), a + e, np.int64))
                parts.append(normalized)
        done = match.end()
    same(done, len(text))
    normalized = "".join(parts)
    if normalized != nfc(text):  # not expected: every character then spans the text
        normalized = nfc(text)
        return (normalized, np.zeros(len(normalized), np.int64),
                np.full(len(normalized), len(text), np.int64))
    if not starts:
        return normalized, np.zeros(0, np.int64), np.zeros(0, np.int64)
    return normalized, np.concatenate(starts), np.concatenate(ends)


def piece_char_tables(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(piece_chars, piece_mid)`` per id of a piece table (``Tokenizer.piece_table``):
    how many bytes of the piece start a character, and 1 where its first byte is a
    continuation byte (0x80-0xBF), else 0; both int64."""
    starts = np.zeros(data.shape[0] + 1, np.int64)
    np.cumsum((data & 0xC0) != 0x80, out=starts[1:])
    piece_chars = starts[offsets[1:]] - starts[offsets[:-1]]
    padded = np.append(data, np.uint8(0))  # the first byte of an empty piece: none
    first = padded[offsets[:-1]]
    piece_mid = ((offsets[1:] > offsets[:-1]) & ((first & 0xC0) == 0x80)).astype(np.int64)
    return piece_chars, piece_mid


def nfc_char_spans(ids: np.ndarray, token_ends: np.ndarray, piece_chars: np.ndarray,
                   piece_mid: np.ndarray) -> np.ndarray:
    """int64 (n_tokens, 2): each token's (start, end) characters in its own NFC text.

    The numpy twin of the kernel ``_kernels.offsets.nfc_char_spans`` (same
    arguments), for inputs segmented before the kernels are loaded.
    """
    chars = piece_chars[ids]
    ends = np.zeros(ids.shape[0] + 1, np.int64)  # ends[k]: characters of tokens before k
    np.cumsum(chars, out=ends[1:])
    counts = np.diff(token_ends, prepend=0)
    before = ends[token_ends - counts]  # characters before each text's first token
    shift = np.repeat(before, counts)
    out = np.empty((ids.shape[0], 2), np.int64)
    out[:, 1] = ends[1:] - shift
    out[:, 0] = out[:, 1] - chars - piece_mid[ids]
    return out


def original_spans(spans: np.ndarray, token_ends: np.ndarray, texts: Sequence[str],
                   all_nfc: bool) -> np.ndarray:
    """``spans`` (int64 (n_tokens, 2), characters of each token's NFC text) as
    characters of ``texts`` as given; ``all_nfc``: every text was NFC already."""
    if all_nfc:
        return spans
    counts = np.diff(token_ends, prepend=0)
    out = spans.copy()
    first = 0
    for text, count in zip(texts, counts.tolist()):
        if count and not unicodedata.is_normalized("NFC", text):
            _, starts, ends = nfc_alignment(text)
            rows = out[first:first + count]
            rows[:, 1] = ends[rows[:, 1] - 1]
            rows[:, 0] = starts[rows[:, 0]]
        first += count
    return out
