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
from .language_model import orders_above_two
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

    def growth(table, extra: int, _) -> int:
        """Extra bytes at the peak: while the table doubles, or while the tables are read
        out (16 bytes an entry of the table read while the others are held: its share)."""
        entries = table[1] + extra
        return max(table_growth(len(table[0]), 4 * entries), 16 * entries // len(tables))

    return count_into_runs(texts, tables, count, lambda t: t[0].nbytes, lambda t: (t[1], 0),
                           growth, _slices, spill, isolate_digits, batch_chars, progress)


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


#: Entries of the runs per range of the merge, at most about: a range's kept n-grams are
#: held whole while the language model is written (``blocks``), a few ranges at once.
RANGE_ENTRIES = 4 << 20


def merge_ngrams(runs: list, order: int, min_count: int, workers: int, fan_in: int,
                 spill: Spill) -> "KeptNgrams":
    """The n-grams of orders 1..order of the summed runs, those of orders >= 2 counted
    at least ``min_count`` times, as ``KeptNgrams``: this pass counts them, and their
    blocks are merged again when read, so that they are never held whole."""
    runs = reduce_fan_in(runs, NGRAMS, fan_in, lambda: spill.workdirs.get().new_path("ngrams"),
                         spill.replaced)
    return KeptNgrams(runs, order, min_count, workers)


class KeptNgrams:
    """The kept n-grams of sorted n-gram runs, merged by ranges of 2-byte prefixes:
    ``byte_counts`` (int64[256], the single bytes' counts, summed over the ranges) and
    ``longer`` (how many of orders >= 3) are counted at once; ``blocks`` gives the rest."""

    def __init__(self, runs: list, order: int, min_count: int, workers: int):
        self.runs = runs
        self.order, self.min_count, self.workers = order, min_count, workers
        parts = max(4 * workers if workers > 1 else 1, sum(map(len, runs)) // RANGE_ENTRIES)
        self.ranges = key_ranges(runs, parts, align_bits=48)
        self.byte_counts = np.zeros(256, np.int64)
        self.longer = 0
        for byte_counts, longer in _in_order(self._counted, self.ranges, workers):
            self.byte_counts += byte_counts
            self.longer += longer

    def blocks(self):
        """(keys uint64 in the count table's packing, counts int64) of the kept n-grams of
        orders >= 2, range by range, merged on worker threads a few ranges ahead."""
        for parts in _in_order(self._kept, self.ranges, self.workers):
            yield from parts

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Every kept n-gram at once: (keys, counts), the 256 single bytes first (count 0
        for a byte never seen), then the blocks' n-grams."""
        blocks = list(self.blocks())
        n = 256 + sum(len(k) for k, _ in blocks)
        keys = np.empty(n, np.uint64)
        counts = np.empty(n, np.int64)
        keys[:256] = np.arange(256, dtype=np.uint64) | (np.uint64(1) << _LEN_SHIFT)
        counts[:256] = self.byte_counts
        at = 256
        while blocks:
            k, c = blocks.pop(0)
            keys[at:at + len(k)] = k
            counts[at:at + len(k)] = c
            at += len(k)
        return keys, counts

    def _counted(self, bounds) -> tuple[np.ndarray, int]:
        """(counts of the single bytes in a range, its kept n-grams of orders >= 3)."""
        byte_counts = np.zeros(256, np.int64)
        longer = sum(orders_above_two(keys) for keys, _ in self._merged(bounds, byte_counts))
        return byte_counts, longer

    def _kept(self, bounds) -> list[tuple[np.ndarray, np.ndarray]]:
        """The kept n-grams of orders >= 2 of a range, as blocks."""
        return list(self._merged(bounds, np.zeros(256, np.int64)))

    def _merged(self, bounds, byte_counts: np.ndarray):
        """The kept n-grams of orders >= 2 of a range, block by block; the single bytes'
        counts are added to ``byte_counts`` (a byte's slices may lie in several ranges)."""
        from .._kernels import read_only
        from .._kernels.ngrams import kept_ngrams_block

        lo, hi = bounds
        run_key = np.zeros(self.order + 1, np.uint64)
        run_count = np.zeros(self.order + 1, np.int64)
        for block in [*merge(self.runs, NGRAMS, lo, hi), None]:
            last = block is None
            keys, counts = kept_ngrams_block(
                read_only(np.empty(0, np.uint64) if last else block.keys),
                read_only(np.empty(0, np.int64) if last else block.counts),
                self.order, self.min_count, run_key, run_count, last)
            single = (keys >> _LEN_SHIFT) == 1
            if single.any():
                np.add.at(byte_counts, (keys[single] & np.uint64(255)).astype(np.int64),
                          counts[single])
                keys, counts = keys[~single], counts[~single]
            yield keys, counts


def _in_order(fn, items: list, workers: int):
    """fn(item) for each of ``items``, in order, on ``workers`` threads that run at most
    ``workers`` items ahead of the one read (so that few results are held at once)."""
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        pending = [pool.submit(fn, item) for item in items[:workers]]
        for item in items[workers:]:
            yield pending.pop(0).result()
            pending.append(pool.submit(fn, item))
        for future in pending:
            yield future.result()
