"""Phase 6: prune the kept pieces to each vocabulary size, as BytePiece 0.6.3 does.

The pieces that were not kept are re-split with the unigram tokenizer of the
kept ones, their counts added to the pieces they split into (a block at a time:
the sum is the same). Then pieces the tokenizer never uses are dropped, and for
each ``max_vocab_size`` the least frequent are cut and re-split the same way.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import numpy as np

from .runs import Block, split_pieces

#: bytes of text segmented at once: the ids take 4 bytes a byte of it
SLAB_BYTES = 8 << 20


def prune_pieces(kept: Block, resplit: Iterable[Block], sizes: list[int], workers: int,
                 progress=None) -> list[dict[bytes, int]]:
    """[{piece: count}] for each size of ``sizes`` (largest first)."""
    pieces, counts = vocabulary(kept)
    splitter = Splitter(pieces, workers, progress)
    counts = counts + splitter.split_all(np.arange(len(pieces), dtype=np.int64), counts,
                                         ((b.data, b.ends, b.counts) for b in resplit))
    return cut_to_sizes(splitter, counts, sizes)


def vocabulary(kept: Block) -> tuple[list[bytes], np.ndarray]:
    """The kept pieces and their counts, then every single byte they lack (count 1)."""
    pieces = split_pieces(kept.data, kept.ends)
    present = np.zeros(256, bool)
    singles = [p[0] for p in pieces if len(p) == 1]
    present[singles] = True
    missing = np.flatnonzero(~present).tolist()
    pieces += [bytes([b]) for b in missing]
    counts = np.concatenate([kept.counts, np.ones(len(missing), np.int64)])
    return pieces, counts


def cut_to_sizes(splitter: "Splitter", counts: np.ndarray,
                 sizes: list[int]) -> list[dict[bytes, int]]:
    """Given every piece's count once the re-split pieces are added: drop the pieces the
    tokenizer never uses, then for each size cut the least frequent and re-split them."""
    pieces = splitter.pieces
    alive = np.arange(len(pieces), dtype=np.int64)
    alive, counts = splitter.drop_wasted(alive, counts)
    final = []
    byte_rank = None
    for size in sizes:
        limit = size - 3
        if len(alive) > limit:
            if byte_rank is None:
                byte_rank = splitter.byte_rank()
            ranked = cut_order(splitter.lengths[alive], counts, byte_rank[alive])
            top, rest = ranked[:limit], ranked[limit:]
            buf, ends = splitter.texts(alive[rest])
            rest_counts = counts[rest]
            alive, counts = alive[top], counts[top]
            counts = counts + splitter.split(alive, counts, buf, ends, rest_counts)
            alive, counts = splitter.drop_wasted(alive, counts)
        final.append(dict(zip([pieces[i] for i in alive.tolist()], counts.tolist())))
    return final


def cut_order(lengths: np.ndarray, counts: np.ndarray, byte_rank: np.ndarray) -> np.ndarray:
    """The pieces (their lengths, counts and places in byte order) in the order the
    reference keeps them at a cut: single bytes first, then by count and by length, both
    descending, then by bytes. In numpy: a Python sort key took 120 bytes a piece."""
    return np.lexsort((byte_rank, -lengths, -counts, lengths > 1))


class CompiledPieces:
    """Pieces compiled for the trie-walking kernels: the trie (piece i has id i, scores
    given per call), the slot where each piece ends, and their bytes back to back."""

    def __init__(self, pieces: list[bytes]):
        from ..trie import PieceTrie

        self.pieces = pieces
        n = len(pieces)
        self.trie = PieceTrie.build(pieces, np.arange(n, dtype=np.int32), np.zeros(n),
                                   automaton=False)
        terminal = np.flatnonzero(self.trie.value >= 0)
        self.slot = np.empty(n, np.int64)
        self.slot[self.trie.value[terminal]] = terminal
        self.arena = np.frombuffer(b"".join(pieces), np.uint8)
        self.lengths = np.fromiter(map(len, pieces), np.int64, n)
        self.starts = np.cumsum(self.lengths) - self.lengths

    def byte_rank(self) -> np.ndarray:
        """int64[n]: each piece's place when the pieces are sorted by their bytes."""
        from .runs import _prefixes

        # np.lexsort's last key sorts first: the first 8 bytes last, the lengths first (a
        # piece sorts after its prefixes, which the zeros past their end make equal to it)
        columns = [self.lengths]
        for j in reversed(range(0, int(self.lengths.max(initial=0)), 8)):
            columns.append(_prefixes(self.arena, self.starts + j, self.lengths - j))
        rank = np.empty(len(self.lengths), np.int64)
        rank[np.lexsort(columns)] = np.arange(len(self.lengths))
        return rank

    def texts(self, which: np.ndarray):
        """The pieces ``which`` back to back: (buf uint8, ends int64)."""
        from .._kernels import read_only
        from .._kernels.lm import gather

        return gather(read_only(self.arena), self.starts, self.lengths, which)


