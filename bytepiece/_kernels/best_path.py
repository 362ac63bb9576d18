"""Best-path (Viterbi) segmentation through the Aho-Corasick automaton of the pieces.

Two passes per block of chunks (256 KB: smaller blocks measured slower). First
the automaton reads the block in eight lanes at once (eight runs of whole
chunks stepped in lockstep, so the CPU overlaps their dependent trie loads);
the candidate list of each byte's state is kept. Then a "pull" dynamic
programme takes each end position's candidate pieces from that list (longest
first, scanned in pairs without data-dependent branches) and keeps the best
score. This does what ``viterbi.segment`` does with ``alpha < 0``, 1.5-3x as
fast (Chinese to English text): about 1.6 automaton moves per byte instead of
a trie walk from every start.

Chunks need no automaton reset: a candidate that starts before its chunk reads
a score from a guard band of -inf below the chunk's first position, so it
never wins (the single byte, the last candidate, always has a finite score).
Ties go to the longer piece, as in BytePiece 0.6.3: a candidate replaces the
best so far only when strictly better, in the lists' longest-first order.

Indices are unsigned (``np.uint64``), as in ``viterbi``: numba's wrap-around
code for negative signed indices would slow every load.
"""

import numpy as np

from ._jit import inner, kernel
from .layout import PAIR_BITS
from .viterbi import chunk_end

#: Bytes of whole chunks the automaton reads before the scores pass runs.
BLOCK = 1 << 18
_LANES = 8


@kernel
def chunk_bounds(buf, text_ends, split_lines):
    """(chunk_ends, text_chunks): the end of every chunk, and per text the number
    of chunks up to its end. A chunk is a text, or with ``split_lines`` a line
    with its run of newlines (``.*\\n+|.+``); empty texts have none."""
    n_texts = text_ends.shape[0]
    guess = n_texts + buf.shape[0] // 32
    ends = np.empty(guess if guess > 16 else 16, np.int64)  # not max(): one compile less
    text_chunks = np.empty(n_texts, np.int64)
    k = 0
    t0 = np.int64(0)  # not the literal 0: numba would compile chunk_end for it too
    for t in range(n_texts):
        t1 = text_ends[t]
        c0 = t0
        while c0 < t1:
            c1 = chunk_end(buf, c0, t1, split_lines)
            if k == ends.shape[0]:
                grown = np.empty(2 * k, np.int64)
                for j in range(k):  # not grown[:k] = ends: see _kernels.trie._grow
                    grown[j] = ends[j]
                ends = grown
            ends[k] = c1
            k += 1
            c0 = c1
        text_chunks[t] = k
        t0 = t1
    return ends[:k], text_chunks


@inner
def _advance(buf, p, q, lo, nodes, fail, cand_se, lists):
    """One automaton move: take byte buf[p] from state q when q has that child,
    else follow q's failure link. Returns (p, q) after it; lists[p - lo] is set
    to the new state's candidate list (its ``cand_se``).

    Written as arithmetic on a mask, not a branch or a select (which LLVM turns
    into a branch): whether the child exists is unpredictable, and the fall-back
    link is in a cache line already loaded.
    """
    one = np.uint64(1)
    two = np.uint64(2)
    child = np.uint64(nodes[two * q]) + np.uint64(buf[p])
    back = np.uint64(fail[q])
    took = np.uint64(np.uint64(nodes[two * child + one]) == q)
    q = back ^ ((child ^ back) & (np.uint64(0) - took))
    lists[p - lo] = cand_se[q]
    return p + took, q


@inner
def _finish_lane(buf, p, end, q, lo, nodes, fail, cand_se, lists):
    """The rest of one lane, alone: from position p in state q up to ``end``."""
    while p < end:
        p, q = _advance(buf, p, q, lo, nodes, fail, cand_se, lists)


