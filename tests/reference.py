"""Slow, obviously-correct versions of the kernels, for the tests to compare against."""

from __future__ import annotations

import math
import re


def log_probs(counts: dict[bytes, int]) -> dict[bytes, float]:
    """log(count / total) per piece, as BytePiece 0.6.3 computes it."""
    import numpy as np

    log_total = np.log(sum(counts.values()))
    return {p: float(np.log(c) - log_total) for p, c in counts.items()}


def best_segmentation(logp: dict[bytes, float], data: bytes) -> list[bytes]:
    """The highest-scoring segmentation of ``data``; ties go to the longest last piece.

    End by end, candidates are met from the longest to the shortest, and one
    replaces the best so far only when strictly better (BytePiece 0.6.3's rule).
    """
    n = len(data)
    best = [0.0] + [-math.inf] * n
    back = [0] * (n + 1)
    for e in range(1, n + 1):
        for s in range(e):  # s ascending: longest piece first
            piece = data[s:e]
            if piece in logp:
                score = best[s] + logp[piece]
                if score > best[e]:
                    best[e], back[e] = score, s
    pieces = []
    e = n
    while e > 0:
        pieces.append(data[back[e]:e])
        e = back[e]
    return pieces[::-1]


def all_segmentations(pieces: set[bytes], data: bytes) -> list[tuple[bytes, ...]]:
    """Every way to write ``data`` as a sequence of pieces."""
    if not data:
        return [()]
    out = []
    for k in range(1, len(data) + 1):
        if data[:k] in pieces:
            out += [(data[:k],) + rest for rest in all_segmentations(pieces, data[k:])]
    return out


def sampling_distribution(logp: dict[bytes, float], data: bytes, alpha: float
                          ) -> dict[tuple[bytes, ...], float]:
    """Exact probability of each segmentation when sampling with ``alpha``: ∝ ∏ p^alpha."""
    segs = all_segmentations(set(logp), data)
    weights = [math.exp(alpha * sum(logp[p] for p in seg)) for seg in segs]
    total = sum(weights)
    return {seg: w / total for seg, w in zip(segs, weights)}


def encode_chunks(text: str) -> list[bytes]:
    """The byte chunks the encoder segments independently (BytePiece 0.6.3's normalize)."""
    import unicodedata

    text = unicodedata.normalize("NFC", text)
    return [t.encode() for t in re.findall(r".*\n+|.+", text)]


def tokenize(logp: dict[bytes, float], text: str) -> list[bytes]:
    """Pieces of a text: NFC, chunks, best segmentation of each chunk."""
    return [p for chunk in encode_chunks(text) for p in best_segmentation(logp, chunk)]


def nfc_alignment(text: str) -> list[tuple[int, int]]:
    """For each character of NFC(text), the span of ``text`` it comes from.

    ``text`` is cut wherever normalizing the two sides apart gives the same NFC;
    a piece between cuts that NFC leaves alone maps character to character, one it
    changes maps each of its NFC characters to the whole piece.
    """
    import unicodedata

    def nfc(s: str) -> str:
        return unicodedata.normalize("NFC", s)

    whole = nfc(text)
    cuts = [0] + [i for i in range(1, len(text)) if nfc(text[:i]) + nfc(text[i:]) == whole]
    cuts.append(len(text))
    spans: list[tuple[int, int]] = []
    for a, b in zip(cuts, cuts[1:]):
        piece = text[a:b]
        normalized = nfc(piece)
        if normalized == piece:
            spans += [(k, k + 1) for k in range(a, b)]
        else:
            spans += [(a, b)] * len(normalized)
    assert "".join(nfc(text[a:b]) for a, b in zip(cuts, cuts[1:])) == whole
    return spans


def token_offsets(pieces: list[bytes], text: str) -> list[tuple[int, int]]:
    """Each piece's (start, end) in ``text``: the span from the NFC character of its
    first byte to that of its last byte, through ``nfc_alignment``."""
    import unicodedata

    spans = nfc_alignment(text)
    char_of_byte = []
    for k, c in enumerate(unicodedata.normalize("NFC", text)):
        char_of_byte += [k] * len(c.encode())
    assert sum(map(len, pieces)) == len(char_of_byte)
    out = []
    pos = 0
    for piece in pieces:
        first, last = char_of_byte[pos], char_of_byte[pos + len(piece) - 1]
        out.append((spans[first][0], spans[last][1]))
        pos += len(piece)
    return out
