"""Phases 4 and 5: segment every chunk with the n-gram model and count the pieces into
runs; merge the runs and sort the pieces into kept and re-split.

Counting: worker threads take batches, each into a piece table of its own from
a pool (``_kernels.lm.count_pieces``); before a batch that could take the
tables past the allowance, the workers finish what they hold and every table
is written out as a sorted run and emptied.

Merging: the runs are merged by ranges of piece keys on worker threads (keys are
hashes, so the ranges are even). A piece is kept when it is a single byte, or
at most ``max_piece_length`` bytes and counted ``min_count`` times in all; the
others are re-split by the pruning phase, weighted by their counts.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .batches import Progress
from .counting import count_into_runs, table_growth
from .merge import key_ranges, merge, reduce_fan_in
from .runs import PIECES, Block, RunFile, RunWriter, concat
from .spill import Spill


def count_pieces(texts, lm_arrays, order: int, ensure_unicode: bool, isolate_digits: bool,
                 workers: int, spill: Spill, batch_chars: int,
                 progress: Progress) -> tuple[list, int]:
    """Count the pieces of ``texts`` under the n-gram model into runs: (runs, bytes)."""
    from .._kernels import lm

    def count(state, buf, ends):
        state[:] = lm.count_pieces(buf, ends, *lm_arrays, order, ensure_unicode, *state)

    states = [list(lm.new_piece_table(1 << 12)) for _ in range(workers)]
    return count_into_runs(texts, states, count, _piece_table_bytes, lambda s: (s[3], s[4]),
                           lambda s, n, b: _piece_table_growth(s, n, b, len(states)), _pieces,
                           spill, isolate_digits, batch_chars, progress)


def _pieces(states, free: bool = False) -> Block:
    """The pieces of the workers' tables as one block (unsorted, repeats allowed).

    ``free``: each table is replaced by a small empty one once read, so that the
    sort of a spill has the tables' memory.
    """
    from .._kernels import lm, read_only
    from .._kernels.runs import piece_keys, table_pieces

    blocks = []
    for state in states:
        slots, entries, arena, n, used = state
        counts, ends, data = table_pieces(entries, arena, n)
        blocks.append(Block(piece_keys(read_only(data), ends), counts, ends, data))
        if free:  # a small new table: it grows again as the next batches need
            del slots, entries, arena
            state[:] = list(lm.new_piece_table(1 << 12))
    return concat(blocks, PIECES)


def _piece_table_bytes(state) -> int:
    slots, entries, arena, n, used = state
    return slots.nbytes + entries.nbytes + arena.nbytes


def _piece_table_growth(state, extra: int, extra_bytes: int, tables: int = 1) -> int:
    """Extra bytes at the peak while a piece table (``lm.new_piece_table``) grows for
    ``extra`` more pieces of ``extra_bytes`` more bytes, as ``lm.reserve_pieces`` does,
    or while the ``tables`` are read out (``_pieces``: 24 bytes a piece and its bytes, for
    the table read while the others are held; this table's share of it)."""
    slots, entries, arena, n, used = state
    read = (24 * (n + extra) + used + extra_bytes) // tables
    grown = table_growth(len(slots), 4 * (n + extra))
    if 3 * (n + extra) > len(entries):
        grown += 8 * max(2 * len(entries), 3 * (n + extra))
    if used + extra_bytes > len(arena):
        grown += max(2 * len(arena), used + extra_bytes)
    return max(grown, read)


def merge_pieces(runs: list, min_count: int, max_piece_length: int, workers: int,
                 fan_in: int, spill: Spill) -> tuple[Block, list]:
    """The summed pieces, sorted into (kept, re-split): the kept pieces as one block, and
    the others as a list of sources of blocks (runs on disk when the counts spilled)."""
    on_disk = any(isinstance(r, RunFile) for r in runs)
    runs = reduce_fan_in(runs, PIECES, fan_in, lambda: spill.workdirs.get().new_path("pieces"),
                         spill.replaced)
    ranges = key_ranges(runs, 4 * workers if workers > 1 else 1)
    if on_disk:  # names made here, not on the threads
        ranges = [(lo, hi, spill.workdirs.get().new_path("resplit")) for lo, hi in ranges]
    else:
        ranges = [(lo, hi, None) for lo, hi in ranges]

    def one_range(bounds):
        lo, hi, path = bounds
        kept: list[Block] = []
        dropped = RunWriter(path, PIECES) if on_disk else []
        try:
            for block in merge(runs, PIECES, lo, hi):
                lengths = np.diff(block.ends, prepend=0)
                keep = (lengths == 1) | ((lengths <= max_piece_length) &
                                         (block.counts >= min_count))
                kept.append(block.select(keep))
                if not keep.all():
                    rest = block.select(~keep)
                    if on_disk:
                        dropped.write(rest)
                    else:
                        dropped.append(rest)
            if on_disk:
                dropped = [RunFile(dropped.close())]
        except BaseException:
            if on_disk:
                dropped.abort()
            raise
        return concat(kept, PIECES), dropped

    if len(ranges) == 1:
        results = [one_range(ranges[0])]
    else:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one_range, ranges))
    kept = concat([k for k, _ in results], PIECES)
    dropped = [d for _, ds in results for d in ds]
    return kept, dropped


def resplit_blocks(dropped: list):
    """The blocks of the pieces to re-split, from ``merge_pieces``'s list."""
    for source in dropped:
        if isinstance(source, Block):
            yield source
        else:
            yield from source.blocks()
