"""Training a BytePiece vocabulary: BytePiece 0.6.3's algorithm on numba kernels,
in memory bounded by spilling sorted count runs to disk.

The phases, each in a module of ``bytepiece.training`` with explicit inputs and
outputs; the run files (``training.runs``) are what passes between them:

1. ``count_ngrams``: texts -> n-gram runs. At every position of every chunk the
   slice of ``order`` bytes starting there is counted; tables spill as runs.
2. ``merge_ngrams``: n-gram runs -> kept n-grams. The runs are summed by key
   range; every single byte, and n-grams of orders >= 2 counted ``min_count`` times.
   This pass only counts them; the next merges the runs again.
3. ``build_language_model``: kept n-grams -> the n-gram language model
   (conditional log-probabilities), written range by range into its tables.
4. ``count_pieces``: texts, LM -> piece runs. The best segmentation of every
   chunk under the model (a piece ends where it prefers to start afresh);
   tables spill as runs.
5. ``merge_pieces``: piece runs -> kept pieces, and pieces to re-split (short,
   frequent pieces and every single byte are kept).
6. ``prune_pieces``: the kept pieces (``vocabulary``: their bytes back to back, with
   every single byte) and re-split pieces -> a vocabulary per size: re-split with the
   unigram tokenizer of the kept pieces, drop unused ones, cut to size.

``algorithm="unigram"`` trains otherwise, in the phases of ``training.unigram``:
pack the chunks, seed candidates from a suffix array, re-estimate by EM, prune the
least probable pieces in rounds down to each size.

Every phase gives exactly the reference's numbers: the same integer counts
(sums do not depend on how the counts were split into runs), the same float64
operations in the same order, numpy's argmax tie rules. ``min_count`` applies
only after the runs are merged.
"""

from __future__ import annotations

import os
import time
from typing import Iterable

import numpy as np

