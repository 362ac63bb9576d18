"""A disk cache of compiled models, keyed by the hash of the model file's bytes.

Parsing and validating the JSON and building the trie of an 80k-piece model
takes a few hundred milliseconds; loading the arrays back takes a few. The JSON
file stays the source of truth: any change to it changes the key, and a cache
entry that cannot be read is ignored and rebuilt. ``BYTEPIECE_CACHE_DIR`` sets
the folder (default ``$XDG_CACHE_HOME/bytepiece`` or ``~/.cache/bytepiece``);
setting it to an empty string turns the cache off.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ._kernels.layout import PAIR_BITS
from .model import Model
from .model_file import FORMAT, cache_dir, entry_path, read_model_file  # noqa: F401 (API)
from .trie import PieceTrie, unsigned_type

_TRIE = ("nodes", "value", "logp", "pair", "fail", "cand_se", "cand_len", "cand_id",
         "id_logp")
_FIELDS = _TRIE + ("piece_data", "piece_offsets", "counts", "special_json")


def load_compiled(path: str | os.PathLike) -> tuple[Model, PieceTrie]:
    """The validated model of a file and its trie, from the cache when possible."""
    source = os.fspath(path)
    return load_compiled_bytes(read_model_file(source), source)


def load_compiled_bytes(raw: bytes, source: str) -> tuple[Model, PieceTrie]:
    """``load_compiled`` of a model file's bytes (how a pickled Tokenizer is rebuilt)."""
    entry = entry_path(raw)
    if entry is not None:
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
    if not _safe(arrays):
        return None
    offsets = arrays["piece_offsets"]
    blob = arrays["piece_data"].tobytes()
    n = offsets.shape[0] - 1
    bounds = offsets.tolist()
    pieces = [blob[bounds[i]:bounds[i + 1]] for i in range(n)]
    trie = PieceTrie(**{name: arrays[name] for name in _TRIE})
    try:
        special = json.loads(arrays["special_json"].tobytes())
    except ValueError:
        return None
    if not (isinstance(special, list) and all(isinstance(t, str) and t for t in special)):
        return None
    return Model(pieces, arrays["counts"], source, tuple(special)), trie


def _safe(arrays: dict) -> bool:
    """Whether cached arrays are ones the kernels can walk: the dtypes and shapes they
    were compiled for, and every index they compute inside its array. A damaged
    entry is rebuilt rather than handed to kernels that check no index."""
    types = {"nodes": np.uint32, "value": np.int32, "logp": np.float64, "pair": np.uint32,
             "fail": np.uint32, "cand_se": np.uint64, "id_logp": np.float64,
             # cand_len and cand_id: the narrowest types (see _safe_automaton)
             "piece_data": np.uint8, "piece_offsets": np.int64, "counts": np.int64,
             "special_json": np.uint8}
    if any(arrays[name].dtype != dtype or arrays[name].ndim != 1
           for name, dtype in types.items()):
        return False
    nodes, value, offsets = arrays["nodes"], arrays["value"], arrays["piece_offsets"]
    slots, n = value.shape[0], offsets.shape[0] - 1
    if n < 256 or slots < 257 or nodes.shape[0] != 2 * slots or \
            arrays["logp"].shape[0] != slots or arrays["pair"].shape[0] != 65536 or \
            arrays["counts"].shape[0] != n:
        return False
    pair = arrays["pair"]
    return bool(int(nodes[0::2].max()) + 255 < slots  # a child's slot: base + byte
                and value.min() >= -1 and value.max() < n + 3
                and (pair[pair != 0xFFFFFFFF] < slots).all()
                and offsets[0] == 0 and offsets[-1] == arrays["piece_data"].shape[0]
                and (offsets[1:] >= offsets[:-1]).all()
                and _safe_automaton(arrays, slots, n))


def _safe_automaton(arrays: dict, slots: int, n: int) -> bool:
    """Whether the automaton's links and candidate lists index inside their arrays, and
    every back-pointer the kernel could follow stays inside its chunk (see
    ``_kernels.automaton.candidate_lists`` for the layout)."""
    fail, se, length, ids, id_logp = (arrays[name] for name in ("fail", "cand_se", "cand_len",
                                                                "cand_id", "id_logp"))
    entries = length.shape[0]
    if fail.shape[0] != slots or se.shape[0] != slots or entries < 258 or \
            ids.shape[0] != entries or not 0 < id_logp.shape[0] <= n + 4 or \
            length.ndim != 1 or ids.ndim != 1:
        return False
    offsets = arrays["piece_offsets"]
    longest = int(np.diff(offsets).max()) if offsets.shape[0] > 1 else 0
    first, pairs = se >> np.uint64(PAIR_BITS), se & np.uint64((1 << PAIR_BITS) - 1)
    return bool(length.dtype == unsigned_type(longest)
                and ids.dtype == unsigned_type(id_logp.shape[0] - 1)
                and fail.max() < slots
                and (first + 2 * np.maximum(pairs, 1) <= entries - 256).all()
                and length.min() >= 1 and length[0] == length.max() == longest  # the guard
                and (length[-256:] == 1).all()  # the single bytes
                and ids.max() < id_logp.shape[0]
                and (id_logp <= 0).all()  # no NaN or +inf: -inf fillers never win
                and np.isfinite(id_logp[ids[-256:]]).all())


def _write(entry: str, model: Model, trie: PieceTrie) -> None:
    """Store an entry atomically; a cache that cannot be written is simply not used."""
    offsets = np.zeros(len(model.pieces) + 1, np.int64)
    np.cumsum([len(p) for p in model.pieces], out=offsets[1:])
    try:
        os.makedirs(os.path.dirname(entry), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=os.path.dirname(entry))
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **{name: getattr(trie, name) for name in _TRIE},
                         piece_data=np.frombuffer(b"".join(model.pieces), np.uint8),
                         piece_offsets=offsets, counts=model.counts,
                         special_json=np.frombuffer(
                             json.dumps(list(model.special_tokens)).encode(), np.uint8))
            os.replace(tmp, entry)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass
