"""Double-array trie over byte strings, built and stored in flat int32 arrays.

A node is a slot index; the child of ``node`` by byte ``c`` is ``base[node] + c``
when ``check[base[node] + c] == node``. One addition and one comparison per byte
keeps the encoder's inner loop free of hashing and searching. The arrays are
padded so that ``base[node] + c`` is always a valid index for any byte ``c``.
"""

import numpy as np

from ._jit import inner, kernel

ROOT = 0
_FREE = -1
_ROOT_CHECK = -2


@inner
def _grow(base, check, nxt, prv, value, size):
    """Return the arrays enlarged to ``size`` slots; new slots join the free list."""
    old = base.shape[0]
    # slots fit int32: the arrays are int32 anyway. np.empty and loops, not np.zeros or
    # np.full: numba compiles each of those anew per dtype (~0.08 s each, per process)
    nbase = np.empty(size, np.int32)
    ncheck = np.empty(size, np.int32)
    nnxt = np.empty(size, np.int32)
    nprv = np.empty(size, np.int32)
    nvalue = np.empty(size, np.int32)
    # element by element: a slice assignment of arrays costs numba ~1.5 s to compile
    # (its shape check's error message), once per process
    for i in range(old):
        nbase[i] = base[i]
        ncheck[i] = check[i]
        nnxt[i] = nxt[i]
        nprv[i] = prv[i]
        nvalue[i] = value[i]
    for i in range(old, size):
        nbase[i] = 0
        ncheck[i] = _FREE
        nnxt[i] = i + 1
        nprv[i] = i - 1
        nvalue[i] = -1
    return nbase, ncheck, nnxt, nprv, nvalue


@kernel
def build_double_array(data, offsets):
    """Build a double-array trie of the byte strings ``data[offsets[i]:offsets[i+1]]``.

    The strings must be distinct, non-empty and sorted in byte order. Returns
    ``(base, check, value)``: int32 arrays where ``value[slot]`` is the index of
    the string ending at that node, or -1. First-fit placement walks a
    doubly-linked list of free slots, so building 100k strings takes well under
    a second.
    """
    n = offsets.shape[0] - 1
    # the nodes, counted exactly: 1 + each string's bytes past the prefix it shares with
    # the one before (sorted). The arrays start an eighth larger (first fit leaves a few
    # slots free) and double if it needs more; the strings' bytes, which training's tries
    # were sized by, are about twice the nodes: 5 arrays of them were most of the memory
    nodes = 1
    for i in range(n):
        a = offsets[i]
        length = offsets[i + 1] - a
        shared = 0
        if i > 0:
            b = offsets[i - 1]
            most = offsets[i] - b
            most = most if most < length else length
            while shared < most and data[a + shared] == data[b + shared]:
                shared += 1
        nodes += length - shared
    size = nodes + (nodes >> 3) + 512
    size = size if size > 1024 else 1024  # not max(): one compile less
    base = np.empty(0, np.int32)
    check = np.empty(0, np.int32)
    nxt = np.empty(0, np.int32)
    prv = np.empty(0, np.int32)
    value = np.empty(0, np.int32)
    base, check, nxt, prv, value = _grow(base, check, nxt, prv, value, size)
    # slot 0 is the root: take it off the free list (the list starts at slot 1)
    check[0] = _ROOT_CHECK
    first_free = 1
    prv[1] = -1
    max_slot = 0

    # the breadth-first queue, a ring: it holds nodes of two depths at most, and a depth
    # has at most n nodes (each the prefix of a string of that length or longer)
    ring = 2 * n + 2
    q_node = np.empty(ring, np.int32)
    q_lo = np.empty(ring, np.int32)
    q_hi = np.empty(ring, np.int32)
    q_depth = np.empty(ring, np.int32)
    head = 0
    tail = 1
    q_node[0] = ROOT
    q_lo[0] = 0
    q_hi[0] = n
    q_depth[0] = 0
    labels = np.empty(256, np.int64)
    label_lo = np.empty(257, np.int64)

    while head < tail:
        h = head % ring
        node = q_node[h]
        lo = q_lo[h]
        hi = q_hi[h]
        depth = q_depth[h]
        head += 1
        # in sorted order a string equal to this node's prefix comes first
        if lo < hi and offsets[lo + 1] - offsets[lo] == depth:
            value[node] = lo
            lo += 1
        if lo == hi:
            continue
        # group the remaining strings by their byte at ``depth``
        k = 0
        i = lo
        while i < hi:
            c = data[offsets[i] + depth]
            labels[k] = c
            label_lo[k] = i
            i += 1
            while i < hi and data[offsets[i] + depth] == c:
                i += 1
            k += 1
        label_lo[k] = hi
        # first fit: the first free slot p such that every base + label is free
        p = first_free
        while True:
            if p + 256 >= check.shape[0]:
                base, check, nxt, prv, value = _grow(
                    base, check, nxt, prv, value, 2 * check.shape[0])
            b = p - labels[0]
            if b >= 1:
                fits = True
                for t in range(1, k):
                    if check[b + labels[t]] != _FREE:
                        fits = False
                        break
                if fits:
                    break
            p = nxt[p]
        base[node] = b
        for t in range(k):
            child = b + labels[t]
            check[child] = node
            # unlink the slot from the free list
            if prv[child] >= 0:
                nxt[prv[child]] = nxt[child]
            else:
                first_free = nxt[child]
            prv[nxt[child]] = prv[child]
            if child > max_slot:
                max_slot = child
            r = tail % ring
            q_node[r] = child
            q_lo[r] = label_lo[t]
            q_hi[r] = label_lo[t + 1]
            q_depth[r] = depth + 1
            tail += 1

    # pad so that base[node] + byte is a valid index for every node and byte
    max_base = 0
    for s in range(max_slot + 1):
        if check[s] != _FREE and base[s] > max_base:
            max_base = base[s]
    final = max_slot + 1 if max_slot + 1 > max_base + 256 else max_base + 256
    # views, not copies: the arrays are at most an eighth larger than needed (unless they
    # had to double), and copies would be three more of them at once
    return base[:final], check[:final], value[:final]
