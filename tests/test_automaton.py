"""The Aho-Corasick automaton and the best-path kernel that reads text through it,
against pure-Python definitions and the trie-walking kernel."""

from __future__ import annotations

import re

import numba
import numpy as np
from hypothesis import given, settings, strategies as st

import reference
from bytepiece._kernels.layout import PAIR_BITS
from bytepiece._kernels.best_path import (BLOCK, _mostly_bytes, _read_lanes, chunk_bounds,
                                          segment_best)
from bytepiece._kernels.viterbi import segment
from bytepiece.trie import PieceTrie

ALPHABET = b"ab\n\xc3"
SINGLES = [bytes([b]) for b in range(256)]
pieces_st = st.dictionaries(
    st.binary(min_size=2, max_size=6).map(lambda b: bytes(ALPHABET[x % len(ALPHABET)] for x in b)),
    st.sampled_from([1, 2, 3, 5, 8]),  # few distinct counts: many exact ties
    max_size=30)
text_st = st.binary(max_size=60).map(lambda b: bytes(ALPHABET[x % len(ALPHABET)] for x in b))


def _build(counts: dict[bytes, int]) -> tuple[PieceTrie, list[bytes], dict[bytes, float]]:
    full = {p: 1 for p in SINGLES}
    full.update(counts)
    pieces = list(full)
    logp = reference.log_probs(full)
    trie = PieceTrie.build(pieces, np.arange(len(pieces), dtype=np.int32) + 3,
                           np.array([logp[p] for p in pieces]))
    return trie, pieces, logp


def _node_strings(trie: PieceTrie) -> dict[int, bytes]:
    """Every trie node's slot and the string leading to it, found by walking from the root."""
    nodes = trie.nodes
    out = {0: b""}
    todo = [0]
    while todo:
        q = todo.pop()
        for c in range(256):
            v = int(nodes[2 * q]) + c
            if v < trie.value.shape[0] and v != 0 and int(nodes[2 * v + 1]) == q:
                out[v] = out[q] + bytes([c])
                todo.append(v)
    return out


def _entry(trie: PieceTrie, k: int) -> tuple[int, float, int]:
    """(length, log-probability, id) of candidate entry k."""
    i = int(trie.cand_id[k])
    return int(trie.cand_len[k]), float(trie.id_logp[i]), i


@given(pieces_st)
@settings(max_examples=150, deadline=None)
def test_failure_links_and_candidate_lists(counts):
    trie, pieces, logp = _build(counts)
    strings = _node_strings(trie)
    slot = {s: v for v, s in strings.items()}
    piece_id = {p: i + 3 for i, p in enumerate(pieces)}
    mask = (1 << PAIR_BITS) - 1
    for v, s in strings.items():
        if v == 0:
            continue
        # the link: the longest proper suffix of the node's string that is a node
        longest = next(s[i:] for i in range(1, len(s) + 1) if s[i:] in slot)
        assert int(trie.fail[v]) == slot[longest]
        # the list: the pieces of two bytes or more ending the string, longest first
        want = [(len(s) - i, logp[s[i:]], piece_id[s[i:]])
                for i in range(len(s) - 1) if s[i:] in logp]
        se = int(trie.cand_se[v])
        first, pairs = se >> PAIR_BITS, se & mask
        assert pairs == (len(want) + 1) // 2
        if not want:
            first = 0  # the filler pair
        got = [_entry(trie, k) for k in range(first, first + 2 * max(pairs, 1))]
        assert got[:len(want)] == want
        assert all(lp == -np.inf for _, lp, _ in got[len(want):])  # fillers never win
    # the single bytes close the arrays, in byte order
    assert [_entry(trie, len(trie.cand_len) - 256 + c) for c in range(256)] == \
        [(1, logp[p], piece_id[p]) for p in SINGLES]


def _chunks(data: bytes, split_lines: bool) -> list[bytes]:
    """A text's chunks: lines with their runs of newlines, or the whole text."""
    if not split_lines:
        return [data] if data else []
    return re.findall(rb".*\n+|.+", data)


@given(pieces_st, st.lists(text_st, max_size=6), st.booleans())
@settings(max_examples=300, deadline=None)
def test_best_path_matches_reference(counts, texts, split_lines):
    trie, pieces, logp = _build(counts)
    buf = np.frombuffer(b"".join(texts), np.uint8)
    ends = np.cumsum([len(t) for t in texts], dtype=np.int64)
    ids, token_ends = segment_best(buf, ends, split_lines, *trie.automaton)
    want = []
    want_ends = []
    for text in texts:
        for chunk in _chunks(text, split_lines):
            want += [pieces.index(p) + 3 for p in reference.best_segmentation(logp, chunk)]
        want_ends.append(len(want))
    assert ids.tolist() == want
    assert token_ends.tolist() == want_ends


def _walk(trie: PieceTrie, buf: np.ndarray, ends: np.ndarray, split_lines: bool):
    return segment(buf, ends, split_lines, trie.nodes, trie.value, trie.logp, trie.pair, -1.0,
                   np.uint64(0), 0)


