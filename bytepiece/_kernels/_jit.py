"""The one jit decorator every kernel uses, so compile flags live in one place.

``cache=True`` keeps compile cost out of users' way (compiled code is stored on
disk beside the module, or under ``NUMBA_CACHE_DIR``); ``nogil=True`` lets the
Python API run kernels on several threads. ``NUMBA_DISABLE_JIT=1`` turns every
kernel into plain Python for debugging and coverage.
"""

import numba

kernel = numba.njit(cache=True, nogil=True)