from .errors import InputError
from .memory import steady_memory
from .model import Model
from .special import check_special_tokens, pattern_of
from .training import merge as _merge
from .training.merge import fan_in
from .training.batches import Progress
from .training.language_model import build_language_model, orders_above_two
from .training.ngram_counts import count_ngrams, merge_ngrams
from .training.piece_counts import _pieces as _table_pieces
from .training.piece_counts import count_pieces, merge_pieces, resplit_blocks
from .training.prune import prune_pieces, vocabulary
from .training import unigram
from .training.runs import NGRAMS, PIECES, Block, MemoryRun
from .training.spill import STEADY_THRESHOLD, Spill, allowance, default_budget
from .training.workdir import WorkDirs

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

    ``special_tokens`` (str) take the ids after the last piece; their text in the
    corpus is cut out of it, so it never becomes a piece nor part of one.

    ``algorithm``: ``"bytepiece"`` (BytePiece 0.6.3's frequency cut, exactly) or
    ``"unigram"`` (unigram language-model training on the raw chunks: suffix-array
    seeds, EM, pruning in rounds; higher compression, and every requested size filled).
    """

    ALGORITHMS = ("bytepiece", "unigram")

    def __init__(self, order=6, max_vocab_size=10000, max_piece_length=36, min_count=2,
                 isolate_digits=False, ensure_unicode=True, special_tokens=(),
                 algorithm="bytepiece"):
        if algorithm not in self.ALGORITHMS:
            raise InputError(f"algorithm must be one of {', '.join(self.ALGORITHMS)}, "
                             f"got {algorithm!r}")
        self.algorithm = algorithm
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
        #: user special tokens, after the last piece in every model
        self.special_tokens = check_special_tokens(special_tokens,
                                                   {bytes([b]) for b in range(256)})
        self.pieces: list[dict[bytes, int]] = []
        #: seconds spent in each phase of the last ``train``
        self.timings: dict[str, float] = {}
        #: bytes of training text seen by the last ``train``
        self.total_bytes = 0
        #: the memory budget of the last ``train`` (bytes), its spilled runs per
        #: phase, and the most temporary disk it used (bytes)
        self.memory_budget = 0
        self.spills: dict[str, int] = {}
        self.temp_disk = 0
        #: whether the last ``train`` took up an unfinished one from its tmp_dir
        self.resumed = False
        #: what the last ``train`` on a cluster did (``training.distributed.Stats``)
        self.cluster_stats = None

    # -- training ------------------------------------------------------------

    def train(self, texts: Iterable[str], workers: int = 1, batch_size: int = 1000,
              max_memory: int | None = None, tmp_dir: str | os.PathLike | None = None,
              cluster=None, shard_bytes: int | None = None, parts: int | None = None) -> None:
        """Train on ``texts``, an iterable of str read twice (a list, or a re-iterable reader).

        ``workers`` threads run the kernels (default 1, as in BytePiece; the
        ``bytepiece train`` command uses every core); the result does not depend on it.
        ``max_memory`` (bytes; default ``training.spill.default_budget()``): the
        counting tables spill to sorted runs on disk rather than grow past it,
        and the model is the same. ``tmp_dir``: where the runs go (default: the
        system's temporary folder); the folder made there is removed at the end,
        and a training killed outright resumes from it when run again with the
        same texts (a ``Corpus``, whose files can be checked) and parameters.
        ``batch_size`` is accepted for compatibility with BytePiece.

        ``cluster``: train on a Dask or Ray cluster instead (a ``dask.distributed.Client``
        or a URL, see ``bytepiece.executors.connect``); ``texts`` must then be a
        ``Corpus`` whose files every worker can read. The model is the same.
        ``max_memory`` is then each task's budget (default: a quarter of its
        worker's available memory); ``shard_bytes`` and ``parts`` set the size of
        the corpus's shards and the number of parts each merge is cut into
        (defaults: ``training.distributed``).
        """
        workers = _workers(workers)
        self.timings = {}
        self.spills = {}
        if self.special_tokens:
            if cluster is not None:
                raise InputError("special tokens cannot be cut out of the corpus on a "
                                 "cluster yet: train here, or without special_tokens")
            texts = WithoutSpecialTokens(texts, self.special_tokens)
        if cluster is not None:
            return self._train_on_cluster(texts, cluster, max_memory, shard_bytes, parts)
        budget = int(max_memory) if max_memory is not None else default_budget()
        if budget <= 0:
            raise InputError(f"max_memory must be a positive number of bytes, got {max_memory}")
        self.memory_budget = budget
        steady_memory(STEADY_THRESHOLD)  # the budget is kept in resident memory
        fingerprint = getattr(texts, "fingerprint", None)
        workdirs = WorkDirs(tmp_dir, self._params(), fingerprint() if fingerprint else None)
        self.resumed = workdirs.resumed
        try:
            self._train(texts, workers, budget, workdirs)
        finally:
            workdirs.remove()
            self.temp_disk = workdirs.peak_disk

    def _train_on_cluster(self, texts, cluster, max_memory, shard_bytes, parts) -> None:
        """``train`` with the tasks of ``training.distributed`` on ``cluster``'s engine."""
        from .executors import connect
        from .training import distributed

        if self.algorithm != "bytepiece":
            raise InputError(f"the {self.algorithm} algorithm does not run on a cluster yet: "
                             f"train here, or with --algorithm bytepiece")
        if not hasattr(texts, "shards"):
            raise InputError("training on a cluster needs a Corpus: files (or URLs) that "
                             "every worker can read")
        if max_memory is not None and int(max_memory) <= 0:
            raise InputError(f"max_memory must be a positive number of bytes, got {max_memory}")
        engine = cluster if hasattr(cluster, "share") else connect(cluster)
        try:
            self.cluster_stats = distributed.train(self, texts, engine, max_memory,
                                                   shard_bytes, parts)
        finally:
            if engine is not cluster:
                engine.close()
        self.memory_budget = int(max_memory or 0)
        self.temp_disk = 0
        self.resumed = False

    def _train(self, texts, workers, budget, workdirs) -> None:
        """The phases, each timed; phases an earlier, killed run finished are skipped."""
        if self.algorithm == "unigram":
            return self._train_unigram(texts, workers, budget, workdirs)
        t = time.perf_counter()
        ngrams_spill = Spill(budget, workdirs, "ngrams", NGRAMS)
        if ngrams_spill.done:
            runs, total = ngrams_spill.runs, ngrams_spill.bytes
        else:
            runs, total = self.count_ngrams(texts, workers, ngrams_spill)
        self.total_bytes = total
        self.spills["ngrams"] = ngrams_spill.spills
        self.timings["count ngrams"] = time.perf_counter() - t
        t = time.perf_counter()
        kept = merge_ngrams(runs, self.order, self.min_count, workers,
                            fan_in(ngrams_spill.allowance, workers), ngrams_spill)
        del runs
        self.timings["merge ngrams"] = time.perf_counter() - t
        t = time.perf_counter()
        lm = build_language_model(kept.byte_counts, kept.blocks(), kept.longer, total,
                                  self.order)
        del kept
        self.timings["build lm"] = time.perf_counter() - t
        t = time.perf_counter()
        pieces_spill = Spill(budget, workdirs, "pieces", PIECES)
        if pieces_spill.done:
            runs, second = pieces_spill.runs, pieces_spill.bytes
        else:
            runs, second = self.count_pieces(texts, lm, workers, pieces_spill)
        del lm
        self.spills["pieces"] = pieces_spill.spills
        if second != total:
            raise InputError(
                f"texts gave {total} bytes of text the first time and {second} the second: "
                f"training reads them twice, so pass a list or a re-iterable object, not a "
                f"generator")
        self.timings["count pieces"] = time.perf_counter() - t
        t = time.perf_counter()
        kept, resplit = merge_pieces(runs, self.min_count, self.max_piece_length, workers,
                                     fan_in(pieces_spill.allowance, workers), pieces_spill)
        del runs
        self.timings["merge pieces"] = time.perf_counter() - t
        t = time.perf_counter()
        progress = Progress("Prune Pieces", None, unit=" rounds")
        try:
            vocab = vocabulary(kept)
            del kept  # its keys and bytes: 236 MB at 4 GB of text
            self.pieces = prune_pieces(vocab, resplit_blocks(resplit), self.max_vocab_size,
                                       workers, progress, allowance(budget))
        finally:
            progress.close()
        self.timings["prune pieces"] = time.perf_counter() - t

    def _train_unigram(self, texts, workers, budget, workdirs) -> None:
        """The phases of ``training.unigram``, each timed."""
        t = time.perf_counter()
        chunks = unigram.ChunkCache(unigram.chunk_allowance(budget), workdirs)
        progress = Progress("Read Chunks", texts)
        try:
            self.total_bytes = chunks.fill(texts, self.isolate_digits, BATCH_CHARS, progress)
        finally:
            progress.close()
        self.spills["chunks"] = chunks.spilled
        self.timings["read chunks"] = time.perf_counter() - t
        t = time.perf_counter()
        progress = Progress("Unigram EM", None, unit=" passes")
        try:
            self.pieces = unigram.train_unigram(
                chunks, self.max_vocab_size, self.max_piece_length, self.min_count,
                self.ensure_unicode, workers, progress,
                seed_bytes=unigram.seed_sample_bytes(budget, chunks.total))
        finally:
            progress.close()
        self.timings["unigram em"] = time.perf_counter() - t

    def _params(self) -> dict:
        """What the model depends on, for the resume manifest."""
        return {"order": self.order, "max_vocab_size": self.max_vocab_size,
                "max_piece_length": self.max_piece_length, "min_count": self.min_count,
                "isolate_digits": self.isolate_digits, "ensure_unicode": self.ensure_unicode,
                **({"special_tokens": list(self.special_tokens)} if self.special_tokens
                   else {}),
                **({"algorithm": self.algorithm} if self.algorithm != "bytepiece" else {})}

    # -- the phases ------------------------------------------------------------

    def count_ngrams(self, texts, workers: int = 1, spill: Spill | None = None):
        """Phase 1: count the byte slices of ``texts`` into runs: (runs, bytes of text)."""
        workers = _workers(workers)
        spill = _check_spill(spill) or _unbounded(NGRAMS)
        progress = Progress("Count Ngrams", texts)
        try:
            return count_ngrams(texts, self.order, self.isolate_digits, workers, spill,
                                _batch_chars(spill.allowance), progress)
        finally:
            progress.close()

    def prune_ngrams(self, slice_keys, slice_counts, total):
        """Phases 2 and 3 for slices counted in memory (``_entries`` of count tables):
        the language model, as ``build_lm`` gives it (the slices merged as one run)."""
        slice_keys = _array("slice_keys", slice_keys, np.uint64)
        slice_counts = _array("slice_counts", slice_counts, np.int64)
        _same_length(("slice_keys", slice_keys), ("slice_counts", slice_counts))
        _check_total(total)
        block = Block(slice_keys.byteswap(), slice_counts)
        run = MemoryRun(_merge.sort_and_sum(block, NGRAMS), NGRAMS)
        kept = merge_ngrams([run], self.order, self.min_count, 1, 64, _unbounded(NGRAMS))
        return build_language_model(kept.byte_counts, kept.blocks(), kept.longer, total,
                                    self.order)

    def build_lm(self, keys, counts, total):
        """Phase 3 on kept n-grams held in memory (``KeptNgrams.arrays``: the 256 single
        bytes first): the n-gram language model, the arrays ``(unigram, bigram, kv,
        kv_logp)`` that ``_kernels.lm.best_states`` takes (see
        ``training.language_model``)."""
        keys = _array("keys", keys, np.uint64)
        counts = _array("counts", counts, np.int64)
        _same_length(("keys", keys), ("counts", counts))
        if counts.shape[0] < 256:
            raise InputError(f"counts must be an array of at least 256 counts (the single "
                             f"bytes first), got {counts.shape[0]}")
        _check_total(total)
        rest = keys[256:], counts[256:]
        return build_language_model(counts[:256], [rest], orders_above_two(rest[0]), total,
                                    self.order)

    def count_pieces(self, texts, lm_arrays, workers: int = 1, spill: Spill | None = None):
        """Phase 4: segment ``texts`` with the n-gram model ``lm_arrays`` and count the
        pieces into runs: (runs, bytes of text)."""
        _check_lm(lm_arrays)
        workers = _workers(workers)
        spill = _check_spill(spill) or _unbounded(PIECES)
        progress = Progress("Count Pieces", texts)
        try:
            return count_pieces(texts, lm_arrays, self.order, self.ensure_unicode,
                                self.isolate_digits, workers, spill,
                                _batch_chars(spill.allowance), progress)
        finally:
            progress.close()

    def prune_pieces(self, table, workers: int = 1):
        """Phases 5 and 6 for pieces counted in memory (a ``_kernels.lm`` piece table):
        [{piece: count}] per ``max_vocab_size``, largest first."""
        _check_piece_table(table)
        workers = _workers(workers)
        block = _merge.sort_and_sum(_table_pieces([table]), PIECES)
        kept, resplit = merge_pieces([MemoryRun(block, PIECES)], self.min_count,
                                     self.max_piece_length, workers, 64, _unbounded(PIECES))
        return prune_pieces(vocabulary(kept), resplit_blocks(resplit), self.max_vocab_size,
                            workers)

    # -- output ----------------------------------------------------------------

    def models(self) -> list[Model]:
        """The trained vocabularies as models, largest first."""
        return [Model.from_counts(p, special_tokens=self.special_tokens) for p in self.pieces]

    def save(self, path: str | os.PathLike) -> list[str]:
        """Write the model to ``path``, or one per size to ``path.<size>``; returns the paths."""
        if not self.pieces:
            raise InputError("nothing to save: call train() first")
        path = os.fspath(path)
        if len(self.pieces) == 1:
            paths = [path]
        else:
            paths = [f"{path}.{size}" for size in self.max_vocab_size]
        for model, out in zip(self.models(), paths):
            model.save(out)
        return paths




class WithoutSpecialTokens:
    """The training texts with the special tokens cut out: each text (NFC, as training
    sees it) becomes the texts between the tokens, so no piece holds a token's text.
    Re-iterable like the texts; their corpus attributes (size, fingerprint) pass through."""

    def __init__(self, texts, tokens: tuple[str, ...]):
        import unicodedata

        self.texts = texts
        self.pattern = pattern_of({*tokens, *(unicodedata.normalize("NFC", t) for t in tokens)})

    def __iter__(self):
        import unicodedata

        split, normalize = self.pattern.split, unicodedata.normalize
        for text in self.texts:
            if not isinstance(text, str):
                yield text  # the chunking refuses it as it would without tokens
                continue
            for part in split(normalize("NFC", text)):
                if part:
                    yield part

    def __getattr__(self, name):
        if name in ("size_bytes", "bytes_read", "fingerprint"):
            return getattr(self.texts, name)
        raise AttributeError(name)


# -- checks of the phases' inputs: the kernels index their arrays unchecked ----------

def _workers(workers) -> int:
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool):
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    return max(1, min(int(workers), 1024))


def _array(name: str, values, dtype) -> np.ndarray:
    """``values`` as a contiguous 1-d array of ``dtype``, or InputError."""
    if isinstance(values, np.ndarray) and values.dtype != dtype and not (
            values.dtype.kind in "iub" and np.dtype(dtype).kind in "iu"):
        raise InputError(f"{name} must be an array of {np.dtype(dtype)}, got {values.dtype}")
    try:
        array = np.ascontiguousarray(values, dtype)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be a 1-d array of {np.dtype(dtype)}") from None
    if array.ndim != 1:
        raise InputError(f"{name} must be a 1-d array of {np.dtype(dtype)}, got "
                         f"{array.ndim}-d")
    return array


def _same_length(*named) -> None:
    (a, x), (b, y) = named
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{a} and {b} must have the same length, got {x.shape[0]} and "
                         f"{y.shape[0]}")


