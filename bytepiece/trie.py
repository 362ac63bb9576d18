"""Piece tables compiled for the segmentation kernel: a double-array trie with scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PieceTrie:
    """Flat arrays the kernel walks: ``value[slot]`` is the piece's id (or -1) and
    ``logp[slot]`` its log-probability at the slot where the piece ends."""

    base: np.ndarray   # int32
    check: np.ndarray  # int32
    value: np.ndarray  # int32
    logp: np.ndarray   # float64

    @classmethod
    def build(cls, pieces: list[bytes], ids: np.ndarray, logp: np.ndarray) -> "PieceTrie":
        """Compile distinct non-empty ``pieces`` with their ``ids`` and log-probabilities."""
        from ._kernels.trie import build_double_array

        order = sorted(range(len(pieces)), key=pieces.__getitem__)
        ordered = [pieces[i] for i in order]
        data = np.frombuffer(b"".join(ordered), np.uint8)
        offsets = np.zeros(len(ordered) + 1, np.int64)
        np.cumsum([len(p) for p in ordered], out=offsets[1:])
        base, check, index = build_double_array(data, offsets)
        order = np.asarray(order, np.int64)
        terminal = index >= 0
        value = np.full(index.shape[0], -1, np.int32)
        value[terminal] = np.asarray(ids)[order[index[terminal]]]
        slot_logp = np.zeros(index.shape[0], np.float64)
        slot_logp[terminal] = np.asarray(logp, np.float64)[order[index[terminal]]]
        return cls(base, check, value, slot_logp)
