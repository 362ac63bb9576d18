"""Phases 1 and 2: count the byte slices of every chunk into runs, merge the runs into
the kept n-grams.

Counting: at every position, the slice of ``order`` bytes starting there
(``_kernels.ngrams.count_slices``), in one hash table per worker thread, each
holding the slices of its shard of keys; before a batch that could take the
tables past the allowance, they are written out as a sorted run and emptied.

Merging: the runs are merged by ranges of 2-byte prefixes on worker threads.
Every n-gram of order >= 2 begins with its 2-byte prefix, so its count (the sum
of the slices it begins) is whole within one range and ``min_count`` applies
there; the counts of single bytes are summed over the ranges.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .batches import Progress, batches
from .merge import key_ranges, merge, reduce_fan_in
from .runs import NGRAMS, Block
from .spill import Spill

_LEN_SHIFT = np.uint64(56)


def count_ngrams(texts, order: int, isolate_digits: bool, workers: int, spill: Spill,
                 batch_chars: int, progress: Progress) -> tuple[list, int]:
    """Count the slices of ``texts`` into runs: (runs, bytes of text counted)."""
    from .._kernels import ngrams

    shards = [[ngrams.new_table(1 << 16), 0] for _ in range(workers)]

    def work(k, buf, ends):
        shards[k][:] = ngrams.count_slices(buf, ends, order, k, workers, *shards[k])

    texts_done, total = spill.texts, spill.bytes
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    running: list = []
    try:
        for buf, ends, seen in batches(texts, isolate_digits, batch_chars, spill.texts,
                                       progress):
            for f in running:
                f.result()
            running = []
            # a batch adds at most one key per byte to each table, which doubles to
            # stay at most half full (ngrams.reserve)
            growth = sum(table_growth(len(t), 4 * (n + len(buf))) for t, n in shards)
            if spill.over(sum(t.nbytes for t, _ in shards), growth):
                spill.write(_slices(shards), texts_done, total)
                for shard in shards:
                    shard[0][:] = 0
                    shard[1] = 0
            if pool is None:
                work(0, buf, ends)
            else:
                running = [pool.submit(work, k, buf, ends) for k in range(workers)]
            texts_done = seen
            total += len(buf)
        for f in running:
            f.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return spill.finish(_slices(shards), texts_done, total), total


def _slices(shards) -> Block:
    """The slices of the shard tables (disjoint keys) as one block, keys big-endian."""
    from .._kernels.ngrams import entries

    parts = [entries(t, n) for t, n in shards]
    keys = np.concatenate([k for k, _ in parts]).byteswap()
    return Block(keys, np.concatenate([c for _, c in parts]))


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
