"""Memory sizes as people write them, and this process's resident memory.

Training compares the resident memory with its budget to decide how large its
counting tables may grow before they spill (``bytepiece.training.spill``).
"""

from __future__ import annotations

import os
import re
import resource
import sys

from .errors import InputError

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes of a size like ``500M``, ``2G``, ``1.5g``, ``64MiB`` or ``1000000`` (K, M, G,
    T are powers of 1024).

    >>> parse_size("2G"), parse_size("500M"), parse_size("1.5k"), parse_size("123")
    (2147483648, 524288000, 1536, 123)
    """
    match = _SIZE.fullmatch(str(text))
    if match is None:
        raise InputError(f"{text!r} is not a size: use a number of bytes with an optional "
                         f"unit K, M, G or T, like 500M or 2G")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def format_size(n: int) -> str:
    """``n`` bytes, readable: ``format_size(3 << 20) == '3 MB'`` (units of 1024)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{n // 1024} kB"


def resident_bytes() -> int:
    """This process's resident memory now (its peak so far where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_resident_bytes()


def peak_resident_bytes() -> int:
    """The largest resident memory this process has had, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


#: mallopt's parameter for the size from which glibc maps each block on its own
_M_MMAP_THRESHOLD = -3


def steady_memory(threshold: int = 1 << 20) -> bool:
    """Give blocks of ``threshold`` bytes or more back to the system as soon as they are
    freed, so that the resident memory is what is in use. Returns whether the setting
    took (glibc only).

    glibc raises its mmap threshold each time a large block is freed (up to 32 MB), so
    later blocks of a few MB come from its heaps, which fragment and keep them: encoding
    3.2 GB into a token array grew from 180 to 370 MB of RSS, and training at 1 GB of
    text held 390 MB that no array used. A threshold set once stays fixed.
    """
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:  # this process's own symbols: ctypes.util.find_library would run ldconfig
        return bool(ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, int(threshold)))
    except (OSError, AttributeError, TypeError):
        return False
