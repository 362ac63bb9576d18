"""Phase 3: the byte n-gram language model, written block by block from the kept
n-grams, so that they are never held whole beside the model's tables (at 1 GB of
text, 330 MB of keys and counts beside a 560 MB table).

The model is the tuple ``(unigram, bigram, kv, kv_logp)`` that
``_kernels.lm.best_states`` reads: see ``_kernels.ngrams.add_to_lm``.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

#: n-grams whose logs are taken at once (8 MB of float64)
LOG_BLOCK = 1 << 20


def build_language_model(byte_counts: np.ndarray, blocks: Iterable[tuple], longer: int,
                         total: int, order: int) -> tuple:
    """The model of the 256 single bytes' counts and the kept n-grams of orders >= 2,
    ``blocks`` of (keys uint64 in the count table's packing, counts int64), ``longer``
    of them at most of orders >= 3, over ``total`` bytes of text.

    As the reference: every single byte is completed with count 1 (the order-0
    total growing by one each), and an n-gram's value is log(count) - log(count of
    its prefix), logs taken by numpy in float64.
    """
    from .._kernels import read_only
    from .._kernels.ngrams import LM_LOAD, add_to_lm, condition_lm

    byte_counts = np.array(byte_counts, np.int64)
    missing = byte_counts == 0
    byte_counts[missing] = 1
    total = int(total) + int(missing.sum())
    unigram = np.log(byte_counts.astype(np.float64))
    bigram = np.full(65536, -np.inf)
    # at most LM_LOAD full: a slot count of any size (``lm_slot``), not a power of two;
    # np.zeros maps zeroed pages, touched only as pairs are written
    kv = np.zeros(2 * max(1024, int(longer / LM_LOAD) + 1), np.uint64)
    for keys, counts in blocks:
        for i in range(0, len(keys), LOG_BLOCK):
            part = slice(i, i + LOG_BLOCK)
            add_to_lm(kv, bigram, read_only(keys[part]),
                      read_only(np.log(counts[part].astype(np.float64))))
    condition_lm(unigram, bigram, kv, float(np.log(np.float64(total))), order)
    return unigram, bigram, kv, kv.view(np.float64)


def orders_above_two(keys: np.ndarray) -> int:
    """How many of ``keys`` (the count table's packing) are n-grams of orders >= 3."""
    return int(np.count_nonzero((keys >> np.uint64(56)) >= 3))
