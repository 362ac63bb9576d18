"""A model file's bytes and the path of its entry in the model cache (``cache``).

Kept apart from ``model`` and ``cache``, without numpy, because the start-up path
(``light``) needs only these.
"""

from __future__ import annotations

import hashlib
import os

from .errors import ModelError

#: Refuse model files larger than this before reading them (an 80k-piece model is ~6 MB).
MAX_MODEL_BYTES = 512 * 1024 * 1024
#: Bump when the layout of the cached arrays or the trie changes.
FORMAT = "4"


def read_model_file(source: str) -> bytes:
    """The bytes of a model file, refused before reading when it is too large to be one.

    Never reads more than MAX_MODEL_BYTES + 1 bytes, so a device or pipe that
    never ends (``-m /dev/zero``) is refused too instead of filling the memory.
    """
    try:
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_MODEL_BYTES:
                raise ModelError(f"model {source}: file is {size} bytes, larger than any model "
                                 f"({MAX_MODEL_BYTES} bytes at most)")
            data = f.read(MAX_MODEL_BYTES + 1)
    except OSError as e:
        raise ModelError(f"model {source}: cannot read: {e.strerror or e}") from None
    if len(data) > MAX_MODEL_BYTES:
        raise ModelError(f"model {source}: longer than any model (more than "
                         f"{MAX_MODEL_BYTES} bytes)")
    return data


def cache_dir() -> str | None:
    """The cache folder, or None when caching is turned off."""
    folder = os.environ.get("BYTEPIECE_CACHE_DIR")
    if folder is not None:
        return folder or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bytepiece")


def entry_path(raw: bytes) -> str | None:
    """The cache entry of a model file's bytes (None when caching is turned off)."""
    folder = cache_dir()
    if folder is None:
        return None
    key = hashlib.blake2b(raw, digest_size=20, person=b"bytepiece" + FORMAT.encode())
    return os.path.join(folder, key.hexdigest() + ".npz")
