"""Piece tables compiled for the segmentation kernels: a double-array trie with scores,
and the Aho-Corasick automaton over it that the best-path encoder reads text with."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PieceTrie:
    """Flat arrays the kernel walks.

    ``nodes`` interleaves each slot's base and check (uint32 pairs), so one
    cache line serves a trie step; ``value[slot]`` is the id of the piece
    ending at the slot (or -1) and ``logp[slot]`` its log-probability (+inf
    where no piece ends, so the kernel tests terminals without loading
    ``value``); ``pair`` is the node of every 2-byte prefix. Every single byte
    must be a piece: the kernels rely on it.

    The automaton (None when built without it): ``fail`` links per slot, and
    per state the pieces ending there, longest first, in pairs, then the
    single bytes (see ``_kernels.automaton.candidate_lists``): ``cand_se``,
    ``cand_len``, ``cand_id``, and ``id_logp``, the log-probability of each id
    (-inf for ids that are no piece; the last id is the lists' filler). Lengths
    and ids are stored in the narrowest unsigned types that hold them: the
    candidate lists are the kernel's largest arrays, and how much of them stays
    in cache sets its speed (scores by id rather than per entry: 5-10% faster).
    """

    nodes: np.ndarray  # uint32[2 * slots]
    value: np.ndarray  # int32[slots]
    logp: np.ndarray   # float64[slots]
    pair: np.ndarray   # uint32[65536]
    fail: np.ndarray | None = None     # uint32[slots]
    cand_se: np.ndarray | None = None  # uint64[slots]
    cand_len: np.ndarray | None = None  # uint8, uint16 or uint32[entries]
    cand_id: np.ndarray | None = None   # uint16 or uint32[entries]
    id_logp: np.ndarray | None = None   # float64[ids + 1]

    @property
    def automaton(self) -> tuple:
        """The arguments ``best_path.segment_best`` takes after ``split_lines`` (and
        ``segment_chunks`` after the chunks)."""
        return (self.nodes, self.fail, self.cand_se, self.cand_len, self.id_logp,
                self.cand_id)

    @classmethod
    def build(cls, pieces: list[bytes], ids: np.ndarray, logp: np.ndarray,
              automaton: bool = True) -> "PieceTrie":
        """Compile distinct non-empty ``pieces`` with their ``ids`` and log-probabilities
        (and the automaton, unless ``automaton`` is false)."""
        order = sorted(range(len(pieces)), key=pieces.__getitem__)
        ordered = [pieces[i] for i in order]
        data = np.frombuffer(b"".join(ordered), np.uint8)
        ends = np.cumsum([len(p) for p in ordered], dtype=np.int64)
        del ordered
        return cls.from_sorted(data, ends, np.asarray(order, np.int64), ids, logp, automaton)

    @classmethod
    def from_sorted(cls, data: np.ndarray, ends: np.ndarray, order: np.ndarray,
                    ids: np.ndarray, logp: np.ndarray, automaton: bool = True) -> "PieceTrie":
        """``build`` from the pieces already sorted by their bytes: ``data`` uint8 back to
        back, ``ends`` int64 cumulative, the i-th of them being piece ``order[i]`` (whose id
        and log-probability are ``ids[order[i]]`` and ``logp[order[i]]``). The caller
        should hold no other reference to ``data``: it is freed before the arrays are made."""
        from ._kernels import read_only
        from ._kernels.automaton import candidate_lists, failure_links
        from ._kernels.trie import build_double_array

        if np.count_nonzero(np.diff(ends, prepend=0) == 1) != 256:
            raise ValueError("every one of the 256 single bytes must be a piece")
        offsets = np.zeros(len(ends) + 1, np.int64)
        offsets[1:] = ends
        base, check, index = build_double_array(read_only(data), offsets)
        del data, ends, offsets
        nodes = np.empty(2 * base.shape[0], np.uint32)  # free slots' check: 0xFFFFFFFF
        nodes[0::2] = base.view(np.uint32)
        nodes[1::2] = check.view(np.uint32)
        del base, check  # before the arrays below are made: 120 MB at 15M slots
        terminal = np.flatnonzero(index >= 0)
        piece = order[index[terminal]]
        slots = index.shape[0]
        del index  # before the arrays below are made: 225 MB at 56M slots
        value = np.full(slots, -1, np.int32)
        value[terminal] = np.asarray(ids)[piece]
        slot_logp = np.full(slots, np.inf)
        slot_logp[terminal] = np.asarray(logp, np.float64)[piece]
        del terminal, piece
        if not automaton:
            return cls(nodes, value, slot_logp, pair_table(nodes))
        fail, depth, order = failure_links(nodes)
        id_logp = np.full(int(np.max(ids, initial=0)) + 2, -np.inf)  # the last: filler
        id_logp[np.asarray(ids)] = logp
        cand_se, cand_len, cand_id = candidate_lists(nodes, fail, depth, order, slot_logp, value,
                                                     id_logp.shape[0] - 1)
        return cls(nodes, value, slot_logp, pair_table(nodes), fail, cand_se,
                   cand_len.astype(unsigned_type(int(cand_len.max()))),
                   cand_id.astype(unsigned_type(id_logp.shape[0] - 1)), id_logp)


def pair_table(nodes: np.ndarray) -> np.ndarray:
    """uint32[65536]: the node reached from the root by bytes (a, b) at index a*256+b, or
    NO_NODE. In numpy: as a kernel, compiling it took longer than all its runs."""
    from ._kernels.viterbi import NO_NODE

    first = np.int64(nodes[0]) + np.arange(256)
    a = np.flatnonzero(nodes[2 * first + 1] == 0)  # the bytes that are the root's children
    nxt = nodes[2 * first[a]].astype(np.int64)[:, None] + np.arange(256)
    found = nodes[2 * nxt + 1].astype(np.int64) == first[a][:, None]
    pair = np.full((256, 256), NO_NODE, np.uint32)
    pair[a] = np.where(found, nxt, NO_NODE)
    return pair.reshape(-1)


def unsigned_type(largest: int) -> type:
    """The narrowest unsigned integer type (of 8, 16, 32 bits) that holds ``largest``."""
    return next(t for t in (np.uint8, np.uint16, np.uint32) if largest <= np.iinfo(t).max)
