"""Training on a cluster: the phases as map and merge tasks over shards of the corpus.

The corpus is cut into shards at document boundaries (``Corpus.shards``), so the
shards hold exactly the documents, and so the chunks, of a run on one machine;
counts are sums over chunks, so they do not depend on how the work is split.

1. ``count_ngrams_task`` per shard: its slices counted (spilling within the task
   as on one machine) and cut into ``parts`` sorted runs by 2-byte prefix, each
   a compressed run file (``runs.run_bytes``);
2. ``merge_ngrams_task`` per part: that part's runs from every shard merged, the
   n-grams kept as ``merge_ngrams`` keeps them; only the counts of single bytes
   (summed over parts) come to the client;
3. the kept n-grams go from the merges to every worker (each fetches a part once,
   the engine moving it), and each worker builds the language model once
   (``_cached``);
4. ``count_pieces_task`` per shard: pieces counted under the model, cut into
   ``parts`` runs by ranges of piece keys;
   Pieces longer than ``max_piece_length`` are never kept: they stay with the task
   that counted them, in a run of their own;
5. ``merge_pieces_task`` per part: kept pieces to the client, the pieces to
   re-split stay with the engine;
6. ``resplit_task`` per part and per shard re-splits those with the kept pieces'
   tokenizer where they are (summing the counts of a piece re-split in several
   places gives what re-splitting it once with its total gives); the client adds
   up the counts and cuts to each size.

A task is a function of its arguments alone, so the engine may run it again
anywhere (after a worker died) with the same result.
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .runs import (NGRAMS, PIECES, Block, RunFile, _transposed, _untransposed, concat,
                   pack_pieces, run_bytes, split_pieces, unpack_pieces)

#: A shard is at most this large, so that many tasks share the work and a task's
#: tables stay small; and at least MIN_SHARD_BYTES, so that tasks are not all overhead.
MAX_SHARD_BYTES = 256 << 20
MIN_SHARD_BYTES = 1 << 20


@dataclass
class Job:
    """What every task needs: the corpus reader, the trainer's parameters, the number of
    parts each merge is cut into, and a task's memory budget (None: a quarter of
    the worker's available memory)."""

    corpus: object
    params: dict
    parts: int
    memory: int | None

    def trainer(self):
        from ..trainer import Trainer

        return Trainer(**self.params)


@dataclass
class Stats:
    """What a cluster training did: tasks run, and the bytes of every result that one task
    handed another or the client (an upper bound on what crossed the network)."""

    shards: int = 0
    parts: int = 0
    tasks: int = 0
    moved: int = 0
    shared: int = 0
    #: the bytes of ``moved`` and ``shared`` by what they were
    detail: dict = field(default_factory=dict)
    #: seconds of the pruning phase: its re-split tasks, then this machine's cut to sizes
    seconds: dict = field(default_factory=dict)

    def add(self, what: str, n: int, shared: bool = False) -> None:
        self.detail[what] = self.detail.get(what, 0) + n
        if shared:
            self.shared += n
        else:
            self.moved += n