@inner
def _read_lanes(buf, cuts, lo, nodes, fail, cand_se, lists):
    """lists[p - lo] = the candidate list (``cand_se``) of the automaton's state after
    buf[p], for p in cuts[0]..cuts[8]: read here, where the load is off the
    critical path, it spares the scores pass a dependent load (3-7% faster).

    Lane i reads cuts[i]..cuts[i + 1] from the root (each cut is a chunk
    start). The eight lanes move together until one is done, so the CPU
    overlaps their dependent loads (eight lanes measured 5-10% faster than
    four); then each finishes alone. Written out lane by lane: numba keeps
    scalars in registers, not arrays.
    """
    ulo = np.uint64(lo)
    p0 = np.uint64(cuts[0])
    p1 = np.uint64(cuts[1])
    p2 = np.uint64(cuts[2])
    p3 = np.uint64(cuts[3])
    p4 = np.uint64(cuts[4])
    p5 = np.uint64(cuts[5])
    p6 = np.uint64(cuts[6])
    p7 = np.uint64(cuts[7])
    e0 = np.uint64(cuts[1])
    e1 = np.uint64(cuts[2])
    e2 = np.uint64(cuts[3])
    e3 = np.uint64(cuts[4])
    e4 = np.uint64(cuts[5])
    e5 = np.uint64(cuts[6])
    e6 = np.uint64(cuts[7])
    e7 = np.uint64(cuts[8])
    q0 = q1 = q2 = q3 = q4 = q5 = q6 = q7 = np.uint64(0)
    while (p0 < e0 and p1 < e1 and p2 < e2 and p3 < e3 and p4 < e4 and p5 < e5
           and p6 < e6 and p7 < e7):
        p0, q0 = _advance(buf, p0, q0, ulo, nodes, fail, cand_se, lists)
        p1, q1 = _advance(buf, p1, q1, ulo, nodes, fail, cand_se, lists)
        p2, q2 = _advance(buf, p2, q2, ulo, nodes, fail, cand_se, lists)
        p3, q3 = _advance(buf, p3, q3, ulo, nodes, fail, cand_se, lists)
        p4, q4 = _advance(buf, p4, q4, ulo, nodes, fail, cand_se, lists)
        p5, q5 = _advance(buf, p5, q5, ulo, nodes, fail, cand_se, lists)
        p6, q6 = _advance(buf, p6, q6, ulo, nodes, fail, cand_se, lists)
        p7, q7 = _advance(buf, p7, q7, ulo, nodes, fail, cand_se, lists)
    _finish_lane(buf, p0, e0, q0, ulo, nodes, fail, cand_se, lists)
    _finish_lane(buf, p1, e1, q1, ulo, nodes, fail, cand_se, lists)
    _finish_lane(buf, p2, e2, q2, ulo, nodes, fail, cand_se, lists)
    _finish_lane(buf, p3, e3, q3, ulo, nodes, fail, cand_se, lists)
    _finish_lane(buf, p4, e4, q4, ulo, nodes, fail, cand_se, lists)
    _finish_lane(buf, p5, e5, q5, ulo, nodes, fail, cand_se, lists)
    _finish_lane(buf, p6, e6, q6, ulo, nodes, fail, cand_se, lists)
    _finish_lane(buf, p7, e7, q7, ulo, nodes, fail, cand_se, lists)


