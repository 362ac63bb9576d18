"""Phase 6 of ``--algorithm unigram``: unigram language-model training (Kudo 2018) on the
pieces the n-gram model cut, in place of BytePiece's single frequency cut.

The corpus reaches this phase as a bag of weighted texts: every piece that phase 5
merged (kept or to re-split) with its count. Training then:

1. seeds candidates: every substring of the bag of 2..``max_piece_length`` bytes
   counted ``min_count`` times, ranked by count x length, the best
   ``seed_factor`` x the largest size kept, and the 256 single bytes;
2. re-estimates their probabilities by Viterbi EM: segment the bag with the
   unigram model of the live pieces, count the pieces used (integers, which is
   what the model file stores), repeat;
3. prunes in rounds: each piece's loss is what the bag's log-likelihood loses when
   its occurrences take their best segmentation without it; the pieces that lose
   least go, ``shrink`` of them kept per round, re-estimating after each, down to
   each requested size (largest first, one run for all).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from .prune import Splitter
from .runs import Block

#: how many candidates the seeding keeps, per piece of the largest size
SEED_FACTOR = 8
#: the share of pieces each pruning round keeps
SHRINK = 0.75
#: EM iterations after seeding and after each pruning round
EM_ITERATIONS = 2


class Bag:
    """The corpus as weighted texts, the pieces phase 5 merged: the kept ones in memory,
    the re-split ones as ``merge_pieces`` left them (blocks, or runs on disk when the
    counts spilled), so that each EM pass reads the bag a block at a time."""

    def __init__(self, kept: Block, resplit: list):
        self.kept = kept
        self.resplit = resplit

    def blocks(self) -> Iterable[Block]:
        """Every text of the bag, in blocks of ``Block`` (data, ends, counts)."""
        from .piece_counts import resplit_blocks

        yield self.kept
        yield from resplit_blocks(self.resplit)


def train_unigram(bag: Bag, sizes: list[int], max_piece_length: int, min_count: int,
                  ensure_unicode: bool, workers: int, progress=None,
                  seed_factor: int = SEED_FACTOR, shrink: float = SHRINK,
                  em_iterations: int = EM_ITERATIONS) -> list[dict[bytes, int]]:
    """[{piece: count}] for each size of ``sizes`` (largest first)."""
    pieces, counts = seed_pieces(bag, max(sizes) * seed_factor, max_piece_length, min_count,
                                 ensure_unicode)
    splitter = Splitter(pieces, workers, progress)
    single = splitter.lengths == 1
    alive = np.arange(len(pieces), dtype=np.int64)
    counts = counts.astype(np.float64)
    alive, counts = reestimate(splitter, bag, alive, counts, single, em_iterations)
    final = []
    for size in sizes:
        limit = size - 3
        while len(alive) > limit:
            keep = max(limit, int(len(alive) * shrink))
            alive, counts = prune_round(splitter, alive, counts, single, keep)
            alive, counts = reestimate(splitter, bag, alive, counts, single, em_iterations)
        whole = np.maximum(np.rint(counts), 1).astype(np.int64)
        final.append(dict(zip([pieces[i] for i in alive.tolist()], whole.tolist())))
    return final


def seed_pieces(bag: Bag, most: int, max_piece_length: int, min_count: int,
                ensure_unicode: bool) -> tuple[list[bytes], np.ndarray]:
    """The candidates: the 256 single bytes (count at least 1), then at most ``most``
    longer substrings of the bag counted ``min_count`` times, the best by count x length."""
    from .._kernels import lm, read_only
    from .._kernels.unigram import count_substrings, substring_bytes

    table = list(lm.new_piece_table(1 << 16))
    kept = bag.kept
    for lo, hi in _groups(kept.ends, 1 << 15):
        part = kept.take(lo, hi)
        extra, extra_bytes = substring_bytes(part.ends, max_piece_length)
        table[:3] = lm.reserve_pieces(*table, extra, extra_bytes)
        table[3:] = count_substrings(read_only(part.data), part.ends, part.counts,
                                     max_piece_length, ensure_unicode, *table)
    slots, entries, arena, n, used = table
    starts, lengths, counts = (entries[k:3 * n:3] for k in range(3))
    frequent = np.flatnonzero(counts >= min_count)
    score = counts[frequent] * lengths[frequent]
    # best score first; ties by count, then by the bytes (below), for determinism
    order = np.lexsort((-counts[frequent], -score))
    chosen = frequent[order[:most]]
    data = arena[:used].tobytes()
    longer = sorted(zip((data[s:s + k] for s, k in zip(starts[chosen].tolist(),
                                                        lengths[chosen].tolist())),
                        counts[chosen].tolist()))
    del table, slots, entries, arena, data
    byte_counts = np.zeros(256, np.int64)
    for block in bag.blocks():
        lengths = np.diff(block.ends, prepend=0)
        byte_counts += np.bincount(block.data, weights=np.repeat(block.counts, lengths),
                                   minlength=256).astype(np.int64)
    pieces = [bytes([b]) for b in range(256)] + [p for p, _ in longer]
    return pieces, np.concatenate([np.maximum(byte_counts, 1),
                                   np.array([c for _, c in longer], np.int64)])


def reestimate(splitter: Splitter, bag: Bag, alive, counts, single, iterations: int):
    """EM: ``iterations`` times, the pieces' expected counts in the bag under the unigram
    model of ``counts``; pieces expected less than half a time go (single bytes stay)."""
    for _ in range(iterations):
        counts, likelihood = expected(splitter, bag, alive, counts)
        if splitter.progress is not None:
            splitter.progress.update(1)
        keep = (counts >= 0.5) | single[alive]
        alive, counts = alive[keep], np.maximum(counts[keep], 0.5)
    return alive, counts


def log_probabilities(splitter: Splitter, alive, counts) -> np.ndarray:
    """log(count / total) of the pieces ``alive`` per trie slot; +inf elsewhere (no live
    piece ends there)."""
    logp = np.full(len(splitter.trie.logp), np.inf)
    logp[splitter.slot[alive]] = np.log(counts) - np.log(counts.sum())
    return logp


def expected(splitter: Splitter, bag: Bag, alive, counts):
    """(expected count of each piece of ``alive`` in the bag, the bag's log-likelihood)."""
    from concurrent.futures import ThreadPoolExecutor

    from .._kernels import read_only
    from .._kernels.unigram import expected_counts
    from .prune import _ranges

    logp = log_probabilities(splitter, alive, counts)
    trie = splitter.trie
    totals = [np.zeros(len(splitter.pieces), np.float64) for _ in range(splitter.workers)]
    likelihood = 0.0

    def run(k, part):
        return expected_counts(read_only(part.data), part.ends, read_only(part.counts),
                               trie.nodes, trie.value, logp, trie.pair, totals[k])

    with ThreadPoolExecutor(splitter.workers) as pool:
        for block in bag.blocks():
            parts = [block.take(lo, hi) for lo, hi in _ranges(block.ends, splitter.workers)]
            likelihood += sum(pool.map(run, range(len(parts)), parts))
    return sum(totals)[alive], likelihood


def prune_round(splitter: Splitter, alive, counts, single, keep: int):
    """The ``keep`` pieces of ``alive`` whose removal loses the most log-likelihood (single
    bytes always kept), with their counts."""
    loss = piece_loss(splitter, alive, counts)
    loss[single[alive]] = np.inf
    ranked = np.lexsort((alive, -loss))  # most loss first; ties by piece order
    top = np.sort(ranked[:keep])
    return alive[top], counts[top]


def piece_loss(splitter: Splitter, alive, counts) -> np.ndarray:
    """float64 per piece of ``alive``: count x (log p(piece) - log p(its best segmentation
    without it)), the log-likelihood the bag loses without it (+inf if nothing else fits)."""
    from .._kernels import read_only
    from .._kernels.unigram import alternatives

    logp = log_probabilities(splitter, alive, counts)
    buf, ends = splitter.texts(alive)
    trie = splitter.trie
    alt, _ = alternatives(read_only(buf), ends, trie.nodes, logp, trie.pair)
    own = logp[splitter.slot[alive]]
    return counts * (own - alt)


def _groups(ends: np.ndarray, most_bytes: int) -> list[tuple[int, int]]:
    """Ranges of texts of about ``most_bytes`` bytes each (at least one text each)."""
    out, lo = [], 0
    n = len(ends)
    while lo < n:
        b0 = int(ends[lo - 1]) if lo else 0
        hi = int(np.searchsorted(ends, b0 + most_bytes, side="right"))
        hi = max(hi, lo + 1)
        out.append((lo, min(hi, n)))
        lo = min(hi, n)
    return out
