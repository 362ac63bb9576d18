"""A disk cache of compiled models, keyed by the hash of the model file's bytes.

Parsing and validating the JSON and building the trie of an 80k-piece model
takes a few hundred milliseconds; loading the arrays back takes a few. The JSON
file stays the source of truth: any change to it changes the key, and a cache
entry that cannot be read is ignored and rebuilt. ``BYTEPIECE_CACHE_DIR`` sets
the folder (default ``$XDG_CACHE_HOME/bytepiece`` or ``~/.cache/bytepiece``);
setting it to an empty string turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import numpy as np

from .model import Model, read_model_file
from .trie import PieceTrie

#: Bump when the layout of the cached arrays or the trie changes.
FORMAT = "2"
_FIELDS = ("nodes", "value", "logp", "pair", "piece_data", "piece_offsets", "counts")


def cache_dir() -> str | None:
    """The cache folder, or None when caching is turned off."""
    folder = os.environ.get("BYTEPIECE_CACHE_DIR")
    if folder is not None:
        return folder or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bytepiece")


def load_compiled(path: str | os.PathLike) -> tuple[Model, PieceTrie]:
    """The validated model of a file and its trie, from the cache when possible."""
    source = os.fspath(path)
    raw = read_model_file(source)
    folder = cache_dir()
    entry = None
    if folder is not None:
        key = hashlib.blake2b(raw, digest_size=20, person=b"bytepiece" + FORMAT.encode())
        entry = os.path.join(folder, key.hexdigest() + ".npz")
        cached = _read(entry, source)
        if cached is not None:
            return cached
    model = Model.from_json(raw, source)
    trie = compile_model(model)
    if entry is not None:
        _write(entry, model, trie)
    return model, trie


def compile_model(model: Model) -> PieceTrie:
    """The trie of a model's pieces, with their ids and log-probabilities."""
    ids = np.arange(3, len(model.pieces) + 3, dtype=np.int32)
    return PieceTrie.build(model.pieces, ids, model.log_probs())


def _read(entry: str, source: str) -> tuple[Model, PieceTrie] | None:
    try:
        with np.load(entry, allow_pickle=False) as data:
            arrays = {name: data[name] for name in _FIELDS}
    except Exception:  # missing, truncated or foreign file: rebuild it
        return None
    offsets = arrays["piece_offsets"]
    blob = arrays["piece_data"].tobytes()
    n = offsets.shape[0] - 1
    if n != arrays["counts"].shape[0] or arrays["pair"].shape != (65536,) or \
            arrays["nodes"].shape[0] != 2 * arrays["value"].shape[0] or \
            arrays["logp"].shape != arrays["value"].shape:
        return None
    bounds = offsets.tolist()
    pieces = [blob[bounds[i]:bounds[i + 1]] for i in range(n)]
    trie = PieceTrie(arrays["nodes"], arrays["value"], arrays["logp"], arrays["pair"])
    return Model(pieces, arrays["counts"], source), trie


def _write(entry: str, model: Model, trie: PieceTrie) -> None:
    """Store an entry atomically; a cache that cannot be written is simply not used."""
    offsets = np.zeros(len(model.pieces) + 1, np.int64)
    np.cumsum([len(p) for p in model.pieces], out=offsets[1:])
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=os.path.dirname(entry))
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, nodes=trie.nodes, value=trie.value, logp=trie.logp, pair=trie.pair,
                         piece_data=np.frombuffer(b"".join(model.pieces), np.uint8),
                         piece_offsets=offsets, counts=model.counts)
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