@inner
def _best_chunk(buf, c0, lists, s0, n, cand_len, id_logp, cand_id, guard,
                scores, routes, sparse):
    """Fill scores/routes for the chunk buf[c0:c0 + n], whose candidate lists are
    lists[s0:s0 + n].

    Position j of the chunk is scores[guard + j]; routes[guard + j] is the
    winning piece ending there as ``id << 32 | length``. The single byte is
    scored last (it is the shortest candidate) from the previous score kept in
    a register: that addition is the loop's critical path, the other
    candidates read older scores. Winners are tracked as entry numbers, and
    the token loaded once at the end: LLVM turns a choice between loaded
    values into a branch, which the unpredictable winner would mispredict.
    ``sparse``: see ``_mostly_bytes``.
    """
    one = np.uint64(1)
    two = np.uint64(2)
    thirty_two = np.uint64(32)
    shift = np.uint64(PAIR_BITS)
    mask = np.uint64((1 << PAIR_BITS) - 1)
    byte_entry = np.uint64(cand_len.shape[0] - 256)
    g = np.uint64(guard)
    prev = 0.0
    scores[g] = prev
    e = g + one
    end = g + np.uint64(n)
    p = np.uint64(s0)
    b = np.uint64(c0)
    while e <= end:
        se = lists[p]
        k = se >> shift
        pairs = se & mask
        byte_k = byte_entry + np.uint64(buf[b])
        if sparse and pairs == 0:
            # only the single byte ends here: no comparison on the critical path
            prev += id_logp[cand_id[byte_k]]
            scores[e] = prev
            routes[e] = (np.uint64(cand_id[byte_k]) << thirty_two) | one
            e += one
            p += one
            b += one
            continue
        # the first pair (the filler pair when the list is empty), then the rest
        x = scores[e - np.uint64(cand_len[k])] + id_logp[cand_id[k]]
        y = scores[e - np.uint64(cand_len[k + one])] + id_logp[cand_id[k + one]]
        first = x >= y
        best = x if first else y
        bk = k if first else k + one
        while pairs > one:
            k += two
            pairs -= one
            x = scores[e - np.uint64(cand_len[k])] + id_logp[cand_id[k]]
            y = scores[e - np.uint64(cand_len[k + one])] + id_logp[cand_id[k + one]]
            first = x >= y
            pair_best = x if first else y
            pair_k = k if first else k + one
            better = pair_best > best
            best = pair_best if better else best
            bk = pair_k if better else bk
        x = prev + id_logp[cand_id[byte_k]]
        better = x > best
        prev = x if better else best
        scores[e] = prev
        k = byte_k if better else bk
        routes[e] = (np.uint64(cand_id[k]) << thirty_two) | np.uint64(cand_len[k])
        e += one
        p += one
        b += one


@inner
def _mostly_bytes(lists, n):
    """Whether most of the first n positions (one in 16 sampled) end no piece longer
    than a byte (their candidate list is empty): true of Chinese text (inside a
    character), false of English.

    The scores pass then tests for an empty list rather than scoring the filler
    pair, and adds the single byte's score without a comparison: a branch, but
    a well-predicted one there (zh 15% faster; en, code and mixed text lose
    1-3% with it, so they keep the filler).
    """
    mask = np.uint64((1 << PAIR_BITS) - 1)
    empty = 0
    sampled = 0
    for i in range(0, n, 16):
        empty += 1 if (lists[i] & mask) == 0 else 0
        sampled += 1
    return 2 * empty > sampled


@kernel
def segment_best(buf, text_ends, split_lines, nodes, fail, cand_se, cand_len, id_logp,
                 cand_id):
    """Best segmentation of every text of ``buf``: the same result as
    ``viterbi.segment`` with ``alpha < 0``.

    buf: uint8[n], the texts back to back; text_ends: int64 end offsets. The
    automaton: ``nodes`` (the trie's base/check pairs) and ``fail`` links, per
    state the candidate lists of ``automaton.candidate_lists`` and the score of
    each id, ``id_logp`` (see ``PieceTrie``). Returns ``(ids, token_ends)``:
    int32 ids in order and int64 cumulative token counts at each text's end.

    ``chunk_bounds`` then ``segment_chunks``; callers in Python call those two
    (two kernels, which two processes can compile at once: see ``prefetch``).
    """
    chunk_ends, text_chunks = chunk_bounds(buf, text_ends, split_lines)
    return segment_chunks(buf, chunk_ends, text_chunks, nodes, fail, cand_se, cand_len,
                          id_logp, cand_id)


