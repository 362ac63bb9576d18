"""Byte n-gram counting and pruning over packed uint64 keys.

An n-gram of up to 7 bytes packs into one uint64: its first byte in the lowest
8 bits, its k-th byte in bits 8k..8k+7, and its length in the top byte. Key 0
(length 0) never occurs, so it marks an empty slot. Counts live in an
open-addressing table (Fibonacci hashing, linear probing, doubling when half
full) of (key, count) pairs: ``table`` uint64[2 * cap], ``cap`` a power of two,
so a look-up touches one cache line.

Counting is done in two steps, which gives exactly BytePiece's counts with one
table probe per byte instead of one per order: at every position the slice of
``order`` bytes starting there (shorter near the end of a chunk) is counted
(``count_slices``), then the count of every n-gram of every order is the sum of
the counts of the slices it begins, summed over the slices sorted
lexicographically (``kept_ngrams``): the n-grams that survive pruning are few,
and no table of all of them is ever built. ``add_to_lm`` writes the kept ones
into the language model's tables, and ``condition_lm`` makes their log counts
conditional.
"""

import numpy as np

from ._jit import inner, kernel

_FIB = np.uint64(0x9E3779B97F4A7C15)
_LEN_SHIFT = np.uint64(56)
_LOW56 = np.uint64((1 << 56) - 1)
_SHARD_MIX = np.uint64(0xD6E8FEB86659FD93)


def new_table(capacity):
    """An empty count table with at least ``capacity`` slots (a power of two, >= 1024).

    Plain numpy (as ``entries``): no kernel to compile for it.
    """
    cap = 1024
    while cap < capacity:
        cap *= 2
    return np.zeros(2 * cap, np.uint64)


@inner
def _shift(table):
    """64 - log2(slots) for a table of (key, value) pairs: the Fibonacci hash of a
    key is the top bits of key * _FIB."""
    bits = 0
    while (2 << bits) < table.shape[0]:
        bits += 1
    return np.uint64(64 - bits)


@inner
def _kv_index(table, key, shift):
    """The index in ``table`` of the pair holding ``key``, or of the empty pair for it."""
    mask = (table.shape[0] >> 1) - 1
    i = np.int64((key * _FIB) >> shift)
    while True:
        k = table[2 * i]
        if k == key or k == 0:
            return 2 * i
        i = (i + 1) & mask


@inner
def _grow(table):
    new = np.empty(2 * table.shape[0], np.uint64)  # not np.zeros: see _kernels.trie._grow
    for i in range(new.shape[0]):
        new[i] = 0
    shift = _shift(new)
    for i in range(0, table.shape[0], 2):
        if table[i] != 0:
            j = _kv_index(new, table[i], shift)
            new[j] = table[i]
            new[j + 1] = table[i + 1]
    return new


@inner
def reserve(table, size, extra):
    """The table grown, if needed, so that ``extra`` more keys keep it at most half full.

    Hot loops never grow the table themselves: numba would then count references
    to the array at every iteration, which costs more than the counting.
    """
    while 4 * (size + extra) > table.shape[0]:
        table = _grow(table)
    return table


@inner
def _add(table, size, shift, key, count):
    """Add ``count`` to ``key`` (the table has room); returns the new size."""
    j = _kv_index(table, key, shift)
    if table[j] == 0:
        table[j] = key
        size += 1
    table[j + 1] += np.uint64(count)
    return size


@inner
def shard_of(key, n_shards):
    """Which of ``n_shards`` tables holds ``key`` (a hash independent of the slot's)."""
    return np.int64(((key * _SHARD_MIX) >> np.uint64(40)) % np.uint64(n_shards))


@inner
def _count_slices_range(buf, lo, hi, end, order, shard, n_shards, table, size, shift):
    for i in range(lo, hi):
        length = min(order, end - i)
        key = np.uint64(length) << _LEN_SHIFT
        for k in range(length):
            key |= np.uint64(buf[i + k]) << np.uint64(8 * k)
        if n_shards == 1 or shard_of(key, n_shards) == shard:
            size = _add(table, size, shift, key, 1)
    return size


