"""Segmentation with the byte n-gram language model, and counting the pieces it cuts.

The language model holds the conditional log-probability log P(last byte |
previous bytes) of each kept n-gram: dense tables for orders 1 and 2, a table
of (packed key, value) pairs for the longer ones (see ``ngrams.add_to_lm``).

Pieces are counted in a table keyed by their bytes, the tuple (slots, entries,
arena, n, used): ``slots`` uint64 pairs (hash of the bytes, entry number + 1;
0 when empty), ``entries`` int64 triples (start in ``arena``, length, count)
for the ``n`` pieces, ``arena`` uint8 their bytes (``used`` of them in use).
A look-up touches a slot, an entry and the bytes: three cache lines.
"""

import numpy as np

from ._jit import inner, kernel
from .hints import prefetch
from .ngrams import lm_slot, lm_slot_start

_LEN_SHIFT = np.uint64(56)
_FIB = np.uint64(0x9E3779B97F4A7C15)
_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
#: Bytes ahead of the one scored whose n-grams' slots are prefetched (2-8 measured within
#: 5% of each other, 4 best: the look-ups of a byte take long enough to cover the wait).
_AHEAD = 4


@inner
def best_states(buf, c0, c1, unigram, bigram, kv, kv_logp, order, ensure_unicode,
                routes, states, nodes):
    """Fill states[0:c1-c0] with the best path of the n-gram LM over buf[c0:c1].

    The LM: ``unigram`` float64[256] and ``bigram`` float64[65536] (index
    first_byte * 256 + second_byte, -inf when pruned) hold orders 1 and 2;
    longer n-grams are in ``kv``, uint64 pairs (packed key, bits of the
    float64 log-probability; key 0 marks an empty slot) and ``kv_logp``, the
    same memory viewed as float64, so that a look-up touches one cache line
    (``ngrams.lm_slot``).

    State j at byte i means the piece so far has j bytes before byte i; its node
    score is the conditional log-probability of the (j+1)-gram ending at byte i
    (-inf when that n-gram was pruned, or j > i). A step goes to state 0 (a new
    piece starts) or to min(j + 1, order - 1). The scores are the reference's
    float64 sums, in its order, and every choice is numpy's argmax: the first
    maximum, or index 0 when all are -inf. Scratch: ``routes`` int8 and
    ``nodes`` float64, each of at least (c1 - c0) * order.
    """
    n = c1 - c0
    # node scores first, for the whole chunk: the look-ups of different bytes are
    # independent, so the CPU overlaps their cache misses; the slots of the n-grams
    # ending _AHEAD bytes further are prefetched (35% faster at 1 GB of text: the
    # branch on each look-up's result would otherwise hold the next ones back)
    for i in range(n):
        if i + _AHEAD < n:
            _prefetch_ngrams(buf, c0 + i + _AHEAD, min(order, i + _AHEAD + 1), kv)
        r = i * order
        for j in range(order):
            nodes[r + j] = -np.inf
        b = buf[c0 + i]
        nodes[r] = unigram[b]
        if ensure_unicode and 0x80 <= b < 0xC0:
            nodes[r] = -np.inf
        if i >= 1 and order >= 2:
            a = buf[c0 + i - 1]
            x = bigram[(np.int64(a) << 8) | np.int64(b)]
            nodes[r + 1] = x
            if x != -np.inf:
                body = (np.uint64(b) << np.uint64(8)) | np.uint64(a)
                for j in range(2, min(order, i + 1)):
                    body = (body << np.uint64(8)) | np.uint64(buf[c0 + i - j])
                    key = (np.uint64(j + 1) << _LEN_SHIFT) | body
                    s = lm_slot(kv, key)
                    if kv[s] == 0:
                        break
                    nodes[r + j] = kv_logp[s + 1]
    prev = np.empty(order, np.float64)
    cur = np.empty(order, np.float64)
    last = order - 1
    for j in range(order):
        prev[j] = nodes[j]
    for i in range(1, n):
        r = (i - 1) * order
        q = i * order
        best = -np.inf
        arg = 0
        x = nodes[q]
        for p in range(order):
            v = prev[p] + x
            if v > best:
                best = v
                arg = p
        cur[0] = best
        routes[r] = arg
        for c in range(1, order):
            x = nodes[q + c]
            best = -np.inf
            arg = 0
            v = prev[c - 1] + x
            if v > best:
                best = v
                arg = c - 1
            if c == last:
                v = prev[c] + x
                if v > best:
                    best = v
                    arg = c
            cur[c] = best
            routes[r + c] = arg
        for j in range(order):
            prev[j] = cur[j]
    best = -np.inf
    state = 0
    for j in range(order):
        if prev[j] > best:
            best = prev[j]
            state = j
    i = n - 1
    while True:
        states[i] = state
        if i == 0:
            break
        state = routes[(i - 1) * order + state]
        i -= 1


