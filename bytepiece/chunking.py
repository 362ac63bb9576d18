"""Training chunks: the pieces of text BytePiece 0.6.3's trainer counts independently.

NFC, then at most 10000 characters ending at a run of (at most 100) newlines;
with ``isolate_digits`` every decimal digit (Python ``re``'s Unicode ``\\d``) is a
chunk of its own. Chunks are UTF-8 encoded and put back to back in one buffer
with their ends, the form the kernels take.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import repeat

import numpy as np

from .blocks import split_lines

MAX_CHUNK_CHARS = 10000
_NEWLINE = 10

TRAIN_CHUNK = re.compile(r".{,%d}\n{1,100}|.{1,%d}" % (MAX_CHUNK_CHARS, MAX_CHUNK_CHARS))
TRAIN_CHUNK_DIGITS = re.compile(
    r"\d|[^\n\d]{,%d}\n{1,100}|[^\n\d]{1,%d}" % (MAX_CHUNK_CHARS, MAX_CHUNK_CHARS))


def train_chunks(text: str, isolate_digits: bool = False) -> list[str]:
    """Split ``text`` into training chunks, as BytePiece's ``normalize(text, 10000, ...)``.

    >>> train_chunks("ab\\n\\ncd")
    ['ab\\n\\n', 'cd']
    >>> train_chunks("a12b", isolate_digits=True)
    ['a', '1', '2', 'b']
    """
    regex = TRAIN_CHUNK_DIGITS if isolate_digits else TRAIN_CHUNK
    return regex.findall(unicodedata.normalize("NFC", text))


def pack_chunks(texts, isolate_digits: bool = False) -> tuple[np.ndarray, np.ndarray, int]:
    """The training chunks of ``texts`` as (buf uint8[n], ends int64[c], characters).

    ``ends`` are the cumulative byte offsets where each chunk ends.
    """
    if not isolate_digits and isinstance(texts, list):
        packed = _pack_lines(texts, len(texts))
        if packed is not None:
            return packed
    return _pack_matched(texts, isolate_digits)


def _pack_matched(texts, isolate_digits: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """``pack_chunks`` by the chunk regex, text by text (any texts)."""
    regex = TRAIN_CHUNK_DIGITS if isolate_digits else TRAIN_CHUNK
    normalize = unicodedata.normalize
    chunks: list[bytes] = []
    chars = 0
    for text in texts:
        text = normalize("NFC", text)
        chars += len(text)
        chunks.extend(t.encode() for t in regex.findall(text))
    buf = np.frombuffer(b"".join(chunks), np.uint8)
    ends = np.fromiter(map(len, chunks), np.int64, len(chunks))
    np.cumsum(ends, out=ends)
    return buf, ends, chars


def pack_runs(runs: list[str], counts: list[int], isolate_digits: bool = False
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """``pack_chunks`` of texts given in runs (``Corpus.runs``): ``runs[i]`` holds
    ``counts[i]`` texts, whole lines back to back, or one text as it is (count 1)."""
    if not isolate_digits:
        packed = _pack_lines(runs, sum(counts))
        if packed is not None:
            return packed
    texts = [line for run, count in zip(runs, counts)
             for line in (split_lines(run) if count > 1 else (run,))]
    return _pack_matched(texts, isolate_digits)  # not lines: no second try in bulk


def _pack_lines(strings: list[str], n_texts: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """``pack_chunks`` of ``n_texts`` texts that are lines, given as ``strings`` of one or
    more whole lines, in a few passes over their bytes instead of a regex match and an
    encode per chunk (5x as fast for lines of source code); None when they are not lines.

    Lines: every text ends with its only newline, except that the last may have none.
    Each is then one chunk when it holds at most MAX_CHUNK_CHARS characters (checked in
    bytes with its newline, which are at least as many). NFC applies to their
    concatenation at once: no character composes or reorders across a newline.
    """
    if not strings or not strings[-1]:
        return None
    last_open = not strings[-1].endswith("\n")
    if not all(map(str.endswith, strings[:len(strings) - last_open], repeat("\n"))):
        return None
    text = unicodedata.normalize("NFC", "".join(strings))
    if text.count("\n") != n_texts - last_open:
        return None  # a text holds a newline before its end
    buf = np.frombuffer(text.encode(), np.uint8)
    ends = np.flatnonzero(buf == _NEWLINE) + 1
    if last_open:
        ends = np.append(ends, buf.shape[0])
    if ends.shape[0] and np.diff(ends, prepend=0).max() > MAX_CHUNK_CHARS:
        return None  # a line that may be longer than a chunk: the regex cuts it
    return buf, ends.astype(np.int64, copy=False), len(text)