@kernel
def count_slices(buf, chunk_ends, order, shard, n_shards, table, size):
    """Count, at every byte position of every chunk, the slice of ``order`` bytes
    starting there (cut short by the end of the chunk).

    buf: uint8[n], chunks back to back; chunk_ends: int64[c], cumulative ends.
    Only slices of shard ``shard`` of ``n_shards`` are counted: threads count
    disjoint sets of keys over the same buffer, so no key is held twice.
    Accumulates into (table, size) and returns it (the table may grow).
    """
    step = 1 << 16
    start = 0
    for c in range(chunk_ends.shape[0]):
        end = chunk_ends[c]
        for lo in range(start, end, step):
            hi = min(lo + step, end)
            table = reserve(table, size, hi - lo)  # at most one new key per position
            size = _count_slices_range(buf, lo, hi, end, order, shard, n_shards, table,
                                       size, _shift(table))
        start = end
    return table, size


@inner
def _aggregate(sorted_keys, sorted_counts, order, min_count, run_key, run_count, flush,
               out_keys, out_counts, write):
    """Sum the slices into n-grams; returns the number of n-grams kept.

    ``run_key``/``run_count`` (uint64/int64[order + 1]) hold the n-gram being
    summed at each order, carried from one block of slices to the next; with
    ``flush`` the last ones are emitted too (the end of the slices).
    """
    m = 0
    n = sorted_keys.shape[0]
    for i in range(n + 1 if flush else n):
        last = i == n
        key = np.uint64(0) if last else sorted_keys[i]
        length = order if last else min(np.int64(key & np.uint64(255)), order)
        for j in range(1, length + 1):
            top = key >> np.uint64(64 - 8 * j)
            if not last and run_count[j] > 0 and run_key[j] == top:
                run_count[j] += sorted_counts[i]
                continue
            if run_count[j] > 0 and (j == 1 or run_count[j] >= min_count):
                if write:
                    # back to the packing of the table: first byte lowest, length on top
                    t = run_key[j]
                    packed = np.uint64(j) << _LEN_SHIFT
                    for k in range(j):
                        byte = (t >> np.uint64(8 * (j - 1 - k))) & np.uint64(255)
                        packed |= byte << np.uint64(8 * k)
                    out_keys[m] = packed
                    out_counts[m] = run_count[j]
                m += 1
            if last:
                run_count[j] = 0
            else:
                run_key[j] = top
                run_count[j] = sorted_counts[i]
    return m


@kernel
def kept_ngrams(sorted_keys, sorted_counts, order, min_count):
    """The n-grams of orders 1..order with their counts, those of orders >= 2
    only when counted at least ``min_count`` times.

    sorted_keys: uint64[s], the distinct slices (see ``count_slices``) in
    big-endian packing -- first byte in the top 8 bits, length in the lowest 8 --
    and sorted, so that the slices beginning with an n-gram are contiguous;
    sorted_counts: int64[s], their counts. An n-gram's count is the sum of the
    counts of the slices at least as long as it that begin with it. Returns
    (keys uint64[m] in the table's packing, counts int64[m]).
    """
    m = _aggregate(sorted_keys, sorted_counts, order, min_count, np.zeros(order + 1, np.uint64),
                   np.zeros(order + 1, np.int64), True, np.empty(0, np.uint64),
                   np.empty(0, np.int64), False)
    out_keys = np.empty(m, np.uint64)
    out_counts = np.empty(m, np.int64)
    _aggregate(sorted_keys, sorted_counts, order, min_count, np.zeros(order + 1, np.uint64),
               np.zeros(order + 1, np.int64), True, out_keys, out_counts, True)
    return out_keys, out_counts


@kernel
def kept_ngrams_block(sorted_keys, sorted_counts, order, min_count, run_key, run_count, flush):
    """``kept_ngrams`` over one block of a sorted stream of slices, the n-grams still
    being summed carried in ``run_key``/``run_count`` (zeros at the start); with
    ``flush``, the block is the stream's last."""
    size = order * (sorted_keys.shape[0] + 1)
    out_keys = np.empty(size, np.uint64)
    out_counts = np.empty(size, np.int64)
    m = _aggregate(sorted_keys, sorted_counts, order, min_count, run_key, run_count, flush,
                   out_keys, out_counts, True)
    return out_keys[:m].copy(), out_counts[:m].copy()