def train(trainer, corpus, engine, max_memory: int | None = None,
          shard_bytes: int | None = None, parts: int | None = None) -> Stats:
    """Train ``trainer`` on ``corpus`` (a ``Corpus``) with ``engine``'s workers: sets
    ``trainer.pieces``, ``total_bytes`` and ``timings`` as ``Trainer.train`` does."""
    from ..errors import InputError
    from .prune import Splitter, cut_to_sizes, vocabulary
    from .spill import allowance

    slots = engine.slots
    if shard_bytes is None:
        shard_bytes = min(MAX_SHARD_BYTES,
                          max(MIN_SHARD_BYTES, corpus.size_bytes // (2 * slots) + 1))
    shards = corpus.shards(shard_bytes)
    parts = parts or slots
    job = Job(corpus, trainer._params(), parts, max_memory)
    stats = Stats(shards=len(shards), parts=parts)
    timings = trainer.timings

    t = time.perf_counter()
    counted = [engine.submit(count_ngrams_task, job, shard, returns=parts + 1)
               for shard in shards]
    metas = _wait(engine, [c[0] for c in counted], shards, "Count Ngrams")
    total = sum(m[0] for m in metas)
    stats.add("n-gram runs", sum(sum(m[1]) for m in metas))
    timings["count ngrams"] = time.perf_counter() - t

    t = time.perf_counter()
    merged = [engine.submit(merge_ngrams_task, job, *[c[1 + p] for c in counted], returns=2)
              for p in range(parts)]
    del counted
    metas = engine.gather([m[0] for m in merged])
    byte_counts = sum(m[0] for m in metas)
    timings["merge ngrams"] = time.perf_counter() - t

    # the kept n-grams go from the merges to the workers as they are, without this
    # machine: each worker fetches every part once and builds the model from them once
    t = time.perf_counter()
    model = (uuid.uuid4().hex, byte_counts, total)
    kept = [m[1] for m in merged]
    stats.add("kept n-grams", sum(m[1] for m in metas), shared=True)
    del merged
    timings["build lm"] = time.perf_counter() - t

    t = time.perf_counter()
    counted = [engine.submit(count_pieces_task, job, model, shard, *kept, returns=parts + 2)
               for shard in shards]
    metas = _wait(engine, [c[0] for c in counted], shards, "Count Pieces")
    second = sum(m[0] for m in metas)
    stats.add("piece runs", sum(sum(m[1]) for m in metas))
    stats.detail["long pieces, kept where counted"] = sum(m[2] for m in metas)
    if second != total:
        raise InputError(f"the corpus gave {total} bytes of text the first time and "
                         f"{second} the second: leave it alone until the model is written")
    del kept
    timings["count pieces"] = time.perf_counter() - t

    t = time.perf_counter()
    merged = [engine.submit(merge_pieces_task, job, *[c[2 + p] for c in counted], returns=2)
              for p in range(parts)]
    kept_runs = engine.gather([m[0] for m in merged])
    stats.add("kept pieces", sum(map(len, kept_runs)))
    kept = concat([b for run in kept_runs for b in RunFile(run).blocks()], PIECES)
    del kept_runs
    timings["merge pieces"] = time.perf_counter() - t

    # the pieces to re-split, where they are: those the merges did not keep, and each
    # shard's pieces too long to keep (never sent to a merge)
    t = time.perf_counter()
    arena, lengths, counts = vocabulary(kept)
    del kept
    pieces = split_pieces(arena, np.cumsum(lengths))
    packed, order = pack_pieces(pieces, counts)  # the tasks' counts come in this order
    shared = (uuid.uuid4().hex, packed)
    stats.add("vocabulary", len(packed), shared=True)
    del packed
    vocab = engine.share(shared)
    to_split = [m[1] for m in merged] + [c[1] for c in counted]
    splitting = [engine.submit(resplit_task, job, vocab, run) for run in to_split]
    with ThreadPoolExecutor(1) as pool:  # this machine's tokenizer, while the tasks run
        splitter = pool.submit(Splitter, arena, lengths, os.cpu_count() or 1, None,
                               allowance(_budget(job)))
        splits = engine.gather(splitting)
        splitter = splitter.result()
    stats.seconds["re-split tasks"] = time.perf_counter() - t
    stats.add("re-split counts", sum(map(len, splits)))
    del merged, counted, to_split, splitting
    counts = counts.copy()
    for packed in splits:
        counts[order] += _unpack_counts(packed, len(counts))
    cut = time.perf_counter()
    trainer.pieces = cut_to_sizes(splitter, counts, trainer.max_vocab_size)
    stats.seconds["cut to sizes"] = time.perf_counter() - cut
    timings["prune pieces"] = time.perf_counter() - t
    trainer.total_bytes = total
    stats.tasks = task_count(len(shards), parts)
    return stats


def task_count(shards: int, parts: int) -> int:
    """Tasks of a training: per shard, two counts and a re-split of its long pieces; per
    part, two merges and a re-split."""
    return 3 * shards + 3 * parts


def _wait(engine, handles: list, shards: list, desc: str) -> list:
    """The results of ``handles``, one per shard, with a progress bar in bytes of shards."""
    from .batches import Progress

    bar = Progress(desc, None).bar
    bar.total = sum(s.nbytes for s in shards)
    try:
        for i in engine.each_done(handles):
            bar.update(shards[i].nbytes)
    finally:
        bar.close()
    return engine.gather(handles)


# -- the tasks (top-level functions of their arguments: the engine may rerun them) -------

def count_ngrams_task(job: Job, shard) -> tuple:
    """A shard's slices as ``job.parts`` compressed runs, after (bytes of text, run sizes)."""
    from .spill import Spill
    from .workdir import WorkDirs

    trainer = job.trainer()
    workdirs = WorkDirs(None, {}, None)
    try:
        spill = Spill(_budget(job), workdirs, "ngrams", NGRAMS)
        runs, total = trainer.count_ngrams(job.corpus.shard_texts(shard), 1, spill)
        parts = _partition(runs, NGRAMS, job.parts, _ngram_parts)
    finally:
        workdirs.remove()
    return ((total, [len(p) for p in parts]), *parts)


def merge_ngrams_task(job: Job, *runs: bytes) -> tuple[tuple[np.ndarray, int], bytes]:
    """One part's runs merged: ((counts of the 256 bytes in it, size of the run), the kept
    n-grams of orders >= 2 as a compressed run, keys big-endian)."""
    from .merge import fan_in
    from .ngram_counts import merge_ngrams

    spill = _MergeSpill(job)
    try:
        keys, counts = merge_ngrams([RunFile(r) for r in runs if r], job.params["order"],
                                    job.params["min_count"], 1, fan_in(spill.allowance, 1),
                                    spill).arrays()
    finally:
        spill.workdirs.remove()
    rest = keys[256:].byteswap()  # sorted, they compress to a few bytes each
    order = np.argsort(rest)
    run = run_bytes([Block(rest[order], counts[256:][order])], NGRAMS)
    return (counts[:256], len(run)), run


def count_pieces_task(job: Job, model: tuple, shard, *kept: bytes) -> tuple:
    """A shard's pieces under the n-gram model: (bytes of text, run sizes, size of the
    run of long pieces), the pieces longer than ``max_piece_length`` (never kept, so
    re-split where they are), then ``job.parts`` compressed runs of the others.
    ``model``: (token, counts of the 256 bytes, bytes of text); ``kept``: the merges'
    kept n-grams."""
    from .spill import Spill
    from .workdir import WorkDirs

    trainer = job.trainer()
    lm = _cached(model[0], lambda: _language_model(trainer, model, kept))
    workdirs = WorkDirs(None, {}, None)
    try:
        spill = Spill(_budget(job), workdirs, "pieces", PIECES)
        runs, total = trainer.count_pieces(job.corpus.shard_texts(shard), lm, 1, spill)
        longest = job.params["max_piece_length"]
        long, *parts = _partition(runs, PIECES, job.parts, _piece_parts,
                                  lambda b: np.diff(b.ends, prepend=0) > longest)
    finally:
        workdirs.remove()
    return ((total, [len(p) for p in parts], len(long)), long, *parts)


def merge_pieces_task(job: Job, *runs: bytes) -> tuple[bytes, bytes]:
    """One part's runs merged: (kept pieces, pieces to re-split), as compressed runs."""
    from .merge import fan_in
    from .piece_counts import merge_pieces, resplit_blocks

    spill = _MergeSpill(job)
    try:
        kept, dropped = merge_pieces([RunFile(r) for r in runs if r], job.params["min_count"],
                                     job.params["max_piece_length"], 1,
                                     fan_in(spill.allowance, 1), spill)
        return run_bytes([kept], PIECES), run_bytes(resplit_blocks(dropped), PIECES)
    finally:
        spill.workdirs.remove()


def resplit_task(job: Job, vocab: tuple, dropped: bytes) -> bytes:
    """Counts added to each piece of the vocabulary (``pack_pieces``: the pieces and their
    counts, in its order) by re-splitting the pieces ``dropped`` with its tokenizer
    (weighted by their counts), compressed."""
    from .prune import Splitter
    from .spill import allowance

    token, packed = vocab

    def build():
        pieces, counts = unpack_pieces(packed)
        return Splitter.of(pieces, 1, None, allowance(_budget(job))), counts

    splitter, counts = _cached(token, build)
    blocks = RunFile(dropped).blocks() if dropped else []
    added = splitter.split_all(np.arange(len(counts), dtype=np.int64), counts,
                               ((b.data, b.ends, b.counts) for b in blocks))
    return _pack_counts(added)


# -- helpers ---------------------------------------------------------------------------

class _MergeSpill:
    """What a merge asks of a ``Spill``: the allowance and a folder for the runs of fan-in
    passes (a task's own, removed at its end; nothing to resume from)."""

    def __init__(self, job: Job):
        from .spill import allowance
        from .workdir import WorkDirs

        self.allowance = allowance(_budget(job))
        self.workdirs = WorkDirs(None, {}, None)

    def replaced(self, group: list, run) -> None:
        pass


def _budget(job: Job) -> int:
    """A task's memory budget (and the client's, for its cut to sizes). The process keeps
    it in resident memory as ``Trainer.train`` does: freed arrays go back to the system
    from here on, so that ``spill.allowance`` sees what is in use."""
    from ..memory import steady_memory
    from .spill import STEADY_THRESHOLD, default_budget

    steady_memory(STEADY_THRESHOLD)
    return job.memory or default_budget()


def _partition(runs: list, kind: int, parts: int, part_of, aside=None) -> list[bytes]:
    """The sum of ``runs`` cut into ``parts`` compressed runs by ``part_of(keys, parts)``;
    with ``aside(block)`` (a mask), the entries it picks come first, as a run of their own."""
    from .merge import merge

    cut: list[list[Block]] = [[] for _ in range(parts + 1)]
    for block in merge(runs, kind):
        which = part_of(block.keys, parts) + np.uint64(1)
        if aside is not None:
            which[aside(block)] = 0
        for p in range(parts + 1):
            mask = which == p
            if mask.any():
                cut[p].append(block.select(mask))
    cut = cut if aside is not None else cut[1:]
    return [run_bytes(blocks, kind) if blocks else b"" for blocks in cut]


def _ngram_parts(keys: np.ndarray, parts: int) -> np.ndarray:
    """The part of each slice: a hash of its first two bytes, so that every n-gram of
    order >= 2 is counted whole in one part."""
    prefix = (keys >> np.uint64(48)) * np.uint64(0x9E3779B97F4A7C15)
    return ((prefix >> np.uint64(32)) * np.uint64(parts)) >> np.uint64(32)


def _piece_parts(keys: np.ndarray, parts: int) -> np.ndarray:
    """The part of each piece: ranges of keys in order (keys are hashes: even parts), so
    that the parts one after the other are the pieces in the order of one machine."""
    return ((keys >> np.uint64(32)) * np.uint64(parts)) >> np.uint64(32)


def _language_model(trainer, model: tuple, kept: tuple):
    """The n-gram model from the merges' kept n-grams (as the single machine's phase 3),
    read block by block from the runs. The model's table is sized by every kept n-gram
    of orders >= 2: at most 65,536 more than it needs (those of order 2)."""
    from .language_model import build_language_model

    _, byte_counts, total = model
    runs = [RunFile(run) for run in kept if run]
    blocks = ((b.keys.byteswap(), b.counts) for run in runs for b in run.blocks())
    return build_language_model(byte_counts, blocks, sum(len(run) for run in runs), total,
                                trainer.order)


#: One object per kind built from a shared value, per worker process: the language
#: model, the tokenizer of the kept pieces. Keyed by the value's token.
_CACHE: dict = {}


def _cached(token: str, build):
    value = _CACHE.get(token)
    if value is None:
        _CACHE.clear()  # the previous training's
        value = _CACHE[token] = build()
    return value


def _pack_counts(counts: np.ndarray) -> bytes:
    """int64 counts, mostly zero, compressed (bytes transposed, as in a run)."""
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(_transposed(counts.astype(np.int64)))


def _unpack_counts(packed: bytes, n: int) -> np.ndarray:
    import zstandard

    raw = zstandard.ZstdDecompressor().decompress(packed, max_output_size=8 * n)
    return _untransposed(raw, 0, n, np.int64)
