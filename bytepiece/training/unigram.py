"""``--algorithm unigram``: unigram language-model training (Kudo 2018, as SentencePiece
does it) on the raw bytes of the training chunks, without pre-tokenization, so that
pieces cross spaces as BytePiece's do.

The phases, with explicit inputs and outputs:

1. ``ChunkCache.fill``: texts -> the training chunks (NFC, cut as BytePiece cuts
   them), packed once and read back for every pass: in memory while they fit the
   allowance, else from a file in the work folder.
2. ``seed_pieces``: a sample of the chunks -> candidates, the repeated substrings
   of 2..``max_piece_length`` bytes that a suffix array finds (right-maximal:
   every one a node of the suffix tree), the best ``seed_factor`` x the largest
   size by count x length, and the 256 single bytes.
3. ``reestimate``: chunks, pieces -> expected counts, by EM: the forward-backward
   sums of every segmentation of every chunk under the unigram model (the first pass
   over a sample of the chunks when they are many, to sort the seeds; every later
   pass over all of them).
4. ``prune_round``: pieces -> the ``shrink`` share of them, the most probable (or,
   with ``Choices.prune_by="loss"``, those whose removal would cost the corpus the
   most log-likelihood), re-estimated again; down to each requested size, largest
   first, so that one run gives every size.

Counts are expected counts; the model file stores them rounded (at least 1), and
their log(count / total) are the scores, as in any BytePiece model.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from .prune import CompiledPieces, packed, text_ranges

#: candidates seeded, per piece of the largest size, and at most (the first EM pass
#: over them costs in proportion: more compress better, with diminishing returns)
SEED_FACTOR = 16
SEED_MOST = 1 << 18
#: least bytes of chunks the suffix array of the seeding covers (``seed_sample_bytes``);
#: its time grows faster than its size (16 MB takes twice as long per byte as 8 MB)
SEED_SAMPLE_BYTES = 8 << 20
#: the share of pieces each pruning round keeps
SHRINK = 0.5
#: EM iterations after seeding and after each pruning round
EM_ITERATIONS = 1


@dataclass(frozen=True)
class Choices:
    """The algorithm's knobs (``benchmarks/unigram_choices.py`` measures them)."""

    #: candidates seeded per piece of the largest size (at most SEED_MOST)
    seed_factor: int = SEED_FACTOR
    #: longest seed in bytes (None: max_piece_length); 6 seeds n-grams only
    seed_length: int | None = None
    #: the share of pieces each pruning round keeps
    shrink: float = SHRINK
    #: EM iterations after each pruning round
    em_iterations: int = EM_ITERATIONS
    #: rank pieces for pruning by "probability" or by "loss" (of log-likelihood)
    prune_by: str = "probability"
    #: rank pieces for the last cut to each size by "probability" or by "loss"
    final_cut: str = "probability"


def train_unigram(chunks: "ChunkCache", sizes: list[int], max_piece_length: int,
                  min_count: int, ensure_unicode: bool, workers: int, progress=None,
                  seed_bytes: int = SEED_SAMPLE_BYTES,
                  choices: Choices = Choices()) -> list[dict[bytes, int]]:
    """[{piece: count}] for each size of ``sizes`` (largest first)."""
    buf, ends = chunks.sample(seed_bytes)
    pieces, counts = seed_pieces(buf, ends, min(max(sizes) * choices.seed_factor, SEED_MOST),
                                 choices.seed_length or max_piece_length, min_count,
                                 ensure_unicode)
    del buf, ends
    # the first pass sorts the many seeds into likely and unlikely on a sample, the next
    # ones read every chunk
    first = first_pass_bytes(chunks.total, seed_bytes)
    sampled = first < chunks.total
    live, counts = reestimate(Pieces(pieces), counts.astype(np.float64),
                              Packed(*chunks.sample(first)) if sampled else chunks, workers,
                              progress, 1, max(sizes) - 3)
    if sampled:
        live, counts = reestimate(live, counts, chunks, workers, progress, 1, max(sizes) - 3)
    final = []
    for size in sizes:
        limit = size - 3
        while len(live) > limit:
            keep = max(limit, int(len(live) * choices.shrink))
            by = choices.final_cut if keep == limit else choices.prune_by
            live, counts = prune_round(live, counts, keep, by)
            live, counts = reestimate(live, counts, chunks, workers, progress,
                                      choices.em_iterations, limit)
        whole = np.maximum(np.rint(counts), 1).astype(np.int64)
        final.append(dict(zip(live.pieces, whole.tolist())))
    return final


