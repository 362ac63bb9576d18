"""Kernels of unigram training: expected piece counts by forward-backward, and each
piece's best segmentation without itself (what removing it would cost).

Texts come back to back in ``buf`` (uint8) with cumulative ``ends`` (int64), as
everywhere in training.
"""

import numpy as np

from ._jit import kernel


@kernel
def _child(nodes, node, byte):
    """The trie node under ``node`` by ``byte``, or -1 when there is none."""
    nxt = np.int64(nodes[2 * node]) + np.int64(byte)
    return nxt if np.int64(nodes[2 * nxt + 1]) == node else -1


@kernel
def alternatives(buf, ends, nodes, logp, pair):
    """For each text (a piece), the log-probability of its best segmentation into other
    pieces (float64[n]).

    The forward dynamic programme of ``viterbi._best_path_chunk`` with one edge left
    out, the whole text as one piece. ``logp`` is +inf where no live piece ends; every
    single byte must be live. A single byte has no alternative: -inf.
    """
    m = ends.shape[0]
    best = np.empty(m, np.float64)
    longest = 1
    t0 = 0
    for t in range(m):
        longest = max(longest, ends[t] - t0)
        t0 = ends[t]
    scores = np.empty(longest + 1, np.float64)
    root_base = np.int64(nodes[0])
    t0 = 0
    for t in range(m):
        t1 = ends[t]
        n = t1 - t0
        if n < 2:
            best[t] = -np.inf
            t0 = t1
            continue
        scores[0] = 0.0
        for e in range(1, n + 1):
            scores[e] = -np.inf
        for s in range(n):
            here = scores[s]
            c = np.int64(buf[t0 + s])
            node = root_base + c
            lp = logp[node]
            if here + lp > scores[s + 1]:
                scores[s + 1] = here + lp
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
                if e >= n:
                    break
                node = _child(nodes, node, buf[t0 + e])
                if node < 0:
                    break
                e += 1
        best[t] = scores[n]
        t0 = t1
    return best


#: Sums are kept in linear space, scaled by whole powers of 2**300 (exact), so that a
#: long chunk's tiny probabilities neither underflow nor cost an exp/log per edge.
_BIG = 2.0 ** 300
_SMALL = 2.0 ** -300
#: Expected counts are summed in fixed point, units of 2**-24 of an occurrence: integer
#: sums do not depend on the order of the terms, so neither on how the chunks were
#: split between threads.
UNIT = 2.0 ** 24


@kernel
def _rescaled(x, k_from, k_to):
    """The mantissa at scale ``k_to`` of x at scale ``k_from`` (the value x 2**(-300 k))."""
    while k_from < k_to:
        x *= _BIG
        k_from += 1
    while k_from > k_to:
        x *= _SMALL
        k_from -= 1
    return x


@kernel
def expected_counts(buf, ends, nodes, value, prob, pair, totals):
    """totals[piece] += the expected number of times each text's segmentation uses the
    piece, over all its segmentations weighted by the product of their pieces'
    probabilities (forward-backward), in int64 units of 1/UNIT; returns the texts'
    log-likelihood.

    ``prob[slot]`` is the probability of the piece ending at a trie slot (0 where no
    live piece ends) and ``value[slot]`` its index; every single byte must be live.
    A sum at position i is stored as (mantissa, k): mantissa x 2**(-300 k).
    """
    longest = 1
    t0 = 0
    for t in range(ends.shape[0]):
        longest = max(longest, ends[t] - t0)
        t0 = ends[t]
    alpha = np.empty(longest + 1, np.float64)
    alpha_k = np.empty(longest + 1, np.int64)
    beta = np.empty(longest + 1, np.float64)
    beta_k = np.empty(longest + 1, np.int64)
    root_base = np.int64(nodes[0])
    likelihood = 0.0
    t0 = 0
    for t in range(ends.shape[0]):
        t1 = ends[t]
        n = t1 - t0
        alpha[0] = 1.0
        alpha_k[0] = 0
        for e in range(1, n + 1):
            alpha[e] = 0.0
            alpha_k[e] = 0
        for s in range(n):
            a = alpha[s]
            ks = alpha_k[s]
            if a < _SMALL:  # complete now: bring it back into range
                a *= _BIG
                ks += 1
                alpha[s] = a
                alpha_k[s] = ks
            c = np.int64(buf[t0 + s])
            node = root_base + c
            e = s + 1
            if alpha_k[e] != ks:
                alpha[e] = _rescaled(alpha[e], alpha_k[e], ks)
                alpha_k[e] = ks
            alpha[e] += a * prob[node]
            if e >= n:
                continue
            node = np.int64(pair[(c << 8) | np.int64(buf[t0 + e])])
            if node == 0xFFFFFFFF:
                continue
            e += 1
            while True:
                p = prob[node]
                if p > 0.0:
                    if alpha_k[e] != ks:
                        alpha[e] = _rescaled(alpha[e], alpha_k[e], ks)
                        alpha_k[e] = ks
                    alpha[e] += a * p
                if e >= n:
                    break
                node = _child(nodes, node, buf[t0 + e])
                if node < 0:
                    break
                e += 1
        z = alpha[n]
        kz = alpha_k[n]
        likelihood += np.log(z) - kz * 300 * np.log(2.0)
        beta[n] = 1.0
        beta_k[n] = 0
        for s in range(n - 1, -1, -1):
            a = alpha[s] / z
            ka = alpha_k[s] - kz  # a x 2**(-300 ka): alpha[s] / Z
            acc = 0.0
            kacc = 0
            first = True
            c = np.int64(buf[t0 + s])
            node = root_base + c
            e = s + 1
            while True:
                p = prob[node]
                if p > 0.0:
                    b = p * beta[e]
                    kb = beta_k[e]
                    totals[value[node]] += np.int64(_rescaled(a * b, ka + kb, 0) * UNIT + 0.5)
                    if first:
                        acc = b
                        kacc = kb
                        first = False
                    else:
                        if kb < kacc:
                            acc = _rescaled(acc, kacc, kb)
                            kacc = kb
                        acc += _rescaled(b, kb, kacc)
                if e >= n:
                    break
                if e == s + 1:
                    node = np.int64(pair[(c << 8) | np.int64(buf[t0 + e])])
                    if node == 0xFFFFFFFF:
                        break
                else:
                    node = _child(nodes, node, buf[t0 + e])
                    if node < 0:
                        break
                e += 1
            if acc < _SMALL:
                acc *= _BIG
                kacc += 1
            beta[s] = acc
            beta_k[s] = kacc
        t0 = t1
    return likelihood
