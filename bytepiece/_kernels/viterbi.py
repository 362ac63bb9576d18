"""Unigram segmentation of UTF-8 byte buffers: best path (Viterbi) and exact sampling.

Many texts are concatenated into one buffer and segmented in one call: a kernel
call costs microseconds, which would dominate if paid per line.
"""

import numpy as np

from ._jit import kernel

_NEWLINE = 10
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@kernel
def uniform(seed, position, start):
    """A uniform float in [0, 1) determined only by (seed, position, start).

    Counter-based (splitmix64), so a sample does not depend on how the input
    was split between threads or calls.
    """
    x = seed + np.uint64(position) * _GOLDEN + np.uint64(start) * _MIX2
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@kernel
def _segment_chunk(buf, c0, c1, base, check, value, logp, alpha, seed, offset,
                   scores, routes, route_ids):
    """Fill ``routes``/``route_ids`` with the best (or a sampled) path over buf[c0:c1].

    Forward ("push") dynamic programme: from each start s, walk the trie and
    offer every piece s..e to end e. Ends meet their candidates from the
    longest piece to the shortest, and with ``alpha < 0`` a candidate wins only
    when strictly better, which is BytePiece 0.6.3's tie rule. With
    ``alpha >= 0`` the score is a running log-sum-exp and each candidate takes
    the back-pointer with probability exp(candidate - total): an exact sample.
    """
    n = c1 - c0
    scores[0] = 0.0
    for e in range(1, n + 1):
        scores[e] = -np.inf
    sample = alpha >= 0.0
    for s in range(n):
        start_score = scores[s]
        node = 0
        p = c0 + s
        while p < c1:
            nxt = base[node] + buf[p]
            if check[nxt] != node:
                break
            node = nxt
            p += 1
            v = value[node]
            if v >= 0:
                e = p - c0
                if not sample:
                    score = start_score + logp[node]
                    if score > scores[e]:
                        scores[e] = score
                        routes[e] = s
                        route_ids[e] = v
                else:
                    score = start_score + alpha * logp[node]
                    old = scores[e]
                    if old == -np.inf:
                        scores[e] = score
                        routes[e] = s
                        route_ids[e] = v
                    else:
                        if old >= score:
                            total = old + np.log1p(np.exp(score - old))
                        else:
                            total = score + np.log1p(np.exp(old - score))
                        scores[e] = total
                        if uniform(seed, offset + c0 + e, s) < np.exp(score - total):
                            routes[e] = s
                            route_ids[e] = v


@kernel
def segment(buf, text_ends, split_lines, base, check, value, logp, alpha, seed, offset):
    """Segment every text of ``buf`` into piece values.

    buf: uint8[n], the texts' bytes back to back; text_ends: int64[t], the end
    offset of each text. With ``split_lines`` each text is further cut after
    every run of newlines (the chunks of ``.*\\n+|.+``) and chunks are
    segmented independently. ``alpha``, ``seed`` and ``offset`` (the position
    of buf[0] in the whole input, so samples do not depend on how the input was
    split) drive sampling; ``alpha < 0`` gives the best path. Returns ``(ids, token_ends)``: int32 piece values
    in order and int64[t] cumulative token counts at the end of each text.
    """
    n_texts = text_ends.shape[0]
    ids = np.empty(buf.shape[0], np.int32)
    token_ends = np.empty(n_texts, np.int64)
    cap = 256
    scores = np.empty(cap + 1, np.float64)
    routes = np.empty(cap + 1, np.int64)
    route_ids = np.empty(cap + 1, np.int32)
    out = 0
    t0 = 0
    for t in range(n_texts):
        t1 = text_ends[t]
        c0 = t0
        while c0 < t1:
            c1 = t1
            if split_lines:
                c1 = c0
                while c1 < t1 and buf[c1] != _NEWLINE:
                    c1 += 1
                while c1 < t1 and buf[c1] == _NEWLINE:
                    c1 += 1
            n = c1 - c0
            if n + 1 > scores.shape[0]:
                cap = max(n, 2 * cap)
                scores = np.empty(cap + 1, np.float64)
                routes = np.empty(cap + 1, np.int64)
                route_ids = np.empty(cap + 1, np.int32)
            _segment_chunk(buf, c0, c1, base, check, value, logp, alpha, seed, offset,
                           scores, routes, route_ids)
            # walk the back-pointers twice: count, then write in order
            count = 0
            e = n
            while e > 0:
                e = routes[e]
                count += 1
            k = out + count
            e = n
            while e > 0:
                k -= 1
                ids[k] = route_ids[e]
                e = routes[e]
            out += count
            c0 = c1
        token_ends[t] = out
        t0 = t1
    return ids[:out], token_ends
