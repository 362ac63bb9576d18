"""Phase 6: prune the kept pieces to each vocabulary size, as BytePiece 0.6.3 does.

The pieces that were not kept are re-split with the unigram tokenizer of the
kept ones, their counts added to the pieces they split into (a block at a time:
the sum is the same). Then pieces the tokenizer never uses are dropped, and for
each ``max_vocab_size`` the least frequent are cut and re-split the same way.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Iterable

import numpy as np

from .runs import Block, split_pieces

#: bytes of text segmented at once: the ids take 4 bytes a byte of it
SLAB_BYTES = 8 << 20
#: Bytes of kept pieces from which re-splitting reads the texts with the pieces'
#: Aho-Corasick automaton (``_kernels.best_path``: 2.2x the speed of a trie walk from
#: every byte, on the pieces of 1 GB of text); below it, building the automaton (and
#: compiling its kernels on a first run) would cost about what it saves.
AUTOMATON_FROM_BYTES = 4 << 20
#: Bytes the automaton adds at the peak of its build, per byte of the kept pieces
#: (measured: about 1 GB for the 32.6 MB of 1 GB of text). Without them in the memory
#: budget, re-splitting walks the trie.
AUTOMATON_BYTES_PER_BYTE = 40


def prune_pieces(vocab: tuple, resplit: Iterable[Block], sizes: list[int], workers: int,
                 progress=None, memory: int | None = None) -> list[dict[bytes, int]]:
    """[{piece: count}] for each size of ``sizes`` (largest first), from the kept pieces
    (``vocabulary``) and the pieces to re-split. ``memory``: the bytes pruning may add
    (None: no limit), which decide whether it builds the automaton."""
    arena, lengths, counts = vocab
    splitter = Splitter(arena, lengths, workers, progress, memory)
    del arena, lengths
    counts = counts + splitter.split_all(np.arange(len(counts), dtype=np.int64), counts,
                                         ((b.data, b.ends, b.counts) for b in resplit))
    return cut_to_sizes(splitter, counts, sizes)


def vocabulary(kept: Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kept pieces and their counts, then every single byte they lack (count 1):
    (their bytes back to back, lengths int64, counts int64). Not a list of bytes: at
    4 GB of text, millions of pieces, 60 bytes each as Python objects."""
    lengths = np.diff(kept.ends, prepend=0)
    present = np.zeros(256, bool)
    present[kept.data[kept.ends[lengths == 1] - 1]] = True
    missing = np.flatnonzero(~present)
    arena = np.concatenate([kept.data, missing.astype(np.uint8)])
    lengths = np.concatenate([lengths, np.ones(len(missing), np.int64)])
    counts = np.concatenate([kept.counts, np.ones(len(missing), np.int64)])
    return arena, lengths, counts


def cut_to_sizes(splitter: "Splitter", counts: np.ndarray,
                 sizes: list[int]) -> list[dict[bytes, int]]:
    """Given every piece's count once the re-split pieces are added: drop the pieces the
    tokenizer never uses, then for each size cut the least frequent and re-split them."""
    alive = np.arange(len(splitter.lengths), dtype=np.int64)
    alive, counts = splitter.drop_wasted(alive, counts)
    final = []
    for size in sizes:
        limit = size - 3
        if len(alive) > limit:
            ranked = cut_order(splitter.lengths[alive], counts, splitter.rank[alive])
            top, rest = ranked[:limit], ranked[limit:]
            buf, ends = splitter.texts(alive[rest])
            rest_counts = counts[rest]
            alive, counts = alive[top], counts[top]
            counts = counts + splitter.split(alive, counts, buf, ends, rest_counts)
            alive, counts = splitter.drop_wasted(alive, counts)
        final.append(dict(zip(splitter.piece_bytes(alive), counts.tolist())))
    return final


def cut_order(lengths: np.ndarray, counts: np.ndarray, byte_rank: np.ndarray) -> np.ndarray:
    """The pieces (their lengths, counts and places in byte order) in the order the
    reference keeps them at a cut: single bytes first, then by count and by length, both
    descending, then by bytes. In numpy: a Python sort key took 120 bytes a piece."""
    return np.lexsort((byte_rank, -lengths, -counts, lengths > 1))


