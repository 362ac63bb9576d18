"""The kernels the commands call, with the argument types their callers pass, so that
``bytepiece compile`` can fill numba's cache before the first run needs them.

Each kernel is compiled once per distinct set of argument types, so callers pass
one set per kernel: arrays a kernel only reads go in read-only
(``_kernels.read_only``), scalars as Python ints, floats and bools, or numpy
uint64. The exceptions are the automaton's candidate lengths and ids, stored in
the narrowest type that holds them (``trie.unsigned_type``): every combination a
model can have is listed. The tests hold the callers to this list.
"""

from __future__ import annotations

import importlib
import itertools
import time
from typing import Callable, Iterator, NamedTuple

#: Kernel (module.function of ``bytepiece._kernels``) -> argument types, one string per
#: specialization: numpy dtype codes, ``[::1]`` for a C array, ``ro`` read-only;
#: ``{len}`` and ``{id}`` stand for the candidate lists' types.
SIGNATURES: dict[str, list[str]] = {
    # training: n-grams, the n-gram LM, pieces, pruning
    "ngrams.count_slices": ["u1[::1]ro, i8[::1], i8, i8, i8, u8[::1], i8"],
    "ngrams.kept_ngrams_block": ["u8[::1]ro, i8[::1]ro, i8, i8, u8[::1], i8[::1], b1"],
    "ngrams.add_to_lm": ["u8[::1], f8[::1], u8[::1]ro, f8[::1]ro"],
    "ngrams.condition_lm": ["f8[::1], f8[::1], u8[::1], f8, i8"],
    "lm.count_pieces": ["u1[::1]ro, i8[::1], f8[::1], f8[::1], u8[::1], f8[::1], i8, b1, "
                        "u8[::1], i8[::1], u1[::1], i8, i8"],
    "lm.gather": ["u1[::1]ro, i8[::1], i8[::1], i8[::1]"],
    "lm.add_weighted": ["i8[::1], i4[::1], i8[::1], i8[::1]ro"],
    "runs.table_pieces": ["i8[::1], u1[::1], i8"],
    "runs.piece_keys": ["u1[::1]ro, i8[::1]"],
    "runs.sum_sorted_pieces": ["u8[::1]ro, i8[::1]ro, i8[::1]ro, u1[::1]ro, i8[::1]ro"],
    # training on a cluster: the n-gram runs tasks pass each other
    "runs.front_decoded": ["u1[::1]ro, u1[::1]ro, u1[::1]ro"],
    "runs.front_coded_pieces": ["u1[::1]ro, i8[::1], i8[::1], i8[::1]"],
    "runs.front_decoded_pieces": ["u1[::1]ro, u4[::1], u1[::1]ro"],
    # unigram training: the seeding's suffix array, EM, pruning by loss
    "suffixes.chunk_ends_of": ["i8, i8[::1]"],
    "suffixes.first_keys": ["u1[::1]ro, i4[::1]"],
    "suffixes.first_ranks": ["i8[::1], u8[::1]"],
    "suffixes.unresolved": ["b1[::1]"],
    "suffixes.doubled_keys": ["i8[::1], i8[::1], i4[::1], i4[::1], i8"],
    "suffixes.refine": ["i8[::1], i8[::1], u8[::1], i8[::1], i4[::1], b1[::1]"],
    "suffixes.common_prefixes": ["u1[::1]ro, i4[::1], i8[::1], i8"],
    "suffixes.repeated_substrings": ["u1[::1]ro, i4[::1], i8[::1], i8[::1], b1"],
    "unigram.expected_counts": ["u1[::1]ro, i8[::1], u4[::1], i4[::1], f8[::1], u4[::1], "
                                "i8[::1]"],
    "unigram.alternatives": ["u1[::1]ro, i8[::1], u4[::1], f8[::1], u4[::1]"],
    # models: the trie and the automaton
    "trie.build_double_array": ["u1[::1]ro, i8[::1]"],
    "automaton.failure_links": ["u4[::1]"],
    "automaton.candidate_lists": ["u4[::1], u4[::1], i8[::1], i8[::1], f8[::1], i4[::1], i8"],
    # encoding: best path (automaton), sampling (trie), one text, long lines
    "best_path.chunk_bounds": ["u1[::1]ro, i8[::1], b1"],
    "best_path.segment_chunks": ["u1[::1]ro, i8[::1], i8[::1], u4[::1], u4[::1], u8[::1], "
                                 "{len}[::1], f8[::1], {id}[::1]"],
    "best_path.segment_text": ["bytes, b1, u4[::1], u4[::1], u8[::1], {len}[::1], f8[::1], "
                               "{id}[::1]"],
    "viterbi.segment": ["u1[::1]ro, i8[::1], b1, u4[::1], i4[::1], f8[::1], u4[::1], f8, u8, "
                        "i8"],
    "stream.forward_best": ["u1[::1], u8, u8, u4[::1], f8[::1], u4[::1], f8[::1], u8[::1], "
                            "u8[::1], u8"],
    "stream.forward_sample": ["u1[::1], u8, u8, u4[::1], f8[::1], f8, u8, u8, f8[::1], "
                              "u8[::1], u8[::1], u8"],
    "stream.common_ancestor": ["u8[::1], i8, i8, i8"],
    "stream.path_through": ["u8[::1], i8, i8, i8, i8"],
    "stream.backtrack": ["u8[::1], u8[::1], i4[::1], i8, i8, i8"],
    "text_io.format_id_lines": ["i4[::1], i8[::1], i8, i8"],
    "text_io.char_to_byte_ends": ["u1[::1]ro, i8[::1]"],
    # decoding
    "text_io.parse_id_lines": ["u1[::1]ro, i8"],
    "text_io.gather_pieces": ["i8[::1], u1[::1]ro, i8[::1]"],
}
#: The kernels a first ``train`` reaches, in order (``prefetch`` compiles them ahead).
TRAIN_KERNELS = ["ngrams.count_slices", "ngrams.kept_ngrams_block", "ngrams.add_to_lm",
                 "ngrams.condition_lm",
                 "lm.count_pieces", "runs.table_pieces", "runs.piece_keys",
                 "runs.sum_sorted_pieces", "lm.gather", "trie.build_double_array",
                 "viterbi.segment", "lm.add_weighted"]
