"""The jit decorators every kernel uses, so compile flags live in one place.

``cache=True`` keeps compile cost out of users' way (compiled code is stored on
disk beside the module, or under ``NUMBA_CACHE_DIR``); ``nogil=True`` lets the
Python API run kernels on several threads; ``no_cfunc_wrapper=True`` skips the
C-callable wrapper numba would otherwise compile for every function (nothing here takes
a kernel's address): less to compile on a first run. ``NUMBA_DISABLE_JIT=1`` turns every
kernel into plain Python for debugging and coverage.
"""

import numba

kernel = numba.njit(cache=True, nogil=True, no_cfunc_wrapper=True)
#: For the helpers only other kernels call: no wrapper that would let Python call them,
#: one function less per helper for LLVM to optimize and emit on a first run.
inner = numba.njit(cache=True, nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
