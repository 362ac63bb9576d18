"""Encoding a few lines without numpy: how ``echo hello | bytepiece encode`` starts in
a few tens of milliseconds.

Importing numpy alone takes about half of such a run. A model that is in the model
cache (``cache``) has its trie there, in an ``.npz`` file: here the four arrays the
plain-Python segmenter walks (``small``) are read from it as memoryviews, and the
ids are those of every other path. When the model is not cached yet, or its entry
does not read back as expected, ``trie_tables`` gives None and the caller takes the
usual path (which builds the entry).
"""

from __future__ import annotations

import re
import sys
import zipfile

from .errors import BytePieceError
from .model_file import entry_path, read_model_file
from .small import segment_lists

#: numpy's type codes of the arrays read here, and the memoryview formats of them.
_FORMATS = {"<u4": "I", "<i4": "i", "<f8": "d"}
_HEADER = re.compile(r"'descr':\s*'([^']+)'.*'shape':\s*\((\d+),\)", re.S)


class TrieTables:
    """The trie of a cached model as ``small`` walks it (see ``trie.PieceTrie``)."""

    def __init__(self, nodes: memoryview, value: memoryview, logp: memoryview,
                 pair: memoryview):
        self.nodes, self.value, self.logp, self.pair = nodes, value, logp, pair

    def encode_lines(self, data: bytes, ends: list[int]) -> list[list[int]]:
        """The ids of each text of ``data`` (NFC UTF-8) ending at ``ends``.

        Raises IndexError if the entry was damaged in a way the checks did not see."""
        ids, token_ends = segment_lists(data, ends, True, self.nodes, self.value, self.logp,
                                        self.pair)
        out, start = [], 0
        for end in token_ends:
            out.append(ids[start:end])
            start = end
        return out


def trie_tables(model: str) -> TrieTables | None:
    """The cached trie of the model file ``model``; None when it is not in the cache (or
    the machine is not little-endian, or the entry is not as written)."""
    if sys.byteorder != "little":
        return None
    try:
        entry = entry_path(read_model_file(model))
    except BytePieceError:
        return None  # the usual path says what is wrong with the file
    if entry is None:
        return None
    try:
        with zipfile.ZipFile(entry) as archive:
            nodes, value, logp, pair = (_array(archive, name)
                                        for name in ("nodes", "value", "logp", "pair"))
    except (OSError, KeyError, ValueError, TypeError, zipfile.BadZipFile):
        return None
    slots = len(value)
    if len(nodes) != 2 * slots or len(logp) != slots or len(pair) != 1 << 16 or slots < 257:
        return None
    return TrieTables(nodes, value, logp, pair)


def _array(archive: zipfile.ZipFile, name: str) -> memoryview:
    """One 1-D array of an ``.npz`` archive, as a memoryview of its elements."""
    raw = archive.read(name + ".npy")
    if raw[:6] != b"\x93NUMPY" or raw[6] not in (1, 2, 3):
        raise ValueError(f"{name}: not a .npy array")
    size = 2 if raw[6] == 1 else 4
    start = 8 + size + int.from_bytes(raw[8:8 + size], "little")
    match = _HEADER.search(raw[8 + size:start].decode("latin-1"))
    if match is None or match.group(1) not in _FORMATS:
        raise ValueError(f"{name}: not a 1-D array of the expected types")
    view = memoryview(raw)[start:].cast(_FORMATS[match.group(1)])
    if len(view) != int(match.group(2)):
        raise ValueError(f"{name}: {len(view)} elements, not {match.group(2)}")
    return view
