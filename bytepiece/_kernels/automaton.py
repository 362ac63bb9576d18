"""Aho-Corasick failure links and per-state candidate lists over the piece trie.

The best-path encoder reads the text once through this automaton: after each
byte its state is the longest suffix of the text read so far that is a trie
node, and the pieces ending at that byte are exactly the pieces among that
state's suffixes. Listing those once per state, longest first, turns the
per-byte work into one automaton step and a short scan of a flat array,
instead of a trie walk from every start position.
"""

import numpy as np

from ._jit import kernel
from .layout import PAIR_BITS


@kernel
def failure_links(nodes):
    """(fail, depth, order) of the double-array trie ``nodes`` (uint32 base/check pairs).

    fail[v] is the slot of the longest proper suffix of v's string that is a
    trie node (the root, slot 0, when none); order lists the nodes breadth
    first, so every node comes after its failure target.

    Each node's children are listed first, by one pass over the slots' checks
    (in slot order, which is their bytes' order): trying all 256 bytes of every
    node took 4 s at 15M slots, where most nodes have one child or none.
    """
    slots = nodes.shape[0] // 2
    fail = np.empty(slots, np.uint32)  # not np.zeros: see _kernels.trie._grow
    depth = np.empty(slots, np.int64)
    first = np.empty(slots + 1, np.int64)  # node q's children: first[q]..first[q + 1] - 1
    for v in range(slots):
        fail[v] = 0
        depth[v] = 0
        first[v] = 0
    first[slots] = 0
    for v in range(1, slots):
        parent = np.int64(nodes[2 * v + 1])
        if parent < slots:  # not a free slot's (or the root's) check
            first[parent + 1] += 1
    for q in range(slots):
        first[q + 1] += first[q]
    children = np.empty(first[slots], np.uint32)
    for v in range(1, slots):
        parent = np.int64(nodes[2 * v + 1])
        if parent < slots:
            children[first[parent]] = v
            first[parent] += 1
    # first[q] is now the end of q's children, which is where q + 1's begin
    order = np.empty(slots, np.int64)
    order[0] = 0
    head = 0
    tail = 1
    while head < tail:
        q = order[head]
        head += 1
        b = np.int64(nodes[2 * q])
        for k in range(first[q - 1] if q > 0 else 0, first[q]):
            v = np.int64(children[k])
            c = v - b
            depth[v] = depth[q] + 1
            if q != 0:
                # the longest suffix of q's string that can be followed by c
                f = np.int64(fail[q])
                while True:
                    w = np.int64(nodes[2 * f]) + c
                    if w != 0 and w < slots and np.int64(nodes[2 * w + 1]) == f:
                        fail[v] = w
                        break
                    if f == 0:
                        break  # only the root's own children fall back to the root
                    f = np.int64(fail[f])
            order[tail] = v
            tail += 1
    return fail, depth, order[:tail]


@kernel
def candidate_lists(nodes, fail, depth, order, logp, value, filler):
    """Every state's pieces of two bytes or more that end there, longest first.

    A state's list is its own piece (when ``logp`` is finite there and it is
    longer than one byte) followed by its failure target's list, padded to
    whole pairs: the kernel scores two at a time. An empty list points at the
    filler pair (entries 0 and 1), so the kernel can score a first pair
    without testing; fillers have the id ``filler`` (whose score must be
    -inf) and the length of the longest piece (the kernel's guard band takes
    its size from entry 0). Single bytes are left out of the lists (every
    position has one): the last 256 entries are the bytes 0..255 (every byte
    must be a piece).
    Returns ``(cand_se, cand_len, cand_id)``: cand_se[state] = first entry <<
    PAIR_BITS | number of pairs, then each entry's length and piece id
    (uint32 and int64: ``PieceTrie`` stores them in the narrowest types; the
    kernel reads scores from a table by id, which keeps the lists small).
    """
    slots = fail.shape[0]
    # np.empty and loops, not np.zeros or np.full: see _kernels.trie._grow
    count = np.empty(slots, np.int64)
    start = np.empty(slots, np.int64)  # lists without a piece point at the filler pair 0, 1
    cand_se = np.empty(slots, np.uint64)
    for q in range(slots):
        count[q] = 0
        start[q] = 0
        cand_se[q] = 0
    for i in range(1, order.shape[0]):
        q = order[i]
        count[q] = (1 if logp[q] <= 0.0 and depth[q] > 1 else 0) + count[fail[q]]
    total = 2
    for i in range(1, order.shape[0]):
        q = order[i]
        if count[q] > 0:
            start[q] = total
            total += 2 * ((count[q] + 1) // 2)
    # fillers reach back as far as the longest piece: their score (-inf) then
    # never waits for the score just computed
    longest = 1
    for q in range(slots):
        if logp[q] <= 0.0 and depth[q] > longest:
            longest = depth[q]
    cand_len = np.empty(total + 256, np.uint32)
    cand_id = np.empty(total + 256, np.int64)
    for k in range(total + 256):
        cand_len[k] = longest
        cand_id[k] = filler
    for i in range(1, order.shape[0]):
        q = order[i]
        pairs = (count[q] + 1) // 2
        if pairs >= (1 << PAIR_BITS):
            raise ValueError("a piece has too many pieces among its suffixes (over 131070)")
        cand_se[q] = (np.uint64(start[q]) << np.uint64(PAIR_BITS)) | np.uint64(pairs)
        k = start[q]
        if logp[q] <= 0.0 and depth[q] > 1:
            cand_len[k] = depth[q]
            cand_id[k] = value[q]
            k += 1
        f = fail[q]
        for j in range(count[f]):
            cand_len[k + j] = cand_len[start[f] + j]
            cand_id[k + j] = cand_id[start[f] + j]
    root_base = np.int64(nodes[0])
    for c in range(256):
        v = root_base + c
        if np.int64(nodes[2 * v + 1]) != 0 or not logp[v] <= 0.0:
            raise ValueError("every one of the 256 single bytes must be a piece")
        cand_len[total + c] = 1
        cand_id[total + c] = value[v]
    return cand_se, cand_len, cand_id
