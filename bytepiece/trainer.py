"""Training a BytePiece vocabulary: BytePiece 0.6.3's algorithm on numba kernels.

The phases, named after the reference's methods:

1. ``count_ngrams``: byte n-gram counts of orders 0..order over the training chunks;
2. ``prune_ngrams``: every single byte present, ``min_count`` for orders >= 2,
   conditional log-probabilities: a byte n-gram language model;
3. ``count_pieces``: the best segmentation of every chunk under that model
   (a piece ends wherever the model prefers to start afresh), pieces counted;
4. ``prune_pieces``: keep short, frequent pieces and every single byte, re-split
   the rest with the unigram tokenizer of the kept ones, drop pieces that the
   tokenizer never uses, and cut to each ``max_vocab_size``.

Every phase gives exactly the reference's numbers: the same integer counts,
the same float64 operations in the same order, numpy's argmax tie rules.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from typing import Callable, Iterable

import numpy as np

from .chunking import pack_chunks
from .errors import InputError
from .memory import MemoryBudget, format_size
from .model import Model

#: Characters of training text handed to a kernel at once: large enough that a
#: kernel call costs nothing, small enough that reading the next batch overlaps
#: with counting this one.
BATCH_CHARS = 1 << 20
_LEN_SHIFT = 56


class Trainer:
    """Train BytePiece vocabularies; same parameters and results as BytePiece 0.6.3's Trainer.

    >>> trainer = Trainer(order=4, max_vocab_size=300)
    >>> trainer.train(["the cat sat\\n", "the dog sat\\n", "a cat ran\\n", "the cat ran\\n"] * 5)
    >>> sorted(p for p in trainer.pieces[0] if len(p) > 1)  # and the 256 single bytes
    [b'a cat ran\\n', b'the cat ran\\n', b'the cat sat\\n', b'the dog sat\\n']
    >>> paths = trainer.save("model.json")  # doctest: +SKIP
    """

    def __init__(self, order=6, max_vocab_size=10000, max_piece_length=36, min_count=2,
                 isolate_digits=False, ensure_unicode=True):
        if not 1 <= int(order) <= 7:
            raise InputError(f"order must be between 1 and 7 (n-grams pack into 64 bits), "
                             f"got {order}")
        self.order = int(order)
        self.max_piece_length = max_piece_length
        self.min_count = min_count
        self.isolate_digits = bool(isolate_digits)
        self.ensure_unicode = bool(ensure_unicode)
        if isinstance(max_vocab_size, (list, tuple)):
            self.max_vocab_size = sorted(max_vocab_size)[::-1]
        else:
            self.max_vocab_size = [max_vocab_size]
        if min(self.max_vocab_size) < 259:
            raise InputError(f"max_vocab_size must be at least 259 (3 special tokens and the "
                             f"256 bytes), got {min(self.max_vocab_size)}")
        self.pieces: list[dict[bytes, int]] = []
        #: seconds spent in each phase of the last ``train``
        self.timings: dict[str, float] = {}
        #: bytes of training text seen by the last ``train``
        self.total_bytes = 0
        self._second_pass_bytes = 0
        self._budget = MemoryBudget(None)

    # -- training ------------------------------------------------------------

    def train(self, texts: Iterable[str], workers: int = 1, batch_size: int = 1000,
              max_memory: int | None = None) -> None:
        """Train on ``texts``, an iterable of str read twice (a list, or a re-iterable reader).

        ``workers`` threads run the kernels; the result does not depend on it.
        ``batch_size`` is accepted for compatibility with BytePiece: batches are
        cut by size (``BATCH_CHARS``), which is what matters to the kernels.
        ``max_memory`` (bytes): raise MemoryLimitError rather than go over it;
        checked between batches, before the hash tables grow and between phases.
        """
        workers = max(1, int(workers))
        self.timings = {}
        self._budget = MemoryBudget(max_memory)
        self._budget.check("starting")
        t = time.perf_counter()
        slices, total = self.count_ngrams(texts, workers, batch_size)
        self.timings["count ngrams"] = time.perf_counter() - t
        t = time.perf_counter()
        # dense copies of the entries (2 words per n-gram) twice, while the tables
        # (4 words or more per n-gram) are still there
        self._budget.check("pruning n-grams", 32 * sum(size for _, size in slices))
        keys, counts = _entries(slices)
        del slices  # the hash table, about twice as large as its entries
        lm = self.prune_ngrams(keys, counts, total)
        del keys, counts
        self.timings["prune ngrams"] = time.perf_counter() - t
        t = time.perf_counter()
        table = self.count_pieces(texts, lm, workers, batch_size)
        del lm
        self._budget.check("pruning pieces")
        if self._second_pass_bytes != self.total_bytes:
            raise InputError(
                f"texts gave {self.total_bytes} bytes of text the first time and "
                f"{self._second_pass_bytes} the second: training reads them twice, so pass "
                f"a list or a re-iterable object, not a generator")
        self.timings["count pieces"] = time.perf_counter() - t
        t = time.perf_counter()
        self.pieces = self.prune_pieces(table, workers)
        self.timings["prune pieces"] = time.perf_counter() - t

    def count_ngrams(self, texts, workers=1, batch_size=1000):
        """Count, at every position, the slice of ``order`` bytes starting there.

        Returns (tables of slice counts, total bytes): one table per worker,
        each holding the slices of its shard (a hash of the key), all workers
        reading the same batches. ``prune_ngrams`` derives the n-gram counts of
        every order from their entries.
        """
        from tqdm import tqdm

        from ._kernels import ngrams

        order = self.order
        shards = [[ngrams.new_table(1 << 16), 0] for _ in range(workers)]

        def work(k, buf, ends):
            shards[k][:] = ngrams.count_slices(buf, ends, order, k, workers, *shards[k])

        bar = tqdm(desc="Count Ngrams", unit="B", unit_scale=True, disable=not _interactive(),
                   file=sys.stderr, leave=False)
        total = 0
        pool = None
        try:
            if workers > 1:
                from concurrent.futures import ThreadPoolExecutor
                pool = ThreadPoolExecutor(workers)
            running: list = []
            # the next batch is packed while the workers count the previous one
            for buf, ends in _batches(texts, batch_size, self.isolate_digits):
                for f in running:
                    f.result()
                # a batch adds at most one key per byte to each table, which doubles
                # to stay at most a quarter full (ngrams.reserve)
                self._budget.check(
                    f"counting n-grams (after {format_size(total)} of text)",
                    sum(_doubling_bytes(len(t), 4 * (n + len(buf)), 8)
                        for t, n in shards))
                if pool is None:
                    work(0, buf, ends)
                else:
                    running = [pool.submit(work, k, buf, ends) for k in range(workers)]
                total += len(buf)
                bar.update(len(buf))
            for f in running:
                f.result()
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
        self.total_bytes = total
        return shards, total

    def prune_ngrams(self, keys, counts, total):
        """The n-gram language model, as the arrays ``(unigram, bigram, kv, kv_logp)``
        that ``_kernels.lm.best_states`` takes.

        As the reference: every single byte is completed with count 1 (the
        order-0 total growing by one each), n-grams of orders >= 2 need
        ``min_count``, and an n-gram's value is log(count) - log(count of its
        prefix), logs taken by numpy in float64.
        """
        from ._kernels import ngrams

        # big-endian packing sorts the slices lexicographically (see kept_ngrams)
        big = keys.byteswap()
        del keys
        order = np.argsort(big)
        big = big[order]
        counts = counts[order]
        del order
        self._budget.check("pruning n-grams")
        keys, counts = ngrams.kept_ngrams(big, counts, self.order, self.min_count)
        del big
        # complete the single bytes
        single = (keys >> np.uint64(_LEN_SHIFT)) == 1
        present = np.zeros(256, bool)
        present[(keys[single] & np.uint64(255)).astype(np.int64)] = True
        missing = np.flatnonzero(~present).astype(np.uint64)
        keys = np.concatenate([keys, missing | np.uint64(1 << _LEN_SHIFT)])
        counts = np.concatenate([counts, np.ones(len(missing), np.int64)])
        total = int(total) + len(missing)
        # np.log of the integer counts, as the reference takes them
        log_counts = np.log(counts.astype(np.float64))
        log_total = float(np.log(np.float64(total)))
        unigram, bigram, kv = ngrams.build_lm(keys, log_counts, log_total, self.order)
        return unigram, bigram, kv, kv.view(np.float64)

    def count_pieces(self, texts, lm_arrays, workers=1, batch_size=1000):
        """Segment every chunk with the n-gram model ``lm_arrays`` (from ``prune_ngrams``)
        and count the pieces: a piece table (see ``_kernels.lm``)."""
        from ._kernels import lm

        unigram, bigram, kv, kv_logp = lm_arrays
        order, ensure_unicode = self.order, self.ensure_unicode

        def new():
            return list(lm.new_piece_table(1 << 16))

        def work(state, buf, ends):
            state[:] = lm.count_pieces(buf, ends, unigram, bigram, kv, kv_logp, order,
                                       ensure_unicode, *state)

        def before(buf):
            # the busiest table may double its arrays for a batch's worth of pieces
            # (lm.reserve_pieces)
            self._budget.check(
                f"counting pieces (after {format_size(self._second_pass_bytes)} of text)",
                max(_piece_table_growth(state, len(buf)) for state in states))

        states = [new() for _ in range(workers)]
        self._run_batches(texts, workers, batch_size, states, work, "Count Pieces", before)
        table = states[0]
        for other in states[1:]:
            _, entries, arena, n, _ = other
            self._budget.check("merging the piece counts of the workers",
                               _piece_table_growth(table, n))
            table = lm.merge_pieces(*table, entries, arena, n)
        return table

    def prune_pieces(self, table, workers=1):
        """Prune the counted pieces to each ``max_vocab_size``: [{piece: count}], largest first.

        Every piece set met here is a subset of the first kept set, so one trie
        of that set serves every re-split: a piece outside the current set is
        simply not a terminal (see ``_Splitter``).
        """
        from tqdm import tqdm

        from ._kernels import lm

        slots, entries, arena, n, used = table
        starts, lengths, counts = lm.piece_columns(entries, n)
        data = arena[:used].tobytes()
        # complete all bytes
        present = np.zeros(256, bool)
        present[arena[starts[lengths == 1]]] = True
        # keep single bytes and short frequent pieces, re-split the others
        keep = (lengths == 1) | ((lengths <= self.max_piece_length) & (counts >= self.min_count))
        kept = np.flatnonzero(keep)
        pieces = [data[s:s + l] for s, l in zip(starts[kept].tolist(), lengths[kept].tolist())]
        pieces += [bytes([b]) for b in np.flatnonzero(~present).tolist()]
        piece_counts = np.concatenate([counts[kept], np.ones(int((~present).sum()), np.int64)])
        splitter = _Splitter(pieces, workers, self._budget)
        splitter.bar = tqdm(desc="Prune Pieces", unit=" rounds", disable=not _interactive(),
                            file=sys.stderr, leave=False)
        alive = np.arange(len(pieces), dtype=np.int64)
        dropped = np.flatnonzero(~keep)
        buf, ends = lm.gather(arena, starts, lengths, dropped)
        piece_counts = piece_counts + splitter.split(alive, piece_counts, buf, ends,
                                                     counts[dropped])
        del buf, ends, dropped, data
        alive, piece_counts = splitter.drop_wasted(alive, piece_counts)
        final = []
        for size in self.max_vocab_size:
            limit = size - 3
            if len(alive) > limit:
                ranked = sorted(range(len(alive)), key=lambda i: (
                    len(pieces[alive[i]]) > 1, -int(piece_counts[i]), -len(pieces[alive[i]]),
                    pieces[alive[i]]))
                top = np.array(ranked[:limit], np.int64)
                rest = np.array(ranked[limit:], np.int64)
                buf, ends = splitter.texts(alive[rest])
                rest_counts = piece_counts[rest]
                alive, piece_counts = alive[top], piece_counts[top]
                piece_counts = piece_counts + splitter.split(alive, piece_counts, buf, ends,
                                                             rest_counts)
                alive, piece_counts = splitter.drop_wasted(alive, piece_counts)
            final.append(dict(zip([pieces[i] for i in alive.tolist()], piece_counts.tolist())))
        splitter.bar.close()
        return final

    # -- batches and threads ---------------------------------------------------

    def _run_batches(self, texts, workers, batch_size, states: list, work: Callable, desc: str,
                     before: Callable):
        """Pack ``texts`` into chunk buffers and run ``work(state, buf, ends)`` on each,
        after ``before(buf)`` (which checks the memory budget).

        With several workers each thread owns a state and takes batches from a
        queue; the caller merges the states, so the result does not depend on
        which thread counted which batch.
        """
        from tqdm import tqdm

        bar = tqdm(desc=desc, unit="B", unit_scale=True, disable=not _interactive(),
                   file=sys.stderr, leave=False)
        total = 0
        self._second_pass_bytes = 0
        try:
            if workers == 1:
                for buf, ends in _batches(texts, batch_size, self.isolate_digits):
                    before(buf)
                    work(states[0], buf, ends)
                    total += len(buf)
                    self._second_pass_bytes = total
                    bar.update(len(buf))
            else:
                jobs: queue.Queue = queue.Queue(maxsize=2 * workers)
                errors: list[BaseException] = []

                def loop(state):
                    while True:
                        item = jobs.get()
                        if item is None:
                            return
                        if not errors:
                            try:
                                work(state, *item)
                            except BaseException as e:  # noqa: BLE001 - re-raised below
                                errors.append(e)

                threads = [threading.Thread(target=loop, args=(s,), daemon=True) for s in states]
                for th in threads:
                    th.start()
                try:
                    for buf, ends in _batches(texts, batch_size, self.isolate_digits):
                        if errors:
                            break
                        before(buf)
                        jobs.put((buf, ends))
                        total += len(buf)
                        self._second_pass_bytes = total
                        bar.update(len(buf))
                finally:
                    for _ in threads:
                        jobs.put(None)
                    for th in threads:
                        th.join()
                if errors:
                    raise errors[0]
        finally:
            bar.close()
        self._second_pass_bytes = total

    # -- output ----------------------------------------------------------------

    def models(self) -> list[Model]:
        """The trained vocabularies as models, largest first."""
        return [Model.from_counts(p) for p in self.pieces]

    def save(self, path: str | os.PathLike) -> list[str]:
        """Write the model to ``path``, or one per size to ``path.<size>``; returns the paths."""
        if not self.pieces:
            raise InputError("nothing to save: call train() first")
        path = os.fspath(path)
        if len(self.pieces) == 1:
            paths = [path]
        else:
            paths = [f"{path}.{size}" for size in self.max_vocab_size]
        for pieces, out in zip(self.pieces, paths):
            Model.from_counts(pieces).save(out)
        return paths


def _doubling_bytes(length: int, needed: int, item_bytes: int) -> int:
    """Bytes a table of ``length`` items allocates when it doubles, if it may have to
    for ``needed`` items at worst. Only the first doubling: the worst case (a new
    key per byte) is far from the usual one, and tables too small to double twice
    in a batch are small."""
    return 2 * length * item_bytes if needed > length else 0


def _piece_table_growth(state, extra: int) -> int:
    """Bytes a piece table (``lm.new_piece_table``) allocates for ``extra`` more pieces
    of ``extra`` more bytes, as ``lm.reserve_pieces`` grows it."""
    slots, entries, arena, n, used = state
    grown = _doubling_bytes(len(slots), 4 * (n + extra), 8)
    if 3 * (n + extra) > len(entries):
        grown += 8 * max(2 * len(entries), 3 * (n + extra))
    if used + extra > len(arena):
        grown += max(2 * len(arena), used + extra)
    return grown


def _entries(tables):
    """The (keys, counts) of slice tables that hold disjoint keys, as dense arrays."""
    from ._kernels.ngrams import entries

    parts = [entries(*t) for t in tables]
    return (np.concatenate([k for k, _ in parts]), np.concatenate([c for _, c in parts]))


def _batches(texts, batch_size, isolate_digits):
    """(buf, ends) of the training chunks of ~BATCH_CHARS characters of texts at a time."""
    batch: list[str] = []
    size = 0
    for text in texts:
        batch.append(text)
        size += len(text)
        if size >= BATCH_CHARS:
            buf, ends, _ = pack_chunks(batch, isolate_digits)
            yield buf, ends
            batch, size = [], 0
    if batch:
        buf, ends, _ = pack_chunks(batch, isolate_digits)
        yield buf, ends


class _Splitter:
    """Re-split texts with the unigram tokenizer of a subset of ``pieces``.

    The trie is built once, over all the pieces; for a subset, the pieces
    outside it get the log-probability +inf, which the segmentation kernel
    reads as "no piece ends here": the same segmentation as a trie of the
    subset alone, without rebuilding one per round.
    """

    def __init__(self, pieces: list[bytes], workers: int, budget: MemoryBudget):
        from .trie import PieceTrie

        self.workers = workers
        self.budget = budget
        self.bar = None  # a progress bar, updated once per re-split
        n = len(pieces)
        self.trie = PieceTrie.build(pieces, np.arange(n, dtype=np.int32), np.zeros(n),
                                   automaton=False)
        terminal = np.flatnonzero(self.trie.value >= 0)
        self.slot = np.empty(n, np.int64)
        self.slot[self.trie.value[terminal]] = terminal
        self.arena = np.frombuffer(b"".join(pieces), np.uint8)
        self.lengths = np.fromiter(map(len, pieces), np.int64, n)
        self.starts = np.cumsum(self.lengths) - self.lengths

    def texts(self, which: np.ndarray):
        """The pieces ``which`` back to back: (buf uint8, ends int64)."""
        from ._kernels.lm import gather

        return gather(self.arena, self.starts, self.lengths, which)

    def split(self, alive, counts, buf, ends, weights):
        """Counts, per piece of ``alive`` (int64 indices), of the best segmentation of the
        texts (buf, ends), each text weighted by ``weights``, with the unigram
        tokenizer of the pieces ``alive`` and their ``counts``: int64[len(alive)]."""
        from ._kernels.lm import add_weighted
        from ._kernels.viterbi import segment

        # the segmentation's ids (a word per byte at most) and per-text arrays
        self.budget.check("pruning pieces", 8 * len(buf) + 16 * len(ends))
        totals = np.zeros(len(self.slot), np.int64)
        if len(ends):
            # log-probabilities as the reference computes them
            log_total = np.log(float(int(counts.sum(dtype=np.int64))))
            logp = np.full(len(self.trie.logp), np.inf)
            logp[self.slot[alive]] = np.log(counts.astype(np.float64)) - log_total
            trie = self.trie

            def run(part):
                lo, hi = part
                b0 = int(ends[lo - 1]) if lo else 0
                return segment(buf[b0:int(ends[hi - 1])], ends[lo:hi] - b0, False,
                               trie.nodes, trie.value, logp, trie.pair, -1.0, np.uint64(0), 0)

            parts = _ranges(ends, self.workers)
            if len(parts) == 1:
                results = [run(parts[0])]
            else:
                from concurrent.futures import ThreadPoolExecutor
                with ThreadPoolExecutor(len(parts)) as pool:
                    results = list(pool.map(run, parts))
            for (lo, hi), (ids, token_ends) in zip(parts, results):
                add_weighted(totals, ids, token_ends, weights[lo:hi])
        if self.bar is not None:
            self.bar.update(1)
        return totals[alive]

    def drop_wasted(self, alive, counts):
        """Re-split every piece with the tokenizer of all pieces until none goes unused."""
        while True:
            buf, ends = self.texts(alive)
            totals = self.split(alive, counts, buf, ends, counts)
            used = totals > 0
            if used.all():
                return alive, totals
            alive, counts = alive[used], totals[used]


def _ranges(ends: np.ndarray, workers: int) -> list[tuple[int, int]]:
    """Split texts 0..len(ends) into at most ``workers`` ranges of about equal bytes."""
    n = len(ends)
    if workers <= 1 or n < 2 or ends[-1] < (1 << 16):
        return [(0, n)]
    cuts = np.searchsorted(ends, ends[-1] * np.arange(1, workers) / workers)
    bounds = [0] + sorted(set(int(c) for c in cuts if 0 < c < n)) + [n]
    return list(zip(bounds, bounds[1:]))


def _interactive() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