class Splitter(CompiledPieces):
    """Re-split texts with the unigram tokenizer of a subset of ``pieces``.

    The trie is built once, over all the pieces; for a subset, the pieces
    outside it get the log-probability +inf, which the segmentation kernel
    reads as "no piece ends here": the same segmentation as a trie of the
    subset alone, without rebuilding one per round.
    """

    def __init__(self, pieces: list[bytes], workers: int, progress=None):
        super().__init__(pieces)
        self.workers = workers
        self.progress = progress  # a progress bar, updated once per re-split

    def split(self, alive, counts, buf, ends, weights):
        """Counts, per piece of ``alive`` (int64 indices), of the best segmentation of the
        texts (buf, ends), each text weighted by ``weights``, with the unigram
        tokenizer of the pieces ``alive`` and their ``counts``: int64[len(alive)]."""
        return self.split_all(alive, counts, [(buf, ends, weights)])

    def split_all(self, alive, counts, texts: Iterable[tuple]):
        """``split`` summed over ``texts``, (buf, ends, weights) triples (blocks of a run):
        the scores and totals, arrays over the whole trie, are made once."""
        totals = np.zeros(len(self.slot), np.int64)
        logp = None
        for buf, ends, weights in texts:
            if len(ends):
                if logp is None:
                    logp = self._scores(alive, counts)
                self._add(totals, logp, buf, ends, weights)
        if self.progress is not None:
            self.progress.update(1)
        return totals[alive]

    def _scores(self, alive, counts) -> np.ndarray:
        """log(count / total) of the pieces ``alive`` per trie slot, as the reference
        computes them; +inf (no piece ends here) elsewhere. Written over the trie's own
        scores, which are not used otherwise (at 1 GB of text, 120 MB)."""
        log_total = np.log(float(int(counts.sum(dtype=np.int64))))
        logp = self.trie.logp
        logp.fill(np.inf)
        logp[self.slot[alive]] = np.log(counts.astype(np.float64)) - log_total
        return logp

    def _add(self, totals, logp, buf, ends, weights) -> None:
        """totals[piece] += weight of each text for each piece of its best segmentation."""
        from .._kernels import read_only
        from .._kernels.lm import add_weighted
        from .._kernels.viterbi import segment

        trie = self.trie
        buf = read_only(buf)

        def run(part):
            lo, hi = part
            b0 = int(ends[lo - 1]) if lo else 0
            return segment(buf[b0:int(ends[hi - 1])], ends[lo:hi] - b0, False,
                           trie.nodes, trie.value, logp, trie.pair, -1.0, np.uint64(0), 0)

        # a slab of texts at a time, split between the workers: the segmentation's ids
        # take 4 bytes a byte of text, and a block of a run can hold 40 MB of it
        slabs = text_ranges(ends, int(ends[-1]) // SLAB_BYTES + 1, smallest=SLAB_BYTES)
        pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None
        try:
            for first, last in slabs:
                start = int(ends[first - 1]) if first else 0
                parts = [(first + lo, first + hi)
                         for lo, hi in text_ranges(ends[first:last], self.workers, start)]
                results = pool.map(run, parts) if pool else map(run, parts)
                for (lo, hi), (ids, token_ends) in zip(parts, results):
                    add_weighted(totals, ids, token_ends, read_only(weights[lo:hi]))
        finally:
            if pool:
                pool.shutdown()

    def drop_wasted(self, alive, counts):
        """Re-split every piece with the tokenizer of all pieces until none goes unused."""
        while True:
            buf, ends = self.texts(alive)
            totals = self.split(alive, counts, buf, ends, counts)
            used = totals > 0
            if used.all():
                return alive, totals
            alive, counts = alive[used], totals[used]


def text_ranges(ends: np.ndarray, workers: int, start: int = 0,
                smallest: int = 1 << 16) -> list[tuple[int, int]]:
    """Split texts 0..len(ends) (starting at byte ``start``) into at most ``workers``
    ranges of about equal bytes; texts of fewer than ``smallest`` bytes in all stay one."""
    n = len(ends)
    if workers <= 1 or n < 2 or ends[-1] - start < smallest:
        return [(0, n)]
    cuts = np.searchsorted(ends, start + (ends[-1] - start) * np.arange(1, workers) / workers)
    bounds = [0] + sorted(set(int(c) for c in cuts if 0 < c < n)) + [n]
    return list(zip(bounds, bounds[1:]))
