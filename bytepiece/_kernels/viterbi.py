"""Unigram segmentation of UTF-8 byte buffers: best path (Viterbi) and exact sampling.

Many texts are concatenated into one buffer and segmented in one call: a kernel
call costs microseconds, which would dominate if paid per line.

Indices in the hot loops are unsigned (``np.uint64``) on purpose: numba wraps
negative signed indices around, and that extra code on every load of the trie
walk made the kernel about twice as slow. Never mix them with signed integers:
numba would promote the sum to a float.
"""

import numpy as np

from ._jit import inner, kernel

_NEWLINE = 10
#: ``pair`` entry of a 2-byte prefix that is no trie node (uint32 of -1).
NO_NODE = 0xFFFFFFFF
# splitmix64 constants, as plain ints: numba freezes them as compile-time constants
# (numpy scalars would be unpickled on every call)
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


@inner
def chunk_end(buf, c0, t1, split_lines):
    """The end of the chunk starting at c0 in a text ending at t1 (int64 offsets): the
    text's end, or with ``split_lines`` the end of the line's run of newlines (``.*\n+|.+``)."""
    if not split_lines:
        return t1
    c1 = c0
    while c1 < t1 and buf[c1] != _NEWLINE:
        c1 += 1
    while c1 < t1 and buf[c1] == _NEWLINE:
        c1 += 1
    return c1


@inner
def uniform(seed, position, start):
    """A uniform float in [0, 1) determined only by (seed, position, start).

    Counter-based (splitmix64), so a sample does not depend on how the input
    was split between threads or calls.
    """
    x = seed + np.uint64(position) * np.uint64(_GOLDEN) + np.uint64(start) * np.uint64(_MIX2)
    x ^= x >> np.uint64(30)
    x *= np.uint64(_MIX1)
    x ^= x >> np.uint64(27)
    x *= np.uint64(_MIX2)
    x ^= x >> np.uint64(31)
    return np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@inner
def _offer(scores, routes, route_nodes, e, score, s, node):
    """Keep the piece s..e (ending at trie ``node``) if it beats end e's best so far.

    Written with selects and unconditional stores: whether a candidate wins is
    unpredictable, and a mispredicted branch costs more than three stores.
    """
    better = score > scores[e]
    scores[e] = score if better else scores[e]
    routes[e] = s if better else routes[e]
    route_nodes[e] = node if better else route_nodes[e]


@inner
def _best_path_chunk(buf, c0, c1, nodes, logp, pair, scores, routes, route_nodes):
    """Fill ``routes``/``route_nodes`` with the best path over buf[c0:c1] (uint64 bounds).

    Forward ("push") dynamic programme: from each start s, walk the trie and
    offer every piece s..e to end e. Ends meet their candidates from the
    longest piece to the shortest and a candidate wins only when strictly
    better: BytePiece 0.6.3's tie rule. Every single byte is a piece, so the
    first step needs no check, and ``pair`` gives the node of a 2-byte prefix
    in one look-up. ``logp`` is +inf at nodes that end no piece.
    """
    one = np.uint64(1)
    two = np.uint64(2)
    eight = np.uint64(8)
    no_node = np.uint64(NO_NODE)
    n = c1 - c0
    scores[0] = 0.0
    e = one
    while e <= n:
        scores[e] = -np.inf
        e += one
    root_base = np.uint64(nodes[0])
    s = np.uint64(0)
    while s < n:
        start_score = scores[s]
        p = c0 + s
        c = np.uint64(buf[p])
        node = root_base + c
        _offer(scores, routes, route_nodes, s + one, start_score + logp[node], s, node)
        p += one
        if p < c1:
            node = np.uint64(pair[(c << eight) | np.uint64(buf[p])])
            if node != no_node:
                p += one
                while True:
                    lp = logp[node]
                    if lp <= 0.0:
                        _offer(scores, routes, route_nodes, p - c0, start_score + lp, s, node)
                    if p >= c1:
                        break
                    nxt = np.uint64(nodes[two * node]) + np.uint64(buf[p])
                    if np.uint64(nodes[two * nxt + one]) != node:
                        break
                    node = nxt
                    p += one
        s += one