def _check_total(total) -> None:
    if not isinstance(total, (int, np.integer)) or isinstance(total, bool) or \
            not 0 <= total < 2**63:
        raise InputError(f"total must be a non-negative number of bytes, got {total!r}")


def _check_spill(spill):
    if spill is not None and not isinstance(spill, Spill):
        raise InputError(f"spill must be a training.spill.Spill or None, got "
                         f"{type(spill).__name__}")
    return spill


def _exact(name: str, array, dtype, length: int | None = None) -> None:
    """Refuse anything but a contiguous 1-d array of ``dtype`` (of ``length`` items)."""
    if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1 or \
            not (array.flags.c_contiguous and array.flags.aligned):
        got = f"{array.ndim}-d {array.dtype}" if isinstance(array, np.ndarray) else \
            type(array).__name__
        raise InputError(f"{name} must be a contiguous 1-d array of {np.dtype(dtype)}, "
                         f"got {got}")
    if length is not None and array.shape[0] != length:
        raise InputError(f"{name} must hold {length} values, got {array.shape[0]}")


def _check_lm(lm_arrays) -> None:
    """An n-gram LM as ``build_lm`` returns it: (unigram, bigram, kv, kv_logp)."""
    if not isinstance(lm_arrays, (tuple, list)) or len(lm_arrays) != 4:
        raise InputError("lm_arrays must be the tuple (unigram, bigram, kv, kv_logp) that "
                         "build_lm returns")
    unigram, bigram, kv, kv_logp = lm_arrays
    _exact("unigram", unigram, np.float64, 256)
    _exact("bigram", bigram, np.float64, 65536)
    _exact("kv", kv, np.uint64)
    _exact("kv_logp", kv_logp, np.float64, kv.shape[0])
    if kv.shape[0] < 2 or kv.shape[0] % 2 or (kv[0::2] != 0).all():
        raise InputError("kv must hold (key, value) pairs, at least one of them empty "
                         "(key 0): look-ups probe until they find the key or an empty pair")


