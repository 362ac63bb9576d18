"""numba kernels: plain functions over numpy arrays and scalars, nothing else.

This package is the only place that imports numba, so importing :mod:`bytepiece`
stays cheap until a kernel is actually needed.
"""


def read_only(array):
    """A read-only view of ``array``: what callers pass for arrays a kernel only reads.

    numba compiles one specialization per writability of each array argument, so an
    argument that comes both from bytes (read-only) and from numpy (writable) is
    always passed read-only: one compile instead of two (see ``precompile``).
    """
    view = array.view()
    view.flags.writeable = False
    return view