@inner
def _sample_chunk(buf, c0, c1, nodes, logp, alpha, seed, offset, scores, routes, route_nodes):
    """Fill ``routes``/``route_nodes`` with a sampled path over buf[c0:c1] (uint64 bounds).

    The same forward walk as the best path, but each end keeps a running
    log-sum-exp of alpha-scaled scores, and each candidate takes the
    back-pointer with probability exp(candidate - total): the back-pointers
    then trace an exact sample, with probability proportional to the product
    of p(piece)^alpha.
    """
    one = np.uint64(1)
    two = np.uint64(2)
    n = c1 - c0
    scores[0] = 0.0
    e = one
    while e <= n:
        scores[e] = -np.inf
        e += one
    s = np.uint64(0)
    while s < n:
        start_score = scores[s]
        node = np.uint64(0)
        p = c0 + s
        while p < c1:
            nxt = np.uint64(nodes[two * node]) + np.uint64(buf[p])
            if np.uint64(nodes[two * nxt + one]) != node:
                break
            node = nxt
            p += one
            lp = logp[node]
            if lp <= 0.0:
                e = p - c0
                score = start_score + alpha * lp
                old = scores[e]
                if old == -np.inf:
                    scores[e] = score
                    routes[e] = s
                    route_nodes[e] = node
                else:
                    if old >= score:
                        total = old + np.log1p(np.exp(score - old))
                    else:
                        total = score + np.log1p(np.exp(old - score))
                    scores[e] = total
                    if uniform(seed, offset + c0 + e, s) < np.exp(score - total):
                        routes[e] = s
                        route_nodes[e] = node
        s += one


@kernel
def segment(buf, text_ends, split_lines, nodes, value, logp, pair, alpha, seed, offset):
    """Segment every text of ``buf`` into piece values.

    buf: uint8[n], the texts' bytes back to back; text_ends: int64[t], the end
    offset of each text. The trie (see ``bytepiece.trie.PieceTrie``): ``nodes``
    uint32 pairs (base, check) per slot, ``value`` int32 id per slot, ``logp``
    float64 per slot (+inf where no piece ends), ``pair`` the uint32 node of
    every 2-byte prefix (or NO_NODE). With ``split_lines`` each text is further
    cut after every run of newlines (the chunks of ``.*\\n+|.+``) and chunks
    are segmented independently. ``alpha``, ``seed`` and ``offset`` (the
    position of buf[0] in the whole input, so samples do not depend on how the
    input was split) drive sampling; ``alpha < 0`` gives the best path.
    Returns ``(ids, token_ends)``: int32 piece values in order and int64[t]
    cumulative token counts at the end of each text.
    """
    zero = np.uint64(0)
    one = np.uint64(1)
    n_texts = text_ends.shape[0]
    ids = np.empty(buf.shape[0], np.int32)
    token_ends = np.empty(n_texts, np.int64)
    cap = 256
    scores = np.empty(cap + 1, np.float64)
    routes = np.empty(cap + 1, np.uint64)
    route_nodes = np.empty(cap + 1, np.uint64)
    uoffset = np.uint64(offset)
    out = 0
    t0 = zero
    for t in range(n_texts):
        t1 = np.uint64(text_ends[t])
        c0 = t0
        while c0 < t1:
            c1 = np.uint64(chunk_end(buf, np.int64(c0), np.int64(t1), split_lines))
            n = c1 - c0
            if n + one > np.uint64(scores.shape[0]):
                cap = max(np.int64(n), 2 * cap)
                scores = np.empty(cap + 1, np.float64)
                routes = np.empty(cap + 1, np.uint64)
                route_nodes = np.empty(cap + 1, np.uint64)
            if alpha < 0.0:
                _best_path_chunk(buf, c0, c1, nodes, logp, pair, scores, routes, route_nodes)
            else:
                _sample_chunk(buf, c0, c1, nodes, logp, alpha, seed, uoffset,
                              scores, routes, route_nodes)
            # walk the back-pointers twice: count, then write in order
            count = 0
            e = n
            while e > zero:
                e = routes[e]
                count += 1
            k = out + count
            e = n
            while e > zero:
                k -= 1
                ids[k] = value[route_nodes[e]]
                e = routes[e]
            out += count
            c0 = c1
        token_ends[t] = out
        t0 = t1
    return ids[:out], token_ends
