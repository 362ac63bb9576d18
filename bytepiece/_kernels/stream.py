"""Segmenting one long chunk in a window that slides: kernels for ``bytepiece.streaming``.

The forward passes are ``viterbi._best_path_chunk`` and ``viterbi._sample_chunk``
step for step (same float64 sums in the same order, same tie rule, same random
draws), restricted to a range of start positions, over a window of the chunk:
window index ``i`` is position ``base + i`` of the chunk. Back-pointers hold
absolute positions, so moving the window only shifts arrays.
"""

import numpy as np

from ._jit import kernel
from .viterbi import NO_NODE, _offer, uniform


@kernel
def forward_best(buf, s0, s1, nodes, logp, pair, scores, routes, route_nodes, base):
    """Offer every piece that starts at window positions s0..s1-1 (uint64) to its end.

    buf: uint8, the window's bytes; pieces are walked up to its end only, so the
    caller keeps at least the longest piece's length of bytes past s1 (or the
    window ends where the chunk does). scores/routes/route_nodes as in
    ``viterbi._best_path_chunk``, indexed by window position, routes absolute.
    """
    one = np.uint64(1)
    two = np.uint64(2)
    eight = np.uint64(8)
    no_node = np.uint64(NO_NODE)
    c1 = np.uint64(buf.shape[0])
    root_base = np.uint64(nodes[0])
    s = s0
    while s < s1:
        start_score = scores[s]
        start = base + s
        p = s
        c = np.uint64(buf[p])
        node = root_base + c
        _offer(scores, routes, route_nodes, s + one, start_score + logp[node], start, node)
        p += one
        if p < c1:
            node = np.uint64(pair[(c << eight) | np.uint64(buf[p])])
            if node != no_node:
                p += one
                while True:
                    lp = logp[node]
                    if lp <= 0.0:
                        _offer(scores, routes, route_nodes, p, start_score + lp, start, node)
                    if p >= c1:
                        break
                    nxt = np.uint64(nodes[two * node]) + np.uint64(buf[p])
                    if np.uint64(nodes[two * nxt + one]) != node:
                        break
                    node = nxt
                    p += one
        s += one


@kernel
def forward_sample(buf, s0, s1, nodes, logp, alpha, seed, offset, scores, routes, route_nodes,
                   base):
    """``forward_best`` for sampling: ``viterbi._sample_chunk``'s step, whose random
    draws depend on (seed, offset + end, start) with positions in the chunk."""
    one = np.uint64(1)
    two = np.uint64(2)
    c1 = np.uint64(buf.shape[0])
    s = s0
    while s < s1:
        start_score = scores[s]
        start = base + s
        node = np.uint64(0)
        p = s
        while p < c1:
            nxt = np.uint64(nodes[two * node]) + np.uint64(buf[p])
            if np.uint64(nodes[two * nxt + one]) != node:
                break
            node = nxt
            p += one
            lp = logp[node]
            if lp <= 0.0:
                e = p
                score = start_score + alpha * lp
                old = scores[e]
                if old == -np.inf:
                    scores[e] = score
                    routes[e] = start
                    route_nodes[e] = node
                else:
                    if old >= score:
                        total = old + np.log1p(np.exp(score - old))
                    else:
                        total = score + np.log1p(np.exp(old - score))
                    scores[e] = total
                    if uniform(seed, offset + base + e, start) < np.exp(score - total):
                        routes[e] = start
                        route_nodes[e] = node
        s += one


@kernel
def common_ancestor(routes, lo, hi, base):
    """The highest position every back-pointer path from window positions lo..hi
    (int64, inclusive, all final) goes through; absolute (int64).

    Walks down from hi, following each marked position's pointer once: the
    marked positions are the paths' frontier, and the walk ends where they
    have merged into one. The window's first position (the last position
    found) is on every path, so the walk ends there at the latest.
    """
    mark = np.zeros(hi + 1, np.uint8)
    count = 0
    for q in range(lo, hi + 1):
        mark[q] = 1
        count += 1
    q = hi
    while True:
        if mark[q]:
            if count == 1:
                return base + q
            count -= 1
            r = np.int64(routes[q]) - base
            if r < 0 or r >= q:
                raise ValueError("a back-pointer leaves the window")
            if mark[r] == 0:
                mark[r] = 1
                count += 1
        q -= 1


@kernel
def path_through(routes, base, start, end, near):
    """The position of the path back from ``end`` to ``start`` (absolute, int64)
    nearest above ``near``: where a window cut is forced when paths do not merge."""
    e = end
    while e > near:
        r = np.int64(routes[e - base])
        if r <= near:
            return e
        e = r
    return e


@kernel
def backtrack(routes, route_nodes, value, base, start, end):
    """int32 ids of the path from absolute position ``start`` to ``end`` (start on it)."""
    count = 0
    e = end
    while e > start:
        e = np.int64(routes[e - base])
        count += 1
    ids = np.empty(count, np.int32)
    k = count
    e = end
    while e > start:
        k -= 1
        ids[k] = value[route_nodes[e - base]]
        e = np.int64(routes[e - base])
    return ids
