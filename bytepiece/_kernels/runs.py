"""Kernels of the run files: piece keys, and sorting pieces whose keys are equal.

A piece's key is FNV-1a of its bytes, finished with splitmix64's mixer so that
every bit depends on every byte: key ranges then split the pieces evenly.
"""

import numpy as np

from ._jit import inner, kernel

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


@inner
def _mix(h):
    h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


@kernel
def piece_keys(data, ends):
    """uint64[n]: the key of each piece, data[ends[i-1]:ends[i]]."""
    n = ends.shape[0]
    keys = np.empty(n, np.uint64)
    start = 0
    for i in range(n):
        h = _FNV_OFFSET
        for k in range(start, ends[i]):
            h = (h ^ np.uint64(data[k])) * _FNV_PRIME
        keys[i] = _mix(h)
        start = ends[i]
    return keys


@kernel
def table_pieces(entries, arena, n):
    """The first ``n`` pieces of a piece table (``lm``) as (counts int64, ends int64, data uint8)."""
    total = 0
    for e in range(n):
        total += entries[3 * e + 1]
    data = np.empty(total, np.uint8)
    ends = np.empty(n, np.int64)
    counts = np.empty(n, np.int64)
    p = 0
    for e in range(n):
        a = entries[3 * e]
        for k in range(entries[3 * e + 1]):
            data[p] = arena[a + k]
            p += 1
        ends[e] = p
        counts[e] = entries[3 * e + 2]
    return counts, ends, data


@inner
def _compare(data, ends, i, j):
    """-1, 0 or 1 as piece i sorts before, with or after piece j (bytes, shorter first)."""
    a0 = ends[i - 1] if i else 0
    b0 = ends[j - 1] if j else 0
    la = ends[i] - a0
    lb = ends[j] - b0
    for k in range(min(la, lb)):
        x = data[a0 + k]
        y = data[b0 + k]
        if x != y:
            return -1 if x < y else 1
    if la == lb:
        return 0
    return -1 if la < lb else 1


@kernel
def sum_sorted_pieces(keys, counts, ends, data, order):
    """Entries ``order`` (sorted by key) ordered by (key, bytes), equal ones summed.

    Returns (keys, counts, ends, data) of the distinct pieces. Equal keys of
    different pieces are rare (a 64-bit hash), so their groups are sorted by
    insertion.
    """
    n = order.shape[0]
    idx = order.copy()
    g = 0
    while g < n:
        h = g + 1
        while h < n and keys[idx[h]] == keys[idx[g]]:
            h += 1
        for a in range(g + 1, h):  # insertion sort of the group by bytes
            v = idx[a]
            b = a - 1
            while b >= g and _compare(data, ends, idx[b], v) > 0:
                idx[b + 1] = idx[b]
                b -= 1
            idx[b + 1] = v
        g = h
    out_keys = np.empty(n, np.uint64)
    out_counts = np.empty(n, np.int64)
    out_ends = np.empty(n, np.int64)
    out_data = np.empty(data.shape[0], np.uint8)
    m = 0
    p = 0
    for t in range(n):
        i = idx[t]
        if m > 0 and out_keys[m - 1] == keys[i] and _compare(data, ends, idx[t - 1], i) == 0:
            out_counts[m - 1] += counts[i]
            continue
        a = ends[i - 1] if i else 0
        for k in range(a, ends[i]):
            out_data[p] = data[k]
            p += 1
        out_keys[m] = keys[i]
        out_counts[m] = counts[i]
        out_ends[m] = p
        m += 1
    return out_keys[:m].copy(), out_counts[:m].copy(), out_ends[:m].copy(), out_data[:p].copy()


@kernel
def front_decoded(lcp, lengths, suffix):
    """uint64[n]: the n-gram keys of a front-coded block (``training.runs``): key i
    takes its first lcp[i] bytes from key i-1, its next lengths[i] - lcp[i] bytes from
    ``suffix`` in order, and its length in the lowest byte."""
    n = lcp.shape[0]
    keys = np.empty(n, np.uint64)
    prev = np.uint64(0)
    p = 0
    for i in range(n):
        key = np.uint64(lengths[i])
        for k in range(np.int64(lcp[i])):
            key |= prev & (np.uint64(255) << np.uint64(56 - 8 * k))
        for k in range(np.int64(lcp[i]), np.int64(lengths[i])):
            key |= np.uint64(suffix[p]) << np.uint64(56 - 8 * k)
            p += 1
        keys[i] = key
        prev = key
    return keys


@kernel
def front_coded_pieces(data, starts, lengths, order):
    """The pieces ``order`` (indices into starts/lengths) front-coded: (bytes each shares
    with the piece before, at most 255, u8[n]; the bytes after those, back to back)."""
    n = order.shape[0]
    lcp = np.empty(n, np.uint8)
    total = 0
    for i in range(n):
        total += lengths[order[i]]
    suffix = np.empty(total, np.uint8)
    p = 0
    prev_start = 0
    prev_length = 0
    for i in range(n):
        start = starts[order[i]]
        length = lengths[order[i]]
        most = length if length < prev_length else prev_length
        most = most if most < 255 else 255
        k = 0
        while k < most and data[start + k] == data[prev_start + k]:
            k += 1
        lcp[i] = k
        for t in range(k, length):
            suffix[p] = data[start + t]
            p += 1
        prev_start = start
        prev_length = length
    return lcp, suffix[:p]


@kernel
def front_decoded_pieces(lcp, lengths, suffix):
    """(data uint8, ends int64) of front-coded pieces: piece i is the first lcp[i] bytes
    of piece i-1, then its next lengths[i] - lcp[i] bytes from ``suffix``."""
    n = lcp.shape[0]
    total = 0
    for i in range(n):
        total += lengths[i]
    data = np.empty(total, np.uint8)
    ends = np.empty(n, np.int64)
    p = 0
    q = 0
    prev = 0
    for i in range(n):
        shared = np.int64(lcp[i])
        for k in range(shared):
            data[q + k] = data[prev + k]
        for k in range(shared, np.int64(lengths[i])):
            data[q + k] = suffix[p]
            p += 1
        prev = q
        q += np.int64(lengths[i])
        ends[i] = q
    return data, ends
