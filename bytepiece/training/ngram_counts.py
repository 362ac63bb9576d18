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

import queue
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .batches import Progress, batches
from .merge import key_ranges, merge, reduce_fan_in
from .runs import NGRAMS, Block
from .spill import Spill

_LEN_SHIFT = np.uint64(56)


def count_ngrams(texts, order: int, isolate_digits: bool, workers: int, spill: Spill,
                 batch_chars: int, progress: Progress) -> tuple[list, int]:
    """Count the slices of ``texts`` into runs: (runs, bytes of text counted).

    Worker threads take batches, each into a table of its own from a pool, while
    this thread packs the next batch (measured on 64 MB of C source: one table per
    thread counts 2x faster than tables sharded by key, where every thread reads
    every byte).
    """
    from .._kernels import ngrams

    tables = [[ngrams.new_table(min(1 << 16, max(1024, spill.allowance // 64))), 0]
              for _ in range(workers)]
    free: queue.Queue = queue.Queue()
    for table in tables:
        free.put(table)

    def work(buf, ends):
        table = free.get()
        try:
            table[:] = ngrams.count_slices(buf, ends, order, 0, 1, *table)
        finally:
            free.put(table)

    texts_done, total = spill.texts, spill.bytes
    running: list = []
    pool = ThreadPoolExecutor(workers)
    try:
        for buf, ends, seen in batches(texts, isolate_digits, batch_chars, spill.texts,
                                       progress):
            _wait(running, 2 * workers)
            # a batch goes to one table, but any: allow for each growing by a batch's
            # worth of new keys (one per byte at worst; ngrams.reserve)
            growth = sum(table_growth(len(t), 4 * (n + len(buf))) for t, n in tables)
            if spill.over(sum(t.nbytes for t, _ in tables), growth):
                _wait(running, 0)
                spill.write(_slices(tables, free=True), texts_done, total)
            running.append(pool.submit(work, buf, ends))
            texts_done = seen
            total += len(buf)
        _wait(running, 0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return spill.finish(_slices(tables), texts_done, total), total


def _wait(futures: list, keep: int) -> None:
    """Wait for the oldest futures until at most ``keep`` are left (raising their errors)."""
    while len(futures) > keep:
        futures.pop(0).result()


def _slices(tables, free: bool = False) -> Block:
    """The slices of the tables as one block, keys big-endian (a key may repeat).

    ``free``: each table is replaced by an empty one of its size once read, so
    that the sort of a spill has the tables' memory (empty tables take none until
    written: numpy's zeros are pages the system has not yet given).
    """
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
        if free:
            del table
            entry[0] = np.zeros(len(entry[0]), np.uint64)
            entry[1] = 0
    keys.byteswap(inplace=True)
    return Block(keys, counts)


def merge_ngrams(runs: list, order: int, min_count: int, workers: int, fan_in: int,
                 spill: Spill) -> tuple[np.ndarray, np.ndarray]:
    """The n-grams of orders 1..order of the summed runs, those of orders >= 2 counted
    at least ``min_count`` times: (keys uint64 in the table's packing, counts int64)."""
    from .._kernels.ngrams import kept_ngrams_block

    runs = reduce_fan_in(runs, NGRAMS, fan_in, lambda: spill.workdirs.get().new_path("ngrams"),
                         spill.replaced)
    ranges = key_ranges(runs, 4 * workers if workers > 1 else 1, align_bits=48)

    def one_range(bounds):
        lo, hi = bounds
        run_key = np.zeros(order + 1, np.uint64)
        run_count = np.zeros(order + 1, np.int64)
        parts = [kept_ngrams_block(b.keys, b.counts, order, min_count, run_key, run_count,
                                   False) for b in merge(runs, NGRAMS, lo, hi)]
        parts.append(kept_ngrams_block(np.empty(0, np.uint64), np.empty(0, np.int64), order,
                                       min_count, run_key, run_count, True))
        return parts

    if len(ranges) == 1:
        results = [one_range(ranges[0])]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one_range, ranges))
    keys = np.concatenate([k for parts in results for k, _ in parts])
    counts = np.concatenate([c for parts in results for _, c in parts])
    # single bytes may have been counted in several ranges: sum them
    single = (keys >> _LEN_SHIFT) == 1
    byte_counts = np.zeros(256, np.int64)
    np.add.at(byte_counts, (keys[single] & np.uint64(255)).astype(np.int64), counts[single])
    present = np.flatnonzero(byte_counts)
    keys = np.concatenate([present.astype(np.uint64) | (np.uint64(1) << _LEN_SHIFT),
                           keys[~single]])
    counts = np.concatenate([byte_counts[present], counts[~single]])
    return keys, counts


def table_growth(words: int, needed_words: int) -> int:
    """Extra bytes at the peak while a table of ``words`` uint64 doubles until it has
    ``needed_words``: the last copy holds the new array and the one before it."""
    final = words
    while needed_words > final:
        final *= 2
    return 8 * (final + final // 2 - words) if final > words else 0
