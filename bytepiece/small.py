"""Best-path segmentation of small inputs in plain Python, before numba is loaded.

Importing numba and loading the first cached kernel costs about 0.4 s, far more
than segmenting a few kilobytes in Python takes. So a Tokenizer answers small
inputs here until its kernel is loaded for a large one; ``echo hello |
bytepiece encode`` then never imports numba. The algorithm is the trie-walking
kernel's (``_kernels.viterbi._best_path_chunk``), step for step, with the same
float64 sums and the same tie rule, so the ids are identical to it and to
``_kernels.best_path``; the tests hold them to that on arbitrary text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is not imported here: ``light`` runs without it
    import numpy as np

#: Bytes a Tokenizer segments in plain Python (here) before it loads its numba
#: kernel: about 50 ms of Python against 0.4 s to load numba. A process that encodes a
#: few lines never imports numba; one that encodes text call by call moves on to the
#: kernel (about 7x faster per call) once it has spent that much. (Here, not in
#: ``tokenizer``, so that the CLI reads it without importing numpy.)
SMALL_BUDGET = 1 << 16
#: Inputs up to this many bytes are segmented here while the kernel is not loaded:
#: about 15 ms of Python, against ~0.4 s of numba start-up.
SMALL_INPUT = 1 << 13
_NEWLINE = 10
_NO_NODE = 0xFFFFFFFF
_MINUS_INF = float("-inf")


def segment(buf: np.ndarray, text_ends: np.ndarray, split_lines: bool, nodes: np.ndarray,
            value: np.ndarray, logp: np.ndarray, pair: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """``_kernels.viterbi.segment`` with ``alpha < 0``: (ids int32, token_ends int64)."""
    import numpy as np

    # memoryviews index to Python ints and floats without making numpy scalars
    ids, token_ends = segment_lists(buf.tobytes(), text_ends.tolist(), split_lines,
                                    *(memoryview(a) for a in (nodes, value, logp, pair)))
    return np.array(ids, np.int32), np.array(token_ends, np.int64)


def segment_lists(data: bytes, text_ends: list[int], split_lines: bool, nodes, value, logp,
                  pair) -> tuple[list[int], list[int]]:
    """``segment`` on bytes and lists, the trie's arrays as memoryviews (or lists): the
    ids, and the number of ids at the end of each text."""
    ids: list[int] = []
    token_ends = []
    start = 0
    for end in text_ends:
        c0 = start
        while c0 < end:
            c1 = end
            if split_lines:
                newline = data.find(b"\n", c0, end)
                if newline >= 0:
                    c1 = newline
                    while c1 < end and data[c1] == _NEWLINE:
                        c1 += 1
            _best_path(data, c0, c1, nodes, value, logp, pair, ids)
            c0 = c1
        token_ends.append(len(ids))
        start = end
    return ids, token_ends


def _best_path(data, c0, c1, nodes, value, logp, pair, out):
    """Append the ids of the best segmentation of data[c0:c1] to ``out``."""
    n = c1 - c0
    scores = [0.0] + [_MINUS_INF] * n
    routes = [0] * (n + 1)
    route_nodes = [0] * (n + 1)
    root_base = nodes[0]
    for s in range(n):
        start_score = scores[s]
        p = c0 + s
        c = data[p]
        node = root_base + c
        score = start_score + logp[node]
        if score > scores[s + 1]:
            scores[s + 1], routes[s + 1], route_nodes[s + 1] = score, s, node
        p += 1
        if p >= c1:
            continue
        node = pair[(c << 8) | data[p]]
        if node == _NO_NODE:
            continue
        p += 1
        while True:
            lp = logp[node]
            if lp <= 0.0:
                e = p - c0
                score = start_score + lp
                if score > scores[e]:
                    scores[e], routes[e], route_nodes[e] = score, s, node
            if p >= c1:
                break
            nxt = nodes[2 * node] + data[p]
            if nodes[2 * nxt + 1] != node:
                break
            node = nxt
            p += 1
    path = []
    e = n
    while e > 0:
        path.append(value[route_nodes[e]])
        e = routes[e]
    out.extend(reversed(path))
