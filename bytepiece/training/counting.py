"""The loop both counting phases share: batches to worker threads, each with a table of
its own, and a spill whenever the tables could outgrow the allowance.

A phase gives its tables and four functions of them: how to count a batch into
one, their bytes, how much one batch could grow them, and how to read them out
as a block (emptying them, for a spill). Worker threads take batches while this
thread packs the next; before a spill they finish what they hold, so a run
holds the counts of exactly the texts before some batch (what resuming needs).
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .batches import Progress, batches
from .runs import Block
from .spill import Spill


def count_into_runs(texts, tables: list, count: Callable, table_bytes: Callable,
                    load: Callable, growth: Callable, read_out: Callable[[list, bool], Block],
                    spill: Spill, isolate_digits: bool, batch_chars: int,
                    progress: Progress) -> tuple[list, int]:
    """Count ``texts`` into ``tables`` (one per worker thread), spilling as needed:
    (runs, bytes of text counted).

    ``count(table, buf, ends)`` counts a batch into a table (in place: a table is
    a list whose items the kernel may replace); ``table_bytes(table)``;
    ``load(table)``: (entries, bytes of keys) it holds; ``growth(table, entries,
    key_bytes)``: bytes it may add for that many more; ``read_out(tables,
    empty)``: the tables' counts as one block.

    How much a batch may add is first taken at its worst (a new entry per byte);
    after a spill, at twice the most new entries (and key bytes) per byte of
    text that the tables emptied by a spill had held: tables then fill the
    allowance instead of spilling at a fraction of it, and may pass it by less
    than a batch's worth where the text changes abruptly.
    """
    free: queue.Queue = queue.Queue()
    for table in tables:
        free.put(table)

    def work(buf, ends):
        table = free.get()
        try:
            count(table, buf, ends)
        finally:
            free.put(table)

    texts_done, total = spill.texts, spill.bytes
    since_spill = 0
    rates = (1.0, 1.0)  # new entries and key bytes per byte of text, at most
    running: list = []
    pool = ThreadPoolExecutor(len(tables))
    try:
        for buf, ends, seen in batches(texts, isolate_digits, batch_chars, spill.texts,
                                       progress):
            _wait(running, 2 * len(tables))
            # a batch goes to one table, but any: allow for each growing by this batch and
            # those still being counted
            n = len(buf) + sum(size for size, _ in running)
            coming = sum(growth(t, int(rates[0] * n) + 1, int(rates[1] * n) + 1)
                         for t in tables)
            held = [sum(x) for x in zip(*map(load, tables))]  # of the batches done
            if spill.over(sum(table_bytes(t) for t in tables), coming, held[0] + len(running)):
                _wait(running, 0)
                held = [sum(x) for x in zip(*map(load, tables))]
                observed = tuple(min(1.0, 2 * h / max(since_spill, 1)) for h in held)
                rates = observed if rates == (1.0, 1.0) else \
                    tuple(max(r, o) for r, o in zip(rates, observed))
                spill.write(read_out(tables, True), texts_done, total)
                since_spill = 0
            running.append((len(buf), pool.submit(work, buf, ends)))
            texts_done = seen
            total += len(buf)
            since_spill += len(buf)
        _wait(running, 0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    # the tables are emptied as they are read: the sort of the last run has their memory
    return spill.finish(read_out(tables, True), texts_done, total), total


def _wait(running: list, keep: int) -> None:
    """Wait for the oldest batches, (bytes, future), until at most ``keep`` are left
    (raising their errors)."""
    while len(running) > keep:
        running.pop(0)[1].result()


def table_growth(words: int, needed_words: int) -> int:
    """Extra bytes at the peak while a table of ``words`` uint64 doubles until it has
    ``needed_words``: the last copy holds the new array and the one before it."""
    final = words
    while needed_words > final:
        final *= 2
    return 8 * (final + final // 2 - words) if final > words else 0
