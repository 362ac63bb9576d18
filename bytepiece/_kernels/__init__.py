"""numba kernels: plain functions over numpy arrays and scalars, nothing else.

This package is the only place that imports numba, so importing :mod:`bytepiece`
stays cheap until a kernel is actually needed.
"""