def _check_piece_table(table) -> None:
    """A piece table as ``_kernels.lm`` counts into: (slots, entries, arena, n, used)."""
    if not isinstance(table, (tuple, list)) or len(table) != 5:
        raise InputError("table must be a piece table (slots, entries, arena, n, used)")
    slots, entries, arena, n, used = table
    _exact("slots", slots, np.uint64)
    _exact("entries", entries, np.int64)
    _exact("arena", arena, np.uint8)
    for name, value, most in (("n", n, entries.shape[0] // 3), ("used", used, arena.shape[0])):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or \
                not 0 <= value <= most:
            raise InputError(f"{name} must be an integer in 0..{most}, got {value!r}")
    starts, lengths, counts = (entries[k:3 * n:3] for k in range(3))
    bad = np.flatnonzero((starts < 0) | (lengths < 1) | (lengths > used) |
                         (starts > used - lengths) | (counts < 1))
    if bad.shape[0]:
        e = int(bad[0])
        raise InputError(f"piece {e} of the table is (start {starts[e]}, length {lengths[e]}, "
                         f"count {counts[e]}): outside the arena's {used} bytes in use, or "
                         f"not a positive count")


def _batch_chars(allowance: int) -> int:
    """Characters per batch: BATCH_CHARS, or less when the allowance is so small that
    one batch's worth of new keys would not fit it."""
    return min(BATCH_CHARS, max(1 << 14, allowance // 64))


class _NoWorkDirs:
    """For phases run on their own, in memory: a folder is never needed."""

    current = None

    def get(self):
        raise AssertionError("an unbounded phase spilled")

    def note_disk(self):
        pass


def _unbounded(kind: int) -> Spill:
    """A Spill that never spills (for the phases called on their own)."""
    spill = Spill(1 << 62, _NoWorkDirs(), "memory", kind)
    return spill


def _entries(tables):
    """The (keys, counts) of slice tables (``(table, size)`` pairs) that hold disjoint
    keys, as dense arrays in the table's packing."""
    from ._kernels.ngrams import entries

    parts = [entries(*t) for t in tables]
    return (np.concatenate([k for k, _ in parts]), np.concatenate([c for _, c in parts]))
