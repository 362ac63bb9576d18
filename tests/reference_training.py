"""Slow, obviously-correct versions of the training kernels, after BytePiece 0.6.3's Trainer.

Each function follows the reference's algorithm step by step, with Python
dicts and lists, so the tests can compare the numba kernels against it on
small inputs. Floating-point operations are the reference's: ``np.log`` of
integer counts, float64 subtractions and sums in the same order.
"""

from __future__ import annotations

import math
import re
import unicodedata

import numpy as np

from reference import best_segmentation, log_probs

NEG_INF = -math.inf


def train_chunks(text: str, isolate_digits: bool = False) -> list[bytes]:
    """BytePiece's ``normalize(text, 10000, isolate_digits)``."""
    text = unicodedata.normalize("NFC", text)
    if isolate_digits:
        regex = r"\d|[^\n\d]{,10000}\n{1,100}|[^\n\d]{1,10000}"
    else:
        regex = r".{,10000}\n{1,100}|.{1,10000}"
    return [t.encode() for t in re.findall(regex, text)]


def count_ngrams(chunks: list[bytes], order: int) -> list[dict[bytes, int]]:
    """Counts of every slice text[i:i+j], j = 0..order, as the reference counts them
    (slices cut short by the end of a chunk included)."""
    ngrams: list[dict[bytes, int]] = [{} for _ in range(order + 1)]
    for text in chunks:
        for i in range(len(text)):
            for j in range(order + 1):
                k = text[i:i + j]
                ngrams[j][k] = ngrams[j].get(k, 0) + 1
    return ngrams


def prune_ngrams(ngrams: list[dict[bytes, int]], min_count: int) -> list[dict[bytes, float]]:
    """Complete the single bytes, drop rare n-grams, take conditional log-probabilities."""
    ngrams = [dict(g) for g in ngrams]
    ngrams[0].setdefault(b"", 0)
    for i in range(256):
        if bytes([i]) not in ngrams[1]:
            ngrams[1][bytes([i])] = 1
            ngrams[0][b""] += 1
    for i in range(len(ngrams) - 1, -1, -1):
        ngrams[i] = {
            k: np.log(v) for k, v in ngrams[i].items()
            if len(k) == i and v >= (min_count if i > 1 else 0)
        }
        if i < len(ngrams) - 1:
            ngrams[i + 1] = {k: v - ngrams[i][k[:i]] for k, v in ngrams[i + 1].items()}
    return ngrams


def lm_segment(lm: list[dict[bytes, float]], order: int, ensure_unicode: bool,
               text: bytes) -> list[bytes]:
    """The best segmentation of ``text`` under the n-gram LM (the reference's ``_tokenize``).

    Written with explicit loops: ``argmax`` is the first maximum (index 0 when
    every score is -inf), as numpy's.
    """
    n = len(text)
    nodes = [[NEG_INF] * order for _ in range(n)]
    for j in range(order):
        for i in range(j, n):
            nodes[i][j] = float(lm[j + 1].get(text[i - j:i + 1], NEG_INF))
    if ensure_unicode:
        for i in range(n):
            if 128 <= text[i] < 192:
                nodes[i][0] = NEG_INF

    def trans(p, c):
        return 0.0 if c == 0 or c == min(p + 1, order - 1) else NEG_INF

    routes = []
    for i in range(1, n):
        route, row = [], []
        for c in range(order):
            scores = [nodes[i - 1][p] + trans(p, c) + nodes[i][c] for p in range(order)]
            best = max(scores)
            route.append(scores.index(best))
            row.append(best)
        routes.append(route)
        nodes[i] = row
    state = nodes[-1].index(max(nodes[-1]))
    states = [state]
    for i in range(n - 1, 0, -1):
        state = routes[i - 1][state]
        states.append(state)
    states.reverse()
    starts = [i for i, s in enumerate(states) if s == 0] + [n]
    return [text[s:e] for s, e in zip(starts, starts[1:])]


def count_pieces(lm, order, ensure_unicode, chunks: list[bytes]) -> dict[bytes, int]:
    pieces: dict[bytes, int] = {}
    for text in chunks:
        for p in lm_segment(lm, order, ensure_unicode, text):
            pieces[p] = pieces.get(p, 0) + 1
    return pieces


def split_pieces(keep: dict[bytes, int], drop) -> dict[bytes, int]:
    """Re-split each (piece, weight) of ``drop`` with the unigram tokenizer of ``keep``."""
    logp = log_probs(keep)
    counter: dict[bytes, int] = {}
    for k, v in drop:
        for p in best_segmentation(logp, k):
            counter[p] = counter.get(p, 0) + v
    return counter


def _drop_wasted(keep: dict[bytes, int]) -> dict[bytes, int]:
    while True:
        n = len(keep)
        keep = split_pieces(keep, list(keep.items()))
        if n == len(keep):
            return keep


def prune_pieces(pieces: dict[bytes, int], min_count: int, max_piece_length: int,
                 max_vocab_sizes: list[int]) -> list[dict[bytes, int]]:
    """The reference's ``prune_pieces`` (sizes sorted largest first by the caller)."""
    pieces = dict(pieces)
    for i in range(256):
        pieces.setdefault(bytes([i]), 1)
    keep, drop = {}, {}
    for k, v in pieces.items():
        if len(k) == 1 or (len(k) <= max_piece_length and v >= min_count):
            keep[k] = v
        else:
            drop[k] = v
    for k, v in split_pieces(keep, list(drop.items())).items():
        keep[k] += v
    keep = _drop_wasted(keep)
    final = []
    for size in max_vocab_sizes:
        if len(keep) <= size - 3:
            final.append(keep)
            continue
        ranked = sorted(keep.items(), key=lambda t: (len(t[0]) > 1, -t[1], -len(t[0]), t[0]))
        keep = dict(ranked[:size - 3])
        for k, v in split_pieces(keep, ranked[size - 3:]).items():
            keep[k] += v
        keep = _drop_wasted(keep)
        final.append(keep)
    return final


def train(texts, order=6, max_vocab_size=10000, max_piece_length=36, min_count=2,
          isolate_digits=False, ensure_unicode=True) -> list[dict[bytes, int]]:
    """The whole reference training: {piece: count} per vocabulary size, largest first."""
    sizes = sorted(max_vocab_size)[::-1] if isinstance(max_vocab_size, list) else [max_vocab_size]
    chunks = [c for t in texts for c in train_chunks(t, isolate_digits)]
    lm = prune_ngrams(count_ngrams(chunks, order), min_count)
    pieces = count_pieces(lm, order, ensure_unicode, chunks)
    return prune_pieces(pieces, min_count, max_piece_length, sizes)
