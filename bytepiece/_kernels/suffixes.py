"""Repeated substrings of training chunks, from a suffix array: the candidate pieces of
unigram training (SentencePiece seeds its pieces the same way).

Chunks come back to back in ``buf`` (uint8) with cumulative ``ends`` (int64). No
substring crosses a chunk's end. Suffixes are only ordered by their first
``depth`` bytes, all that pieces of at most ``depth`` bytes need.
"""

import numpy as np

from ._jit import kernel


@kernel
def chunk_ends_of(buf_len, ends):
    """int32[buf_len]: the end of the chunk holding each byte (buffers of less than 2 GB)."""
    out = np.empty(buf_len, np.int32)
    t0 = 0
    for t in range(ends.shape[0]):
        for i in range(t0, ends[t]):
            out[i] = ends[t]
        t0 = ends[t]
    return out


@kernel
def first_keys(buf, limit):
    """uint64 per position: its first 7 bytes (each + 1, in 9 bits), 0 past its chunk's
    end (``limit``), so that comparing keys compares the substrings."""
    n = buf.shape[0]
    keys = np.empty(n, np.uint64)
    for i in range(n):
        key = np.uint64(0)
        for j in range(7):
            key <<= np.uint64(9)
            if i + j < limit[i]:
                key |= np.uint64(buf[i + j]) + np.uint64(1)
        keys[i] = key
    return keys


@kernel
def first_ranks(order, keys):
    """After sorting positions by ``keys``: (rank per position, the slot of its group's
    first entry plus 1, so that 0 can stand for "past the end"; head per slot, whether
    it starts a group)."""
    n = order.shape[0]
    ranks = np.empty(n, np.int32)
    head = np.zeros(n, np.bool_)
    first = 0
    for k in range(n):
        if k == 0 or keys[order[k]] != keys[order[k - 1]]:
            first = k
            head[k] = True
        ranks[order[k]] = first + 1
    return ranks, head


@kernel
def unresolved(head):
    """The slots of groups of two or more positions (int64, ascending)."""
    n = head.shape[0]
    out = np.empty(n, np.int64)
    m = 0
    for k in range(n):
        if not (head[k] and (k + 1 == n or head[k + 1])):
            out[m] = k
            m += 1
    return out[:m]


@kernel
def doubled_keys(order, slots, ranks, limit, step):
    """uint64 per slot of ``slots``: (the rank of its position, the rank ``step`` bytes
    on, or 0 past its chunk's end)."""
    keys = np.empty(slots.shape[0], np.uint64)
    for j in range(slots.shape[0]):
        i = order[slots[j]]
        nxt = ranks[i + step] if i + step < limit[i] else 0
        keys[j] = (np.uint64(ranks[i]) << np.uint64(32)) | np.uint64(nxt)
    return keys


@kernel
def refine(order, slots, keys, sub, ranks, head):
    """Put the positions of ``slots`` in the order ``sub`` sorts their ``keys`` (groups stay
    in their slots: the rank is the keys' high half), and split their groups where the
    keys differ, ranks and heads updated."""
    positions = np.empty(slots.shape[0], np.int64)
    for j in range(slots.shape[0]):
        positions[j] = order[slots[sub[j]]]
    first = 0
    for j in range(slots.shape[0]):
        k = slots[j]
        order[k] = positions[j]
        new = j == 0 or slots[j - 1] != k - 1 or keys[sub[j]] != keys[sub[j - 1]]
        if new:
            first = k
        head[k] = new
    for j in range(slots.shape[0]):
        k = slots[j]
        if head[k]:
            first = k
        ranks[order[k]] = first + 1


@kernel
def common_prefixes(buf, limit, suffixes, depth):
    """int64[len(suffixes)]: bytes in common (at most ``depth``) between each suffix and
    the one before it (0 for the first)."""
    m = suffixes.shape[0]
    lcp = np.zeros(m, np.int64)
    for k in range(1, m):
        a = suffixes[k - 1]
        b = suffixes[k]
        most = min(depth, limit[a] - a, limit[b] - b)
        j = 0
        while j < most and buf[a + j] == buf[b + j]:
            j += 1
        lcp[k] = j
    return lcp


@kernel
def repeated_substrings(buf, limit, suffixes, lcp, ensure_unicode):
    """The right-maximal repeated substrings of 2 or more bytes: (starts, lengths, counts)
    int64, one per internal node of the suffix tree (an lcp interval), counted by its
    occurrences. With ``ensure_unicode`` each is cut back to its last character
    boundary, and left out if that is no longer than its parent's depth: then it is a
    prefix of the parent, found there with the parent's (larger) count."""
    m = suffixes.shape[0]
    stack_lcp = np.zeros(m + 1, np.int64)
    stack_lb = np.zeros(m + 1, np.int64)
    top = 0  # stack_lcp[0] = 0 is the root
    starts = np.empty(m, np.int64)
    lengths = np.empty(m, np.int64)
    counts = np.empty(m, np.int64)
    found = 0
    for i in range(1, m + 1):
        here = lcp[i] if i < m else 0
        lb = i - 1
        while here < stack_lcp[top]:
            length = stack_lcp[top]
            lb = stack_lb[top]
            top -= 1
            parent = max(here, stack_lcp[top])
            start = suffixes[lb]
            if ensure_unicode:
                while length > parent and start + length < limit[start] and \
                        (buf[start + length] & 0xC0) == 0x80:
                    length -= 1
            if length >= 2 and length > parent:
                starts[found] = start
                lengths[found] = length
                counts[found] = i - lb
                found += 1
        if here > stack_lcp[top]:
            top += 1
            stack_lcp[top] = here
            stack_lb[top] = lb
    return starts[:found], lengths[:found], counts[:found]
