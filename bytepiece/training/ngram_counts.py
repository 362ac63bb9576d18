"""Phases 1 and 2: count the byte slices of every chunk into runs, merge the runs into
the kept n-grams.

Counting: at every position, the slice of ``order`` bytes starting there
(``_kernels.ngrams.count_slices``), in a hash table per worker thread; before a
batch that could take the tables past the allowance, the workers finish what
they hold and the tables are written out as one sorted run and emptied.

Merging: the runs are merged by ranges of 2-byte prefixes on worker threads.
Every n-gram of order >= 2 begins with its 2-byte prefix, so its count (the sum
of the slices it begins) is whole within one range and ``min_count`` applies
there; the counts of single bytes are summed over the ranges.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .batches import Progress
from .counting import count_into_runs, table_growth
from .merge import key_ranges, merge, reduce_fan_in
from .runs import NGRAMS, Block
from .spill import Spill

_LEN_SHIFT = np.uint64(56)


def count_ngrams(texts, order: int, isolate_digits: bool, workers: int, spill: Spill,
                 batch_chars: int, progress: Progress) -> tuple[list, int]:
    """Count the slices of ``texts`` into runs: (runs, bytes of text counted).

    A table per worker thread (measured on 64 MB of C source: as fast as tables
    sharded by key, where every thread reads every byte, on 2 cores, and it
    scales with cores where sharding does not).
    """
    from .._kernels import ngrams

    def count(table, buf, ends):
        table[:] = ngrams.count_slices(buf, ends, order, 0, 1, *table)

    # a table may gain one key per byte at worst, and doubles to stay half full
    tables = [[ngrams.new_table(min(1 << 16, max(1024, spill.allowance // 64))), 0]
              for _ in range(workers)]
    return count_into_runs(texts, tables, count, lambda t: t[0].nbytes, lambda t: (t[1], 0),
                           lambda t, n, _: table_growth(len(t[0]), 4 * (t[1] + n)), _slices,
                           spill, isolate_digits, batch_chars, progress)


def _slices(tables, free: bool = False) -> Block:
    """The slices of the tables as one block, keys big-endian (a key may repeat).

    ``free``: each table is replaced by a small empty one once read, so that the
    sort of a spill has the tables' memory.
    """
    from .._kernels import ngrams

    n = sum(size for _, size in tables)
    keys = np.empty(n, np.uint64)
    counts = np.empty(n, np.int64)
    at = 0
    for entry in tables:
        table, size = entry
        used = table[0::2] != 0
        np.compress(used, table[0::2], out=keys[at:at + size])
        np.compress(used, table[1::2].view(np.int64), out=counts[at:at + size])
        at += size
        if free:  # a small new table: it grows again as the next batches need
            del table
            entry[0] = ngrams.new_table(1 << 16)
            entry[1] = 0
    keys.byteswap(inplace=True)
    return Block(keys, counts)


def merge_ngrams(runs: list, order: int, min_count: int, workers: int, fan_in: int,
                 spill: Spill) -> tuple[np.ndarray, np.ndarray]:
    """The n-grams of orders 1..order of the summed runs, those of orders >= 2 counted
    at least ``min_count`` times: (keys uint64 in the table's packing, counts int64).

    The first 256 entries are the single bytes 0..255 (count 0 for a byte never
    seen); the kept n-grams are written once into the result, range by range.
    """
    from .._kernels import read_only
    from .._kernels.ngrams import kept_ngrams_block

    runs = reduce_fan_in(runs, NGRAMS, fan_in, lambda: spill.workdirs.get().new_path("ngrams"),
                         spill.replaced)
    ranges = key_ranges(runs, 4 * workers if workers > 1 else 1, align_bits=48)

    def one_range(bounds):
        """(counts of the single bytes in this range, [(keys, counts)] of the rest)."""
        lo, hi = bounds
        run_key = np.zeros(order + 1, np.uint64)
        run_count = np.zeros(order + 1, np.int64)
        byte_counts = np.zeros(256, np.int64)
        parts = []
        blocks = merge(runs, NGRAMS, lo, hi)
        for block in [*blocks, None]:
            last = block is None
            keys, counts = kept_ngrams_block(
                read_only(np.empty(0, np.uint64) if last else block.keys),
                read_only(np.empty(0, np.int64) if last else block.counts),
                order, min_count, run_key, run_count, last)
            single = (keys >> _LEN_SHIFT) == 1
            if single.any():
                # a byte's slices may lie in several ranges: its count is summed
                np.add.at(byte_counts, (keys[single] & np.uint64(255)).astype(np.int64),
                          counts[single])
                keys, counts = keys[~single], counts[~single]
            parts.append((keys, counts))
        return byte_counts, parts

    if len(ranges) == 1:
        results = [one_range(ranges[0])]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one_range, ranges))
    n = 256 + sum(len(k) for _, parts in results for k, _ in parts)
    keys = np.empty(n, np.uint64)
    counts = np.empty(n, np.int64)
    keys[:256] = np.arange(256, dtype=np.uint64) | (np.uint64(1) << _LEN_SHIFT)
    counts[:256] = sum(byte_counts for byte_counts, _ in results)
    at = 256
    for _, parts in results:
        while parts:
            k, c = parts.pop(0)
            keys[at:at + len(k)] = k
            counts[at:at + len(k)] = c
            at += len(k)
    return keys, counts