#: The kernels a first ``train --algorithm unigram`` reaches, in order.
UNIGRAM_KERNELS = ["suffixes.chunk_ends_of", "suffixes.first_keys", "suffixes.first_ranks",
                   "suffixes.unresolved", "suffixes.doubled_keys", "suffixes.refine",
                   "suffixes.common_prefixes", "suffixes.repeated_substrings",
                   "trie.build_double_array", "unigram.expected_counts"]
#: The kernels that take longest to compile (seconds each, where the others take under one):
#: the child of ``prefetch`` starts with them, the command reaching them first otherwise
#: compiles one alone while the child has run out of work.
SLOWEST = ["lm.count_pieces", "best_path.segment_chunks"]
#: The types the automaton's candidate lengths and ids can have (``trie.unsigned_type``;
#: a model has at least 259 ids).
_CANDIDATE_TYPES = {"len": ("u1", "u2", "u4"), "id": ("u2", "u4")}


class Compiled(NamedTuple):
    """One specialization: the kernel, its argument types, whether it was already
    in the cache, and the seconds it took."""

    kernel: str
    args: str
    cached: bool
    seconds: float


def specializations() -> Iterator[tuple[str, str]]:
    """``(kernel, argument types)`` of every specialization in SIGNATURES.

    >>> ("automaton.failure_links", "u4[::1]") in set(specializations())
    True
    """
    for name, signatures in SIGNATURES.items():
        for signature in signatures:
            if "{" not in signature:
                yield name, signature
                continue
            for length, ident in itertools.product(*_CANDIDATE_TYPES.values()):
                yield name, signature.format(len=length, id=ident)


#: The kernels a first ``encode`` of a file reaches, in order: building the model's
#: automaton, then segmenting (the best path: its chunks, then the chunks' best paths; or
#: sampling), then writing ids as text.
ENCODE_KERNELS = ["trie.build_double_array", "automaton.failure_links",
                  "automaton.candidate_lists", "best_path.chunk_bounds",
                  "best_path.segment_chunks", "text_io.format_id_lines"]


def signatures_of(kernels: list[str], pieces: list[bytes] | None = None
                  ) -> list[tuple[str, str]]:
    """``(kernel, argument types)`` of ``kernels`` as the callers pass them; ``pieces``
    (a model's) give the types of the automaton's candidate lists."""
    if pieces is not None:
        import numpy as np

        from ..trie import unsigned_type

        def code(largest: int) -> str:
            return np.dtype(unsigned_type(largest)).str[1:]

        types = {"len": code(max(map(len, pieces), default=1)), "id": code(len(pieces) + 3)}
    out = []
    for kernel in kernels:
        signature = SIGNATURES[kernel][0]
        if "{" in signature:
            if pieces is None:
                continue  # which specialization depends on the model
            signature = signature.format(**types)
        out.append((kernel, signature))
    return out


def numba_types(args: str) -> tuple:
    """The numba types of an argument string of SIGNATURES."""
    import numpy as np
    from numba import from_dtype, types

    def one(text: str):
        text = text.strip()
        if text == "bytes":
            return types.Bytes(types.uint8, 1, "C", readonly=True)
        if text == "b1":
            return types.boolean
        code, _, rest = text.partition("[")
        dtype = from_dtype(np.dtype(code))
        if not rest:
            return dtype
        return types.Array(dtype, 1, "C", readonly=rest.endswith("ro"))

    return tuple(one(part) for part in args.split(","))


def dispatcher(kernel: str):
    """The numba dispatcher of ``kernel`` ("module.function" in ``bytepiece._kernels``)."""
    module, _, function = kernel.partition(".")
    return getattr(importlib.import_module(f"bytepiece._kernels.{module}"), function)


def compile_kernels(on_each: Callable[[Compiled], None] | None = None) -> list[Compiled]:
    """Compile every specialization into numba's cache (loading those already there)."""
    done = []
    for kernel, args in specializations():
        function = dispatcher(kernel)
        misses = sum(function.stats.cache_misses.values())
        start = time.perf_counter()
        function.compile(numba_types(args))
        cached = sum(function.stats.cache_misses.values()) == misses
        done.append(Compiled(kernel, args, cached, time.perf_counter() - start))
        if on_each is not None:
            on_each(done[-1])
    return done


def cache_folder() -> str:
    """Where numba keeps the kernels' cache (``NUMBA_CACHE_DIR``, or beside the package)."""
    return dispatcher("automaton.failure_links").stats.cache_path