# -- phase 1: the chunks, packed once ------------------------------------------------

class ChunkCache:
    """The training chunks as packed batches (buf uint8, ends int64): in memory up to
    ``allowance`` bytes, the rest appended to one file of the work folder."""

    def __init__(self, allowance: int, workdirs):
        self.allowance = allowance
        self.workdirs = workdirs
        self.memory: list[tuple[np.ndarray, np.ndarray]] = []
        self.held = 0
        self.path: str | None = None
        self.index: list[tuple[int, int, int]] = []  # (offset, bytes, chunks) per batch
        self.total = 0

    def fill(self, texts, isolate_digits: bool, batch_chars: int, progress=None) -> int:
        """Read and pack ``texts``; returns the bytes of text."""
        from .batches import batches

        for buf, ends, _ in batches(texts, isolate_digits, batch_chars, 0, progress):
            if not len(buf):
                continue
            self.total += len(buf)
            if self.path is None and self.held + buf.nbytes + ends.nbytes <= self.allowance:
                self.memory.append((buf, ends))
                self.held += buf.nbytes + ends.nbytes
            else:
                self._append(buf, ends)
        return self.total

    def _append(self, buf: np.ndarray, ends: np.ndarray) -> None:
        workdir = self.workdirs.get()
        if self.path is None:
            self.path = workdir.new_path("chunks")
        offset = self.index[-1][0] + self.index[-1][1] + 8 * self.index[-1][2] \
            if self.index else 0
        try:
            with open(self.path, "ab") as f:
                f.write(buf.tobytes())
                f.write(ends.astype(np.int64).tobytes())
        except OSError as e:
            raise workdir.disk_error(e, "cannot write the training chunks") from None
        self.index.append((offset, len(buf), len(ends)))
        self.workdirs.note_disk()

    def __len__(self) -> int:
        return len(self.memory) + len(self.index)

    @property
    def spilled(self) -> int:
        """Batches written to the work folder."""
        return len(self.index)

    def batch(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Batch ``k`` (in the order read)."""
        if k < len(self.memory):
            return self.memory[k]
        offset, size, n = self.index[k - len(self.memory)]
        with open(self.path, "rb") as f:
            f.seek(offset)
            buf = np.frombuffer(f.read(size), np.uint8)
            ends = np.frombuffer(f.read(8 * n), np.int64)
        return buf, ends

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k in range(len(self)):
            yield self.batch(k)

    def sample(self, most_bytes: int) -> tuple[np.ndarray, np.ndarray]:
        """Chunks at an even stride through the whole corpus (every file has its share),
        about ``most_bytes`` of them, as one (buf, ends); all of them when they hold less."""
        from .._kernels import read_only
        from .._kernels.lm import gather

        share = most_bytes / max(self.total, 1)
        bufs, ends, offset, seen = [], [], 0, 0
        for buf, e in self.batches():
            n = len(e)
            if share < 1:  # chunk k of the corpus is taken when k * share passes an integer
                k = np.arange(seen, seen + n, dtype=np.float64)
                which = np.flatnonzero(np.floor((k + 1) * share) > np.floor(k * share))
                lengths = np.diff(e, prepend=0)
                buf, e = gather(read_only(buf), e - lengths, lengths, which)
            seen += n
            bufs.append(buf)
            ends.append(e + offset)
            offset += len(buf)
        if not bufs:
            return np.zeros(0, np.uint8), np.zeros(0, np.int64)
        return np.concatenate(bufs), np.concatenate(ends)


class Packed:
    """Chunks already packed in one (buf, ends), read as ChunkCache's are: one batch (the
    expected counts do not depend on how the chunks are batched)."""

    def __init__(self, buf: np.ndarray, ends: np.ndarray):
        self.buf, self.ends = buf, ends
        self.total = len(buf)

    def batches(self):
        yield self.buf, self.ends


# -- phase 2: seeding --------------------------------------------------------------

def seed_pieces(buf: np.ndarray, ends: np.ndarray, most: int, max_piece_length: int,
                min_count: int, ensure_unicode: bool) -> tuple[list[bytes], np.ndarray]:
    """The candidates: the 256 single bytes (counted in ``buf``, at least 1), then at most
    ``most`` repeated substrings counted ``min_count`` times, the best by count x length."""
    starts, lengths, counts = repeated_substrings(buf, ends, max_piece_length,
                                                  ensure_unicode)
    frequent = np.flatnonzero(counts >= min_count)
    # best count x length first, then count, then place (deterministic)
    rank = (counts[frequent] * lengths[frequent]) << 23 | np.minimum(counts[frequent],
                                                                      (1 << 23) - 1)
    if len(frequent) > most:
        top = np.argpartition(-rank, most - 1)[:most]
        frequent, rank = frequent[top], rank[top]
    chosen = frequent[np.argsort(-rank, kind="stable")]
    data = buf.tobytes()
    longer = [data[s:s + k] for s, k in zip(starts[chosen].tolist(), lengths[chosen].tolist())]
    byte_counts = np.bincount(buf, minlength=256).astype(np.int64)
    return [bytes([b]) for b in range(256)] + longer, \
        np.concatenate([np.maximum(byte_counts, 1), counts[chosen]])


def repeated_substrings(buf: np.ndarray, ends: np.ndarray, depth: int,
                        ensure_unicode: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, lengths, counts): the right-maximal substrings of 2..``depth`` bytes that
    occur twice or more, none crossing a chunk's end (``_kernels.suffixes``)."""
    from .._kernels import read_only
    from .._kernels import suffixes as sx

    if not len(buf):
        return (np.zeros(0, np.int64),) * 3
    buf = read_only(buf)
    limit = sx.chunk_ends_of(len(buf), ends)
    keys = sx.first_keys(buf, limit)
    order = np.argsort(keys)
    ranks, head = sx.first_ranks(order, keys)
    del keys
    step = 7  # bytes the order is right for so far; doubled per round (prefix doubling)
    while step < depth:
        slots = sx.unresolved(head)  # only groups of equal prefixes need sorting again
        if not len(slots):
            break
        keys = sx.doubled_keys(order, slots, ranks, limit, step)
        sx.refine(order, slots, keys, np.argsort(keys), ranks, head)
        step *= 2
    del ranks, head
    if ensure_unicode:
        order = order[(buf[order] & 0xC0) != 0x80]
    lcp = sx.common_prefixes(buf, limit, order, depth)
    return sx.repeated_substrings(buf, limit, order, lcp, ensure_unicode)


