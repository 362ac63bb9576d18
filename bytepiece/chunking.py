"""Training chunks: the pieces of text BytePiece 0.6.3's trainer counts independently.

NFC, then at most 10000 characters ending at a run of (at most 100) newlines;
with ``isolate_digits`` every decimal digit (Python ``re``'s Unicode ``\\d``) is a
chunk of its own. Chunks are UTF-8 encoded and put back to back in one buffer
with their ends, the form the kernels take.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

MAX_CHUNK_CHARS = 10000

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
