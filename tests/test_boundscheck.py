"""The kernel tests once more with numba's bounds checks on.

numba does not check indices by default, so an out-of-range index in a kernel is
silent memory corruption; with NUMBA_BOUNDSCHECK=1 it raises IndexError. The
kernels compile afresh into a private cache (most of the time taken), then the
tests that compare every kernel with its reference (segmentation, automaton,
training, long lines) must pass unchanged. The API tests (test_tokenizer.py,
test_compat.py) reach the same kernels and are not rerun. No time limit: the
work is fixed (these tests, their hypothesis examples), and a slow shared machine
must not fail it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import HERE, ROOT


def test_kernel_tests_pass_with_bounds_checks(tmp_path):
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path / "numba"),
               BYTEPIECE_CACHE_DIR=str(tmp_path / "models"))
    tests = [str(HERE / name) for name in ("test_segment.py", "test_automaton.py",
                                           "test_trainer.py", "test_long_lines.py")]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-x", "-k", "not cli", *tests], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_bounds_checks_catch_a_bad_index(tmp_path):
    """The switch works: a kernel indexing past its array raises instead of reading."""
    code = ("import numba, numpy as np\n"
            "@numba.njit\n"
            "def f(a, i):\n    return a[i]\n"
            "try:\n    f(np.zeros(3), 5)\nexcept IndexError:\n    print('caught')\n")
    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300).stdout
    assert out.strip() == "caught"