# -- phases 3 and 4: EM and pruning ------------------------------------------------------

class Pieces(CompiledPieces):
    """The live pieces compiled for the kernels, over them alone (the trie walk never
    wanders down the paths of pruned ones)."""

    def __init__(self, pieces: list[bytes]):
        self.pieces = pieces
        super().__init__(*packed(pieces))
        self.single = self.lengths == 1

    def __len__(self) -> int:
        return len(self.pieces)

    def subset(self, which: np.ndarray) -> "Pieces":
        """The pieces ``which`` (ascending indices), compiled anew."""
        return Pieces([self.pieces[i] for i in which.tolist()])

    def log_probabilities(self, counts: np.ndarray) -> np.ndarray:
        """log(count / total) of each piece at its trie slot; +inf where none ends."""
        logp = np.full(len(self.trie.logp), np.inf)
        logp[self.slot] = np.log(counts) - np.log(counts.sum())
        return logp

    def expected(self, counts, chunks: ChunkCache, workers: int) -> tuple[np.ndarray, float]:
        """(expected count of each piece in the chunks under the unigram model of
        ``counts``, the chunks' log-likelihood), on ``workers`` threads."""
        from .._kernels import read_only
        from .._kernels.unigram import UNIT, expected_counts

        trie = self.trie
        prob = np.zeros(len(trie.logp))
        prob[self.slot] = counts / counts.sum()
        totals = [np.zeros(len(self.pieces), np.int64) for _ in range(workers)]

        def run(k, buf, ends):
            return expected_counts(buf, ends, trie.nodes, trie.value, prob, trie.pair,
                                   totals[k])

        likelihood = 0.0
        with ThreadPoolExecutor(workers) as pool:
            for buf, ends in chunks.batches():
                parts = []
                for lo, hi in text_ranges(ends, workers):
                    b0 = int(ends[lo - 1]) if lo else 0
                    parts.append((read_only(buf[b0:int(ends[hi - 1])]), ends[lo:hi] - b0))
                likelihood += sum(pool.map(run, range(len(parts)), *zip(*parts)))
        return sum(totals) / UNIT, likelihood

    def loss(self, counts) -> np.ndarray:
        """float64 per piece: count x (log p(piece) - log p(its best segmentation without
        it)), what the corpus's log-likelihood loses without it; +inf for single bytes."""
        from .._kernels import read_only
        from .._kernels.unigram import alternatives

        logp = self.log_probabilities(counts)
        buf, ends = self.texts(np.arange(len(self.pieces)))
        alt = alternatives(read_only(buf), ends, self.trie.nodes, logp, self.trie.pair)
        loss = counts * (logp[self.slot] - alt)
        loss[self.single] = np.inf
        return loss