def packed(pieces: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(arena, lengths): a list of pieces as their bytes back to back and their lengths."""
    return (np.frombuffer(b"".join(pieces), np.uint8),
            np.fromiter(map(len, pieces), np.int64, len(pieces)))


class CompiledPieces:
    """Pieces compiled for the trie-walking kernels: their bytes back to back (``arena``,
    ``starts``, ``lengths``), each one's place in byte order (``rank``), the trie (piece i
    has id i, scores given per call; with ``automaton``, its Aho-Corasick automaton too,
    with every piece a candidate) and the slot where each piece ends. The pieces must be
    distinct, and the 256 bytes among them."""

    def __init__(self, arena: np.ndarray, lengths: np.ndarray, automaton: bool = False):
        from ..trie import PieceTrie

        self.arena = arena
        self.lengths = lengths
        self.starts = np.cumsum(lengths) - lengths
        n = len(lengths)
        order = self._byte_order()
        self.rank = np.empty(n, np.int64)  # kept: the cut needs it when far more is held
        self.rank[order] = np.arange(n)
        self.trie = PieceTrie.from_sorted(*self.texts(order), order,
                                          np.arange(n, dtype=np.int32), np.zeros(n),
                                          automaton=automaton)
        del order
        terminal = np.flatnonzero(self.trie.value >= 0)
        self.slot = np.empty(n, np.int64)
        self.slot[self.trie.value[terminal]] = terminal

    @classmethod
    def of(cls, pieces: list[bytes], *args, **kwargs):
        """Compiled from a list of pieces."""
        return cls(*packed(pieces), *args, **kwargs)

    def piece_bytes(self, which: np.ndarray) -> list[bytes]:
        """The pieces ``which`` (int64 indices) as bytes."""
        return split_pieces(*self.texts(which))

    def _byte_order(self) -> np.ndarray:
        """The pieces' indices sorted by their bytes (in numpy: a Python sort of bytes
        objects needs them as objects)."""
        from .runs import _prefixes

        # np.lexsort's last key sorts first: the first 8 bytes last, the lengths first (a
        # piece sorts after its prefixes, which the zeros past their end make equal to it)
        columns = [self.lengths]
        for j in reversed(range(0, int(self.lengths.max(initial=0)), 8)):
            columns.append(_prefixes(self.arena, self.starts + j, self.lengths - j))
        return np.lexsort(columns)

    def texts(self, which: np.ndarray):
        """The pieces ``which`` back to back: (buf uint8, ends int64)."""
        from .._kernels import read_only
        from .._kernels.lm import gather

        return gather(read_only(self.arena), self.starts, self.lengths, which)


class Splitter(CompiledPieces):
    """Re-split texts with the unigram tokenizer of a subset of ``pieces``.

    The trie is built once, over all the pieces; for a subset, the pieces
    outside it get the log-probability +inf, which the trie walk reads as "no
    piece ends here", or with the automaton (``use_automaton``) -inf, a
    candidate that never wins: the same segmentation as a trie of the subset
    alone, without rebuilding one per round.
    """

    def __init__(self, arena: np.ndarray, lengths: np.ndarray, workers: int, progress=None,
                 memory: int | None = None):
        super().__init__(arena, lengths, use_automaton(arena.nbytes, memory))
        if self.trie.fail is not None:  # the automaton reads scores per piece: 8 bytes a slot
            self.trie = dataclasses.replace(self.trie, logp=None)
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
        scored = False
        for buf, ends, weights in texts:
            if len(ends):
                if not scored:
                    self._score(alive, counts)
                    scored = True
                self._add(totals, buf, ends, weights)
        if self.progress is not None:
            self.progress.update(1)
        return totals[alive]

    def _score(self, alive, counts) -> None:
        """Set the trie's scores: log(count / total) of the pieces ``alive``, as the
        reference computes them; for the others, +inf per trie slot (no piece ends here)
        or -inf per piece in the automaton (a candidate that never wins). Written over
        the trie's own scores, which are not used otherwise (at 1 GB of text, 120 MB)."""
        log_total = np.log(float(int(counts.sum(dtype=np.int64))))
        scores = np.log(counts.astype(np.float64)) - log_total
        if self.trie.fail is not None:
            self.trie.id_logp.fill(-np.inf)  # the last entry, the fillers', stays -inf
            self.trie.id_logp[alive] = scores
        else:
            self.trie.logp.fill(np.inf)
            self.trie.logp[self.slot[alive]] = scores

    def _add(self, totals, buf, ends, weights) -> None:
        """totals[piece] += weight of each text for each piece of its best segmentation."""
        from .._kernels import read_only
        from .._kernels.best_path import chunk_bounds, segment_chunks
        from .._kernels.lm import add_weighted
        from .._kernels.viterbi import segment

        trie = self.trie
        buf = read_only(buf)

        def run(part):
            lo, hi = part
            b0 = int(ends[lo - 1]) if lo else 0
            texts, text_ends = buf[b0:int(ends[hi - 1])], ends[lo:hi] - b0
            if trie.fail is not None:
                return segment_chunks(texts, *chunk_bounds(texts, text_ends, False),
                                      *trie.automaton)
            return segment(texts, text_ends, False, trie.nodes, trie.value, trie.logp,
                           trie.pair, -1.0, np.uint64(0), 0)

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


def use_automaton(piece_bytes: int, memory: int | None) -> bool:
    """Whether to re-split with the automaton the kept pieces' ``piece_bytes`` (see
    ``AUTOMATON_FROM_BYTES``), given the ``memory`` pruning may add (None: no limit)."""
    return piece_bytes >= AUTOMATON_FROM_BYTES and (
        memory is None or AUTOMATON_BYTES_PER_BYTE * piece_bytes <= memory)


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