def entries(table, size):
    """The table's entries as dense arrays: keys uint64[size], counts int64[size]."""
    used = table[0::2] != 0
    keys = table[0::2][used]
    counts = table[1::2][used].astype(np.int64)
    assert keys.shape[0] == size
    return keys, counts


#: The language model's table is at most this full: 27 bytes a kept n-gram at most,
#: and a look-up of an absent n-gram (one per byte) probes ~3.6 slots on average.
LM_LOAD = 0.6


@inner
def lm_slot_start(kv, key):
    """The index in ``kv`` where the search for ``key`` starts (``lm_slot``): the top bits
    of the Fibonacci hash scaled to the slot count."""
    cap = np.uint64(kv.shape[0] >> 1)
    return np.uint64(2) * ((((key * _FIB) >> np.uint64(32)) * cap) >> np.uint64(32))


@inner
def lm_slot(kv, key):
    """The index in the LM table ``kv`` (uint64 pairs, any number of slots) of the pair
    holding ``key``, or of the empty pair for it: ``lm_slot_start``, then linear probing."""
    cap = np.uint64(kv.shape[0] >> 1)
    i = lm_slot_start(kv, key) >> np.uint64(1)
    while True:
        k = kv[2 * i]
        if k == key or k == 0:
            return np.int64(2 * i)
        i += np.uint64(1)
        if i == cap:
            i = np.uint64(0)


@inner
def _pair_index(key):
    """first_byte * 256 + second_byte of a packed key: its index in the dense bigram table."""
    return (np.int64(key & np.uint64(255)) << 8) | np.int64((key >> np.uint64(8)) & np.uint64(255))


@kernel
def add_to_lm(kv, bigram, keys, log_counts):
    """Write the log counts of kept n-grams of orders >= 2 into the LM's tables: order 2
    into the dense ``bigram`` (float64[65536], index first_byte * 256 + second_byte),
    longer ones as pairs (key, bits of the float64) into ``kv``, found by ``lm_slot``.

    keys: uint64[m] in the count table's packing; log_counts: float64[m]. ``kv``
    must have room for every n-gram of orders >= 3 written into it (``LM_LOAD``).
    """
    kv_value = kv.view(np.float64)
    for i in range(keys.shape[0]):
        key = keys[i]
        length = np.int64(key >> _LEN_SHIFT)
        if length == 2:
            bigram[_pair_index(key)] = log_counts[i]
        elif length >= 3:
            s = lm_slot(kv, key)
            kv[s] = key
            kv_value[s + 1] = log_counts[i]


@kernel
def condition_lm(unigram, bigram, kv, log_total, order):
    """Turn the LM's log counts, in place, into conditional log-probabilities
    log P(last byte | the bytes before): an n-gram's log count minus that of its
    prefix one byte shorter (``log_total`` for single bytes), the subtraction
    BytePiece does. ``unigram`` float64[256], ``bigram`` and ``kv`` as
    ``add_to_lm`` wrote them (-inf and empty pairs for the n-grams not kept); every
    prefix of a kept n-gram must be kept. See ``lm.best_states``.
    """
    kv_value = kv.view(np.float64)
    cap = kv.shape[0]
    # longest first, so that each prefix is still a log count when it is subtracted
    for length in range(order, 2, -1):
        low = (np.uint64(1) << np.uint64(8 * (length - 1))) - np.uint64(1)
        for s in range(0, cap, 2):
            key = kv[s]
            if key == 0 or np.int64(key >> _LEN_SHIFT) != length:
                continue
            if length == 3:
                prefix = bigram[_pair_index(key)]
            else:
                p = lm_slot(kv, (np.uint64(length - 1) << _LEN_SHIFT) | (key & low))
                prefix = kv_value[p + 1]
            kv_value[s + 1] = kv_value[s + 1] - prefix
    for i in range(65536):
        if bigram[i] != -np.inf:
            bigram[i] = bigram[i] - unigram[i >> 8]
    for b in range(256):
        if unigram[b] != -np.inf:
            unigram[b] = unigram[b] - log_total
