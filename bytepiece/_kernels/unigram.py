"""Kernels of unigram training: the candidate substrings of weighted texts, and each
piece's best segmentation without itself (what removing it would cost).

Texts come back to back in ``buf`` (uint8) with cumulative ``ends`` (int64), as
everywhere in training; ``weights`` (int64) says how often each text occurs.
"""

import numpy as np

from ._jit import kernel
from .lm import _add_piece


@kernel
def _starts_char(buf, i):
    """Whether byte i starts a UTF-8 character (is no continuation byte 0x80-0xBF)."""
    return (buf[i] & 0xC0) != 0x80


@kernel
def substring_bytes(ends, max_len):
    """(substrings, bytes) at most that texts ``ends`` hold of 2..``max_len`` bytes: what a
    piece table must have room for before ``count_substrings``."""
    count = 0
    size = 0
    t0 = 0
    for t in range(ends.shape[0]):
        n = ends[t] - t0
        for s in range(n):
            m = min(max_len, n - s)
            if m >= 2:
                count += m - 1
                size += (m * (m + 1)) // 2 - 1
        t0 = ends[t]
    return count, size


@kernel
def count_substrings(buf, ends, weights, max_len, ensure_unicode, slots, entries, arena, n,
                     used):
    """Add each text's weight to every substring of 2..``max_len`` bytes it holds, once per
    occurrence; with ``ensure_unicode`` only those that start and end at character
    boundaries. The table has room (``substring_bytes``); returns (n, used)."""
    t0 = 0
    for t in range(ends.shape[0]):
        t1 = ends[t]
        w = weights[t]
        for s in range(t0, t1):
            if ensure_unicode and not _starts_char(buf, s):
                continue
            last = min(t1, s + max_len)
            for e in range(s + 2, last + 1):
                if ensure_unicode and e < t1 and not _starts_char(buf, e):
                    continue
                n, used = _add_piece(slots, entries, arena, n, used, buf, s, e - s, w)
        t0 = t1
    return n, used


@kernel
def alternatives(buf, ends, nodes, logp, pair):
    """For each text (a piece), the best segmentation into other pieces: its
    log-probability and number of tokens (float64[n], int64[n]).

    The forward dynamic programme of ``viterbi._best_path_chunk`` with one edge left
    out, the whole text as one piece. ``logp`` is +inf where no live piece ends; every
    single byte must be live. A single byte has no alternative: -inf, 0 tokens.
    """
    m = ends.shape[0]
    best = np.empty(m, np.float64)
    tokens = np.zeros(m, np.int64)
    longest = 1
    t0 = 0
    for t in range(m):
        longest = max(longest, ends[t] - t0)
        t0 = ends[t]
    scores = np.empty(longest + 1, np.float64)
    counts = np.zeros(longest + 1, np.int64)
    root_base = np.int64(nodes[0])
    t0 = 0
    for t in range(m):
        t1 = ends[t]
        n = t1 - t0
        if n < 2:
            best[t] = -np.inf
            tokens[t] = 0
            t0 = t1
            continue
        scores[0] = 0.0
        counts[0] = 0
        for e in range(1, n + 1):
            scores[e] = -np.inf
        for s in range(n):
            here = scores[s]
            c = np.int64(buf[t0 + s])
            node = root_base + c
            lp = logp[node]
            if here + lp > scores[s + 1]:
                scores[s + 1] = here + lp
                counts[s + 1] = counts[s] + 1
            if s + 1 >= n:
                continue
            node = np.int64(pair[(c << 8) | np.int64(buf[t0 + s + 1])])
            if node == 0xFFFFFFFF:
                continue
            e = s + 2
            while True:
                lp = logp[node]
                if lp <= 0.0 and not (s == 0 and e == n) and here + lp > scores[e]:
                    scores[e] = here + lp
                    counts[e] = counts[s] + 1
                if e >= n:
                    break
                nxt = np.int64(nodes[2 * node]) + np.int64(buf[t0 + e])
                if np.int64(nodes[2 * nxt + 1]) != node:
                    break
                node = nxt
                e += 1
        best[t] = scores[n]
        tokens[t] = counts[n]
        t0 = t1
    return best, tokens


@kernel
def _logaddexp(a, b):
    if a == -np.inf:
        return b
    if b == -np.inf:
        return a
    if a > b:
        return a + np.log1p(np.exp(b - a))
    return b + np.log1p(np.exp(a - b))


@kernel
def expected_counts(buf, ends, weights, nodes, value, logp, pair, totals):
    """totals[piece] += weight x the expected number of times each text's segmentation
    uses the piece, over all segmentations weighted by the product of their pieces'
    probabilities (forward-backward); returns the texts' weighted log-likelihood.

    ``value[slot]`` is the piece ending at a trie slot, ``logp[slot]`` its
    log-probability (+inf where no live piece ends); every single byte must be live.
    """
    longest = 1
    t0 = 0
    for t in range(ends.shape[0]):
        longest = max(longest, ends[t] - t0)
        t0 = ends[t]
    alpha = np.empty(longest + 1, np.float64)
    beta = np.empty(longest + 1, np.float64)
    root_base = np.int64(nodes[0])
    likelihood = 0.0
    t0 = 0
    for t in range(ends.shape[0]):
        t1 = ends[t]
        n = t1 - t0
        alpha[0] = 0.0
        for e in range(1, n + 1):
            alpha[e] = -np.inf
        for s in range(n):
            a = alpha[s]
            c = np.int64(buf[t0 + s])
            node = root_base + c
            alpha[s + 1] = _logaddexp(alpha[s + 1], a + logp[node])
            if s + 1 >= n:
                continue
            node = np.int64(pair[(c << 8) | np.int64(buf[t0 + s + 1])])
            if node == 0xFFFFFFFF:
                continue
            e = s + 2
            while True:
                lp = logp[node]
                if lp <= 0.0:
                    alpha[e] = _logaddexp(alpha[e], a + lp)
                if e >= n:
                    break
                nxt = np.int64(nodes[2 * node]) + np.int64(buf[t0 + e])
                if np.int64(nodes[2 * nxt + 1]) != node:
                    break
                node = nxt
                e += 1
        z = alpha[n]
        w = np.float64(weights[t])
        likelihood += w * z
        beta[n] = 0.0
        for s in range(n - 1, -1, -1):
            a = alpha[s] - z
            c = np.int64(buf[t0 + s])
            node = root_base + c
            lp = logp[node]
            b = lp + beta[s + 1]
            totals[value[node]] += w * np.exp(a + b)
            if s + 1 < n:
                node = np.int64(pair[(c << 8) | np.int64(buf[t0 + s + 1])])
                if node != 0xFFFFFFFF:
                    e = s + 2
                    while True:
                        lp = logp[node]
                        if lp <= 0.0:
                            here = lp + beta[e]
                            totals[value[node]] += w * np.exp(a + here)
                            b = _logaddexp(b, here)
                        if e >= n:
                            break
                        nxt = np.int64(nodes[2 * node]) + np.int64(buf[t0 + e])
                        if np.int64(nodes[2 * nxt + 1]) != node:
                            break
                        node = nxt
                        e += 1
            beta[s] = b
        t0 = t1
    return likelihood
