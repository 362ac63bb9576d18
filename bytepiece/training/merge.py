"""Merging sorted runs: k-way, counts summed, by key range, in bounded memory.

``sort_and_sum`` is the one primitive: it orders a block and adds up equal
entries. A spill is ``sort_and_sum`` of a table's entries; a merge reads every
run a block at a time and applies it to the entries that are complete (those
below the smallest last key read from a run that has more), so memory is a
few blocks per run, whatever the runs' sizes. Adding integers in any order and
grouping gives the same sums, so a merge of runs equals one table of everything.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence

import numpy as np

from .runs import NGRAMS, Block, RunFile, RunWriter, concat, empty_block


def sort_and_sum(block: Block, kind: int, runs: bool = False, own: bool = False) -> Block:
    """``block``'s entries sorted by key (pieces: by key, then bytes), equal ones summed.

    ``runs``: the block is sorted runs one after the other (a merge), which a stable
    sort (timsort) merges in O(n log k); otherwise a quicksort is faster. ``own``: the
    block is the caller's to spend, and n-grams are sorted in its own arrays (a spill of
    full tables then needs 32 bytes an entry at the peak, not 40).
    """
    if len(block) == 0:
        return block
    order = np.argsort(block.keys, kind="stable" if runs else "quicksort")
    if kind == NGRAMS:
        if own:
            keys, counts = block.keys, block.counts
            keys[:] = keys[order]
            counts[:] = counts[order]
        else:
            keys = block.keys[order]
            counts = block.counts[order]
        del order
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        if len(starts) == len(keys):
            return Block(keys, counts)
        return Block(keys[starts], np.add.reduceat(counts, starts))
    from .._kernels import read_only
    from .._kernels.runs import sum_sorted_pieces

    inputs = (block.keys, block.counts, block.ends, block.data, order)
    return Block(*sum_sorted_pieces(*map(read_only, inputs)))


def merge(runs: Sequence, kind: int, lo: int = 0, hi: int | None = None) -> Iterator[Block]:
    """The sum of ``runs`` (RunFile or MemoryRun) over keys lo <= key < hi, as sorted blocks."""
    sources = [iter(run.blocks(lo, hi)) for run in runs]
    buffers = [next(s, None) for s in sources]
    done = [b is None for b in buffers]
    buffers = [b if b is not None else empty_block(kind) for b in buffers]
    while not all(d and len(b) == 0 for d, b in zip(done, buffers)):
        # entries below the smallest last key of a run that has more are complete
        open_last = [int(b.keys[-1]) for d, b in zip(done, buffers) if not d]
        bound = min(open_last) if open_last else None
        parts = []
        for r, b in enumerate(buffers):
            cut = len(b) if bound is None else int(np.searchsorted(b.keys, np.uint64(bound)))
            if cut:
                parts.append(b.take(0, cut))
                buffers[r] = b.take(cut, len(b))
        for r, b in enumerate(buffers):
            if not done[r] and int(b.keys[-1]) == bound:
                more = next(sources[r], None)
                if more is None:
                    done[r] = True
                else:
                    buffers[r] = concat([b, more], kind)
        if parts:
            yield parts[0] if len(parts) == 1 else \
                sort_and_sum(concat(parts, kind), kind, runs=True, own=True)


def merge_into(runs: Sequence, kind: int, path: str | os.PathLike) -> RunFile:
    """Merge ``runs`` into a new run file at ``path``."""
    writer = RunWriter(path, kind)
    try:
        for block in merge(runs, kind):
            writer.write(block)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return RunFile(path)


def reduce_fan_in(runs: list, kind: int, fan_in: int, new_path: Callable[[], str],
                  replaced: Callable[[list, RunFile], None] = lambda group, run: None) -> list:
    """Merge groups of runs until at most ``fan_in`` remain (a merge reads a block per
    run at a time, so the fan-in bounds its memory). ``replaced(group, run)`` is told
    of each merge once the new run is whole; then the group's files are deleted."""
    fan_in = max(2, fan_in)
    while len(runs) > fan_in:
        merged = []
        for g in range(0, len(runs), fan_in):
            group = runs[g:g + fan_in]
            if len(group) == 1:
                merged.append(group[0])
                continue
            run = merge_into(group, kind, new_path())
            replaced(group, run)
            for old in group:
                path = getattr(old, "path", None)  # a MemoryRun has none
                if path:
                    os.unlink(path)
            merged.append(run)
        runs = merged
    return runs


def key_ranges(runs: Sequence, parts: int, align_bits: int = 0) -> list[tuple[int, int | None]]:
    """About ``parts`` key ranges [lo, hi) of similar sizes covering every key, from the
    runs' samples; bounds are multiples of 2**align_bits (n-grams: whole 2-byte prefixes)."""
    if parts <= 1:
        return [(0, None)]
    samples = np.sort(np.concatenate([run.sample_keys() for run in runs] or
                                     [np.empty(0, np.uint64)]))
    if len(samples) < 2:
        return [(0, None)]
    picks = samples[(np.arange(1, parts) * len(samples)) // parts]
    mask = ~np.uint64((1 << align_bits) - 1) if align_bits else ~np.uint64(0)
    bounds = sorted(set(int(p & mask) for p in picks) - {0})
    edges = [0, *bounds, None]
    return list(zip(edges[:-1], edges[1:]))


def fan_in(allowance: int, workers: int) -> int:
    """How many runs one merge reads at once: two blocks of ~1 MB each per run and
    per merging thread within the allowance (at least 4, at most 64)."""
    return max(4, min(64, allowance // (workers * 6 << 20)))