def reestimate(live: Pieces, counts, chunks: ChunkCache, workers: int, progress,
               iterations: int, floor: int = 0) -> tuple[Pieces, np.ndarray]:
    """EM: ``iterations`` times, the pieces' expected counts under the unigram model of
    ``counts``. Pieces expected less than half a time go, unless that would leave fewer
    than ``floor`` (then the most expected of them stay); single bytes stay."""
    for _ in range(iterations):
        counts, _ = live.expected(counts, chunks, workers)
        if progress is not None:
            progress.update(1)
        keep = (counts >= 0.5) | live.single
        short = floor - int(keep.sum())
        if short > 0:
            rest = np.flatnonzero(~keep)
            keep[rest[np.lexsort((rest, -counts[rest]))[:short]]] = True
        counts = np.maximum(counts[keep], 0.5)
        if not keep.all():
            live = live.subset(np.flatnonzero(keep))
    return live, counts


def prune_round(live: Pieces, counts, keep: int, by: str = "loss"
                ) -> tuple[Pieces, np.ndarray]:
    """The ``keep`` pieces whose removal loses the most log-likelihood (``by`` "loss") or
    the most probable (``by`` "probability"), single bytes always kept, in their
    order, with their counts."""
    if by == "loss":
        loss = live.loss(counts)
    else:
        loss = np.where(live.single, np.inf, counts)
    top = np.sort(np.lexsort((np.arange(len(loss)), -loss))[:keep])
    return live.subset(top), counts[top]


def first_pass_bytes(total: int, seed_bytes: int) -> int:
    """Bytes of chunks the first EM pass reads: a sixteenth of the corpus, at least 2 MB
    and at most the seeds' sample. On a few MB it sorts the seeds as well as all of them
    (within 1-2% of bytes per token) in half the time; on a large corpus the pieces that
    survive it are all the later passes see, so it must grow with the corpus."""
    return min(seed_bytes, max(2 << 20, total // 16))


def chunk_allowance(budget: int) -> int:
    """Bytes of packed chunks held in memory: a quarter of the budget (the seeding's
    suffix array, ``seed_sample_bytes``, and the tries take most of the rest)."""
    return budget // 4


def seed_sample_bytes(budget: int, total: int) -> int:
    """Bytes of chunks the seeding's suffix array covers: a sixteenth of the corpus, at
    least SEED_SAMPLE_BYTES (8 MB: on the benchmark's 20 MB, 16 MB of suffix array took
    twice as long per byte), at most 1/96 of the budget (its arrays take about 40-60
    bytes per byte at the peak) and at least 1 MB. A large corpus needs a large sample:
    pieces common only in one part of it must reach the seeds. The model depends on the
    budget only below 96 times the sample."""
    return max(1 << 20, min(budget // 96, max(SEED_SAMPLE_BYTES, total // 16)))