@kernel
def segment_chunks(buf, chunk_ends, text_chunks, nodes, fail, cand_se, cand_len, id_logp,
                   cand_id):
    """``segment_best`` of the texts of ``buf`` split into chunks by ``chunk_bounds``
    (``chunk_ends, text_chunks``): ``(ids, token_ends)``."""
    zero = np.uint64(0)
    n_texts = text_chunks.shape[0]
    ids = np.empty(buf.shape[0], np.int32)
    token_ends = np.empty(n_texts, np.int64)
    n_chunks = chunk_ends.shape[0]
    tokens_after = np.empty(n_chunks, np.int64)
    guard = np.int64(cand_len[0])  # the fillers' length: the longest piece's
    cap = 256
    # np.full, not np.empty and a loop as elsewhere: that made Chinese text 10-15% slower
    scores = np.full(guard + cap + 1, -np.inf)
    routes = np.empty(guard + cap + 1, np.uint64)
    # conditionals, not min and max: each of those is one more function to compile
    lists = np.empty(BLOCK if buf.shape[0] >= BLOCK else buf.shape[0] + 1, np.uint64)
    cuts = np.empty(_LANES + 1, np.int64)
    out = 0
    i = 0
    while i < n_chunks:
        # a block: whole chunks i..j-1 of at least BLOCK bytes (or the rest)
        lo = chunk_ends[i - 1] if i > 0 else 0
        j = i + 1
        while j < n_chunks and chunk_ends[j - 1] - lo < BLOCK:
            j += 1
        hi = chunk_ends[j - 1]
        if hi - lo > lists.shape[0]:
            lists = np.empty(hi - lo, np.uint64)
        # lane cuts: the first chunk start at or past each eighth of the block
        cuts[0] = lo
        c = i
        for lane in range(1, _LANES):
            target = lo + (hi - lo) * lane // _LANES
            while c < j - 1 and chunk_ends[c] < target:
                c += 1
            cut = chunk_ends[c] if chunk_ends[c] < hi else hi
            cuts[lane] = cut if cut > cuts[lane - 1] else cuts[lane - 1]
        cuts[_LANES] = hi
        _read_lanes(buf, cuts, lo, nodes, fail, cand_se, lists)
        sparse = _mostly_bytes(lists, hi - lo)
        for c in range(i, j):
            c0 = chunk_ends[c - 1] if c > 0 else 0
            n = chunk_ends[c] - c0
            if n + 1 > cap:
                cap = n + 1 if n + 1 > 2 * cap else 2 * cap
                scores = np.full(guard + cap + 1, -np.inf)
                routes = np.empty(guard + cap + 1, np.uint64)
            _best_chunk(buf, c0, lists, c0 - lo, n, cand_len, id_logp, cand_id,
                        guard, scores, routes, sparse)
            # follow the back-pointers, writing ids backwards from out + n, then
            # move them down to out (one pass over the dependent loads)
            g = np.uint64(guard)
            w = out + n
            e = np.uint64(n)
            while e > zero:
                w -= 1
                r = routes[g + e]
                ids[w] = np.int32(r >> np.uint64(32))
                e -= r & np.uint64(0xFFFFFFFF)
            count = out + n - w
            for k in range(count):
                ids[out + k] = ids[w + k]
            out += count
            tokens_after[c] = out
        i = j
    for t in range(n_texts):
        token_ends[t] = tokens_after[text_chunks[t] - 1] if text_chunks[t] > 0 else 0
    return ids[:out], token_ends


@kernel
def segment_text(data, split_lines, nodes, fail, cand_se, cand_len, id_logp, cand_id):
    """int32 ids of one text given as ``bytes``: ``segment_best`` of a single text.

    For one short text per call (``Tokenizer.encode``), where building the
    buffer and end arrays in Python cost as much as segmenting it.
    """
    buf = np.frombuffer(data, np.uint8)
    text_ends = np.empty(1, np.int64)
    text_ends[0] = buf.shape[0]
    chunk_ends, text_chunks = chunk_bounds(buf, text_ends, split_lines)
    ids, _ = segment_chunks(buf, chunk_ends, text_chunks, nodes, fail, cand_se, cand_len,
                            id_logp, cand_id)
    return ids