@inner
def _prefetch_ngrams(buf, p, orders, kv):
    """Prefetch the LM slots of the n-grams of orders 3..``orders`` ending at buf[p]."""
    body = (np.uint64(buf[p]) << np.uint64(8)) | np.uint64(buf[p - 1])
    for j in range(2, orders):
        body = (body << np.uint64(8)) | np.uint64(buf[p - j])
        prefetch(kv, lm_slot_start(kv, (np.uint64(j + 1) << _LEN_SHIFT) | body))


@inner
def _hash_bytes(data, start, length):
    h = _FNV_OFFSET
    for k in range(start, start + length):
        h = (h ^ np.uint64(data[k])) * _FNV_PRIME
    return h


def new_piece_table(capacity):
    """An empty piece table (slots, entries, arena, n, used) with room for ``capacity`` pieces."""
    cap = 1024
    while cap < 2 * capacity:
        cap *= 2
    return (np.zeros(2 * cap, np.uint64), np.empty(3 * (cap // 2), np.int64),
            np.empty(8 * cap, np.uint8), 0, 0)


@inner
def _piece_slot(slots, entries, arena, h, data, start, length):
    """The index in ``slots`` of the pair of piece data[start:start+length] (hash ``h``),
    or of the empty pair where it would go."""
    mask = (slots.shape[0] >> 1) - 1
    bits = 0
    while (2 << bits) < slots.shape[0]:
        bits += 1
    i = np.int64((h * _FIB) >> np.uint64(64 - bits))
    while True:
        e = np.int64(slots[2 * i + 1])
        if e == 0:
            return 2 * i
        if slots[2 * i] == h:
            e = 3 * (e - 1)
            if entries[e + 1] == length:
                a = entries[e]
                same = True
                for k in range(length):
                    if arena[a + k] != data[start + k]:
                        same = False
                        break
                if same:
                    return 2 * i
        i = (i + 1) & mask


@kernel
def reserve_pieces(slots, entries, arena, n, used, extra, extra_bytes):
    """The piece table's arrays grown, if needed, for ``extra`` more pieces of
    ``extra_bytes`` bytes: (slots, entries, arena).

    Hot loops never grow the table themselves: numba would then count references
    to the arrays at every iteration.
    """
    while 4 * (n + extra) > slots.shape[0]:
        new = np.zeros(2 * slots.shape[0], np.uint64)
        mask = (new.shape[0] >> 1) - 1
        bits = 0
        while (2 << bits) < new.shape[0]:
            bits += 1
        for j in range(0, slots.shape[0], 2):
            if slots[j + 1] != 0:
                i = np.int64((slots[j] * _FIB) >> np.uint64(64 - bits))
                while new[2 * i + 1] != 0:
                    i = (i + 1) & mask
                new[2 * i] = slots[j]
                new[2 * i + 1] = slots[j + 1]
        slots = new
    if 3 * (n + extra) > entries.shape[0]:
        grown = np.empty(max(2 * entries.shape[0], 3 * (n + extra)), np.int64)
        for k in range(3 * n):  # not a slice assignment: see _kernels.trie._grow
            grown[k] = entries[k]
        entries = grown
    if used + extra_bytes > arena.shape[0]:
        more = np.empty(max(2 * arena.shape[0], used + extra_bytes), np.uint8)
        for k in range(used):
            more[k] = arena[k]
        arena = more
    return slots, entries, arena


@inner
def _add_piece(slots, entries, arena, n, used, data, start, length, count):
    """Add ``count`` to the piece data[start:start+length] (the table has room).

    Returns the new (n, used).
    """
    h = _hash_bytes(data, start, length)
    s = _piece_slot(slots, entries, arena, h, data, start, length)
    e = np.int64(slots[s + 1])
    if e != 0:
        entries[3 * (e - 1) + 2] += count
        return n, used
    for k in range(length):
        arena[used + k] = data[start + k]
    slots[s] = h
    slots[s + 1] = np.uint64(n + 1)
    entries[3 * n] = used
    entries[3 * n + 1] = length
    entries[3 * n + 2] = count
    return n + 1, used + length


@inner
def _add_chunk_pieces(states, m, buf, c0, slots, entries, arena, n, used):
    """Count the pieces of buf[c0:c0+m] cut where ``states`` is 0; returns (n, used).

    A piece starts at every state 0 and runs to the next one; bytes before the
    first state 0 are dropped, as the reference drops them.
    """
    s = -1
    for i in range(m + 1):
        if i == m or states[i] == 0:
            if s >= 0:
                n, used = _add_piece(slots, entries, arena, n, used, buf, c0 + s, i - s, 1)
            s = i
    return n, used


@inner
def _count_group(buf, chunk_ends, c_first, c_end, unigram, bigram, kv, kv_logp, order,
                 ensure_unicode, routes, states, nodes, slots, entries, arena, n, used):
    """Segment and count the pieces of chunks c_first..c_end-1 (the table has room)."""
    for c in range(c_first, c_end):
        c0 = chunk_ends[c - 1] if c else 0
        c1 = chunk_ends[c]
        if c1 > c0:
            best_states(buf, c0, c1, unigram, bigram, kv, kv_logp, order, ensure_unicode,
                        routes, states, nodes)
            n, used = _add_chunk_pieces(states, c1 - c0, buf, c0, slots, entries, arena, n, used)
    return n, used


@kernel
def count_pieces(buf, chunk_ends, unigram, bigram, kv, kv_logp, order, ensure_unicode,
                 slots, entries, arena, n, used):
    """Segment every chunk of ``buf`` with the n-gram LM and count the pieces.

    buf: uint8[m], chunks back to back; chunk_ends: int64[c] their cumulative
    ends; the LM as ``best_states`` takes it. Adds into the piece table
    (slots, entries, arena, n, used) and returns it (it may grow).
    """
    cap = 1
    for c in range(chunk_ends.shape[0]):
        cap = max(cap, chunk_ends[c] - (chunk_ends[c - 1] if c else 0))
    routes = np.empty(cap * order, np.int8)
    nodes = np.empty(cap * order, np.float64)
    states = np.empty(cap, np.int8)
    # chunks in groups of ~64 KB: the table is grown for a group's worth of new
    # pieces before it, never inside the loop over pieces
    c = np.int64(0)  # not the literal 0: numba would compile _count_group for it too
    while c < chunk_ends.shape[0]:
        g0 = chunk_ends[c - 1] if c else 0
        e = c + 1
        while e < chunk_ends.shape[0] and chunk_ends[e] - g0 <= 65536:
            e += 1
        room = chunk_ends[e - 1] - g0
        slots, entries, arena = reserve_pieces(slots, entries, arena, n, used, room, room)
        n, used = _count_group(buf, chunk_ends, c, e, unigram, bigram, kv, kv_logp, order,
                               ensure_unicode, routes, states, nodes, slots, entries, arena,
                               n, used)
        c = e
    return slots, entries, arena, n, used


@kernel
def segment_states(buf, chunk_ends, unigram, bigram, kv, kv_logp, order, ensure_unicode):
    """int8[len(buf)]: the best-path state of every byte (for tests and inspection)."""
    states = np.zeros(buf.shape[0], np.int8)
    routes = np.empty(max(buf.shape[0], 1) * order, np.int8)
    nodes = np.empty(max(buf.shape[0], 1) * order, np.float64)
    c0 = 0
    for c in range(chunk_ends.shape[0]):
        c1 = chunk_ends[c]
        if c1 > c0:
            best_states(buf, c0, c1, unigram, bigram, kv, kv_logp, order, ensure_unicode,
                        routes, states[c0:c1], nodes)
        c0 = c1
    return states


@kernel
def merge_pieces(slots, entries, arena, n, used, other_entries, other_arena, other_n):
    """Add the first ``other_n`` pieces of another table into this one; returns the table."""
    extra_bytes = 0
    for e in range(other_n):
        extra_bytes += other_entries[3 * e + 1]
    slots, entries, arena = reserve_pieces(slots, entries, arena, n, used, other_n, extra_bytes)
    for e in range(other_n):
        n, used = _add_piece(slots, entries, arena, n, used, other_arena,
                             other_entries[3 * e], other_entries[3 * e + 1],
                             other_entries[3 * e + 2])
    return slots, entries, arena, n, used


def piece_columns(entries, n):
    """(starts, lengths, counts) of the first ``n`` pieces, as contiguous int64 arrays."""
    table = entries[:3 * n].reshape(n, 3)
    return (np.ascontiguousarray(table[:, 0]), np.ascontiguousarray(table[:, 1]),
            np.ascontiguousarray(table[:, 2]))


@kernel
def gather(arena, starts, lengths, which):
    """The pieces ``which`` back to back: (buf uint8, ends int64 cumulative)."""
    total = 0
    for k in range(which.shape[0]):
        total += lengths[which[k]]
    buf = np.empty(total, np.uint8)
    ends = np.empty(which.shape[0], np.int64)
    p = 0
    for k in range(which.shape[0]):
        e = which[k]
        a = starts[e]
        for t in range(lengths[e]):
            buf[p] = arena[a + t]
            p += 1
        ends[k] = p
    return buf, ends


@kernel
def add_weighted(totals, ids, token_ends, weights):
    """totals[ids[t]] += weights[k] for every token t of text k (int64, exact)."""
    t = 0
    for k in range(token_ends.shape[0]):
        w = weights[k]
        while t < token_ends[k]:
            totals[ids[t]] += w
            t += 1
