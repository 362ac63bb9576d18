"""The prefetch hint: no effect on results, and present in the compiled code."""

from __future__ import annotations

import numba
import numpy as np

from bytepiece._kernels.hints import prefetch


@numba.njit
def _sum_prefetching(a, ahead):
    total = 0
    for i in range(a.shape[0]):
        prefetch(a, i + ahead)  # past the end near the end: a hint never faults
        total += a[i]
    return total


def test_prefetching_changes_no_result_and_reaches_the_compiled_code():
    a = np.arange(1000, dtype=np.uint64) * np.uint64(3)
    for ahead in (0, 4, 5000):
        assert _sum_prefetching(a, ahead) == int(a.sum())
    ir = _sum_prefetching.inspect_llvm(_sum_prefetching.signatures[0])
    assert "llvm.prefetch" in ir