def test_blocks_lanes_and_long_chunks_match_the_trie_walk():
    """Inputs of many blocks: four lanes cut at chunk starts, uneven lanes, a chunk
    longer than a block, texts without newlines and empty texts."""
    rng = np.random.default_rng(7)
    words = [b"ab", b"aab", b"ba\xc3", b"\n", b"\n\n", b"b\na", b"a" * 9, b"\xc3\xc3"]
    counts = {w: int(rng.integers(1, 50)) for w in words}
    counts.update({b"a\n": 3, b"\na": 4, b"\n\nb": 2})  # pieces across chunk boundaries
    trie, _, _ = _build(counts)
    parts = [b"".join(rng.choice(words, size=int(rng.integers(0, 40))).tolist())
             for _ in range(12000)]
    parts[100] = b"ab" * (3 * BLOCK)  # one chunk longer than a block
    parts[200] = b""
    parts[4000] = b"\n" * 1000  # one chunk that is all newlines
    buf = np.frombuffer(b"".join(parts), np.uint8)
    assert buf.shape[0] > 6 * BLOCK
    ends = np.cumsum([len(p) for p in parts], dtype=np.int64)
    for split_lines in (True, False):
        got = segment_best(buf, ends, split_lines, *trie.automaton)
        want = _walk(trie, buf, ends, split_lines)
        assert got[0].tolist() == want[0].tolist()
        assert got[1].tolist() == want[1].tolist()


def test_chunk_bounds():
    data = b"ab\n\ncd\nef" + b"" + b"\n\n" + b"x"
    buf = np.frombuffer(data, np.uint8)
    ends = np.array([9, 9, 11, 12], np.int64)  # "ab\n\ncd\nef", "", "\n\n", "x"
    chunk_ends, text_chunks = chunk_bounds(buf, ends, True)
    assert chunk_ends.tolist() == [4, 7, 9, 11, 12]
    assert text_chunks.tolist() == [3, 3, 4, 5]
    chunk_ends, text_chunks = chunk_bounds(buf, ends, False)
    assert chunk_ends.tolist() == [9, 11, 12]
    assert text_chunks.tolist() == [1, 1, 2, 3]


def _best_pieces(counts: dict[bytes, int], data: bytes) -> list[bytes]:
    trie, pieces, logp = _build(counts)
    ids, _ = segment_best(np.frombuffer(data, np.uint8), np.array([len(data)], np.int64), False,
                          *trie.automaton)
    got = [pieces[i - 3] for i in ids.tolist()]
    assert got == reference.best_segmentation(logp, data)
    return got


def test_exact_ties_go_to_the_longer_piece_within_and_across_pairs():
    # "abcd" ends with bcd or cd at exactly equal scores: lp(a) + lp(bcd) == lp(ab) + lp(cd)
    # (equal counts make the two sums the same numbers added in the other order)
    assert _best_pieces({b"ab": 5, b"bcd": 5, b"cd": 1}, b"abcd") == [b"a", b"bcd"]
    # a|bcdef against abc|def, the first and the second pair of the list [bcdef, cdef, def, ef]
    counts = {b"abc": 7, b"bcdef": 7, b"def": 1, b"cdef": 1, b"ef": 1}
    assert _best_pieces(counts, b"abcdef") == [b"a", b"bcdef"]
    # abc|def against abcd|ef, the two halves of the second pair
    counts = {b"abc": 3, b"abcd": 2, b"bcdef": 1, b"cdef": 1, b"def": 2, b"ef": 3}
    assert _best_pieces(counts, b"abcdef") == [b"abc", b"def"]


@numba.njit
def _sparse_after_reading(buf, cuts, lo, nodes, fail, cand_se, lists, n):
    """``_mostly_bytes`` of the lists ``_read_lanes`` fills (both are inner kernels, which
    Python cannot call)."""
    _read_lanes(buf, cuts, lo, nodes, fail, cand_se, lists)
    return _mostly_bytes(lists, n)


def test_both_scoring_modes_match_the_trie_walk():
    """Blocks where most positions end no piece longer than a byte (Chinese-like) take
    the branchy scoring pass, the others the branch-free one: both give the walk's ids."""
    rng = np.random.default_rng(11)
    counts = {bytes([a, b]): int(rng.integers(1, 20)) for a in b"abc" for b in b"abc"}
    counts.update({b"abc": 4, b"\xe4\xb8\xad\xe6\x96\x87": 30, b"\xe4\xb8\xad": 2})
    trie, _, _ = _build(counts)
    latin = rng.choice([b"a", b"b", b"c", b"abc", b"\n"], size=40000).tolist()
    cjk = rng.choice([b"\xe4\xb8\xad\xe6\x96\x87", b"\xe4\xb8\xad", b"\xe5\xad\x97", b"\n"],
                     size=40000).tolist()
    for words, sparse in ((latin, False), (cjk, True)):
        buf = np.frombuffer(b"".join(words), np.uint8)
        ends = np.array([buf.shape[0]], np.int64)
        lists = np.empty(buf.shape[0], np.uint64)
        cuts = np.array([0] * 8 + [buf.shape[0]], np.int64)
        assert _sparse_after_reading(buf, cuts, 0, trie.nodes, trie.fail, trie.cand_se, lists,
                                     buf.shape[0]) == sparse
        got = segment_best(buf, ends, True, *trie.automaton)
        want = _walk(trie, buf, ends, True)
        assert got[0].tolist() == want[0].tolist()
