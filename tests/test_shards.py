"""Shards of a corpus and compressed runs: what tasks on a cluster read and exchange.

The shards of a corpus must give exactly its texts, in order, whatever their size;
a compressed run must read back as the blocks written; the parts a map task cuts
its counts into must keep what a merge needs together.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece.corpus import Corpus
from bytepiece.errors import InputError
from bytepiece.training.runs import NGRAMS, PIECES, Block, RunFile, run_bytes, write_run

from conftest import CORPORA


@pytest.mark.parametrize("target", [1, 100, 4096, 1 << 20, 1 << 30])
def test_shards_give_the_corpus_texts(target):
    corpus = Corpus([CORPORA / "zh.txt", CORPORA / "tiny" / "unicode-edge.txt"])
    shards = corpus.shards(target)
    assert [t for s in shards for t in corpus.shard_texts(s)] == list(corpus)
    for s in shards:  # cut right after a newline, as absolute paths
        assert os.path.isabs(s.path)
        if s.start:
            with open(s.path, "rb") as f:
                f.seek(s.start - 1)
                assert f.read(1) == b"\n"
    if target >= 1 << 30:
        assert len(shards) == 2


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40),
                      max_size=30),
       newline_last=st.booleans(), target=st.integers(1, 200))
def test_shards_of_any_text(tmp_path_factory, lines, newline_last, target):
    """Property: for any text file and shard size, the shards' texts are the file's."""
    path = tmp_path_factory.mktemp("shards") / "c.txt"
    text = "\n".join(lines) + ("\n" if newline_last and lines else "")
    path.write_text(text, encoding="utf-8")
    corpus = Corpus([path])
    shards = corpus.shards(target)
    assert [t for s in shards for t in corpus.shard_texts(s)] == list(corpus)
    assert sum(s.nbytes for s in shards) == path.stat().st_size


def test_long_lines_and_jsonl_split_at_lines(tmp_path, monkeypatch):
    import bytepiece.corpus as corpus_module

    monkeypatch.setattr(corpus_module, "BLOCK_BYTES", 256)  # lines longer than a block
    path = tmp_path / "long.txt"
    path.write_text("".join(("αβγ " * (50 * (i % 7) + 1)) + "\n" for i in range(40)))
    corpus = Corpus([path])
    assert [t for s in corpus.shards(700) for t in corpus.shard_texts(s)] == list(corpus)
    jsonl = tmp_path / "docs.jsonl"
    jsonl.write_text("".join(f'{{"text": "doc {i} é"}}\n' for i in range(200)))
    corpus = Corpus([jsonl], jsonl_field="text")
    shards = corpus.shards(300)
    assert len(shards) > 5
    assert [t for s in shards for t in corpus.shard_texts(s)] == list(corpus)


def test_compressed_and_whole_documents_are_whole_shards(tmp_path):
    gz = tmp_path / "a.txt.gz"
    gz.write_bytes(gzip.compress(b"one\ntwo\n" * 1000))
    plain = tmp_path / "b.txt"
    plain.write_text("three\n" * 1000)
    corpus = Corpus([gz, plain])
    shards = corpus.shards(100)
    assert shards[0].end is None and shards[0].start == 0  # a .gz file is read whole
    assert len(shards) > 2
    assert [t for s in shards for t in corpus.shard_texts(s)] == list(corpus)
    whole = Corpus([plain], docs="file")
    assert len(whole.shards(100)) == 1


def test_a_file_changed_after_it_was_cut_is_refused(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("a\nb\n" * 100)
    corpus = Corpus([path])
    shards = corpus.shards(50)
    path.write_text("a\nb\n" * 101)
    with pytest.raises(InputError, match="changed while training"):
        list(corpus.shard_texts(shards[0]))


def test_file_urls_read_as_paths(tmp_path):
    """fsspec URLs: a file, a folder and a pattern, with shards."""
    (tmp_path / "d").mkdir()
    for name, text in [("a.txt", "alpha\nbeta\n"), ("b.txt", "gamma\n" * 300)]:
        (tmp_path / "d" / name).write_text(text)
    local = Corpus([tmp_path / "d"])
    for url in [f"file://{tmp_path}/d", f"file://{tmp_path}/d/*.txt"]:
        remote = Corpus([url])
        assert remote.paths == [f"file://{tmp_path}/d/a.txt", f"file://{tmp_path}/d/b.txt"]
        assert list(remote) == list(local)
        assert [t for s in remote.shards(100) for t in remote.shard_texts(s)] == list(local)
    with pytest.raises(InputError, match="does not exist"):
        Corpus([f"file://{tmp_path}/missing.txt"])


# -- compressed runs ----------------------------------------------------------------------

def _pieces_block(pieces: dict[bytes, int]) -> Block:
    from bytepiece._kernels.runs import piece_keys
    from bytepiece.training.merge import sort_and_sum

    data = np.frombuffer(b"".join(pieces), np.uint8)
    ends = np.cumsum([len(p) for p in pieces], dtype=np.int64)
    block = Block(piece_keys(data, ends), np.array(list(pieces.values()), np.int64), ends, data)
    return sort_and_sum(block, PIECES)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.binary(min_size=1, max_size=12), st.integers(1, 2**40), max_size=300))
def test_compressed_pieces_run_reads_back(pieces):
    block = _pieces_block(pieces)
    run = RunFile(run_bytes([block], PIECES))
    assert run.compressed and run.kind == PIECES and len(run) == len(block)
    back = {b.piece(i): int(b.counts[i]) for b in run.blocks() for i in range(len(b))}
    assert back == pieces


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=200, unique=True))
def test_packed_pieces_come_back_in_the_order_given(pieces):
    """The vocabulary a cluster shares: unpacked, the pieces and counts in ``order``."""
    from bytepiece.training.runs import pack_pieces, unpack_pieces

    counts = np.arange(len(pieces), dtype=np.int64) * 7 + 1
    packed, order = pack_pieces(pieces, counts)
    back, back_counts = unpack_pieces(packed)
    assert back == [pieces[i] for i in order] and sorted(order.tolist()) == list(range(len(pieces)))
    assert back_counts.tolist() == counts[order].tolist()


def test_compressed_pieces_run_of_many_blocks_reads_back_by_range(monkeypatch):
    """Pieces travel in blocks of PIECE_BLOCK_ENTRIES, each front-coded on its own: any
    key range reads back exactly the pieces in it; one large block takes fewer bytes."""
    import bytepiece.training.runs as runs

    rng = np.random.default_rng(5)
    words = (Path(__file__).parent.parent / "corpora" / "en.txt").read_bytes().split()
    pieces = {w[:40]: int(rng.integers(1, 1000)) for w in words[:20_000]}
    block = _pieces_block(pieces)
    whole = len(run_bytes([block], PIECES))
    monkeypatch.setattr(runs, "PIECE_BLOCK_ENTRIES", 64)
    run = RunFile(run_bytes([block], PIECES))
    assert run.index.shape[0] == -(-len(block) // 64)
    lo, hi = np.sort(rng.integers(0, 2**64 - 1, 2, dtype=np.uint64))
    got = {b.piece(i): int(b.counts[i]) for b in run.blocks(int(lo), int(hi))
           for i in range(len(b))}
    inside = (block.keys >= lo) & (block.keys < hi)
    assert got == {block.piece(i): int(block.counts[i]) for i in np.flatnonzero(inside)}
    assert whole < run.size  # one large block: neighbours share more bytes


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 300), max_size=12), st.integers(1, 200))
def test_a_run_is_cut_into_whole_blocks_however_it_is_written(cuts, size):
    """The writer makes blocks of ``block_entries`` from blocks of any size: the same
    bytes as one block written whole, for every kind, compressed or not."""
    import io

    import bytepiece.training.runs as runs

    words = (Path(__file__).parent.parent / "corpora" / "en.txt").read_bytes().split()[:3000]
    block = _pieces_block({w: len(w) for w in words})
    keys = np.unique(np.random.default_rng(size).integers(1, 2**63, 2000, dtype=np.uint64))
    ngrams = Block(keys, keys.view(np.int64) % 7)
    for kind, whole, compress in ((PIECES, block, True), (NGRAMS, ngrams, False)):
        bounds = sorted({0, len(whole), *(c * 7 % len(whole) for c in cuts)})
        out = []
        for parts in ([whole], [whole.take(a, b) for a, b in zip(bounds, bounds[1:])]):
            f = io.BytesIO()
            writer = runs.RunWriter(f, kind, compress=compress)
            writer.block_entries = size
            for part in parts:
                writer.write(part)
            writer.close()
            out.append(f.getvalue())
        assert out[0] == out[1]
        assert RunFile(out[1]).index.shape[0] == -(-len(whole) // size)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 2**64 - 1), max_size=400, unique=True),
       st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_compressed_ngram_run_reads_back_and_by_range(keys, lo, hi):
    keys = np.array(sorted(keys), np.uint64)
    counts = np.arange(1, len(keys) + 1, dtype=np.int64) * 3
    block = Block(keys, counts)
    packed = RunFile(run_bytes([block], NGRAMS))
    got = [b for b in packed.blocks(lo, hi)]
    want = (keys >= np.uint64(lo)) & (keys < np.uint64(hi))
    assert np.array_equal(np.concatenate([b.keys for b in got] or [keys[:0]]), keys[want])
    assert np.array_equal(np.concatenate([b.counts for b in got] or [counts[:0]]), counts[want])


def _slice_keys(slices) -> np.ndarray:
    """Byte slices of 1..7 bytes as sorted n-gram run keys (big-endian, length last)."""
    return np.array(sorted(int.from_bytes(s.ljust(7, b"\0") + bytes([len(s)]), "big")
                           for s in slices), np.uint64)


@settings(max_examples=40, deadline=None)
@given(st.sets(st.binary(min_size=1, max_size=7), min_size=1, max_size=400),
       st.binary(min_size=1, max_size=7))
def test_front_coded_slices_read_back_whole_and_by_range(slices, bound):
    from bytepiece.training.runs import _front_coded

    keys = _slice_keys(slices)
    assert _front_coded(keys) is not None  # slices are front-coded, not differenced
    counts = np.arange(1, len(keys) + 1, dtype=np.int64) * 5
    packed = RunFile(run_bytes([Block(keys, counts)], NGRAMS))
    whole = [b for b in packed.blocks()]
    assert np.array_equal(np.concatenate([b.keys for b in whole]), keys)
    assert np.array_equal(np.concatenate([b.counts for b in whole]), counts)
    lo = _slice_keys([bound])[0]
    got = [b for b in packed.blocks(int(lo))]
    assert np.array_equal(np.concatenate([b.keys for b in got] or [keys[:0]]), keys[keys >= lo])


def test_front_coded_kept_ngrams_are_smaller_than_differences(monkeypatch):
    """Kept n-grams hold every prefix of each: front-coded, one new byte an entry."""
    import bytepiece.training.runs as runs

    text = (Path(__file__).parent.parent / "corpora" / "en.txt").read_bytes()[:200_000]
    grams = {text[i:i + n] for n in range(1, 7) for i in range(len(text) - n)}
    keys = _slice_keys(grams)
    counts = np.random.default_rng(2).geometric(0.3, len(keys)).astype(np.int64)
    front = run_bytes([Block(keys, counts)], NGRAMS)
    monkeypatch.setattr(runs, "_front_coded", lambda keys: None)
    differences = run_bytes([Block(keys, counts)], NGRAMS)
    assert len(front) < 0.85 * len(differences)
    back = RunFile(front)
    assert np.array_equal(np.concatenate([b.keys for b in back.blocks()]), keys)


def test_compressed_runs_are_smaller_and_match_uncompressed(tmp_path):
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 2**40, 300_000, dtype=np.uint64) << np.uint64(8))
    counts = rng.geometric(0.5, len(keys)).astype(np.int64)
    plain = RunFile(write_run(tmp_path / "r", NGRAMS, Block(keys, counts)))
    packed = RunFile(run_bytes([Block(keys, counts)], NGRAMS))
    assert packed.size * 3 < plain.size
    for a, b in zip(plain.blocks(), packed.blocks(), strict=True):
        assert np.array_equal(a.keys, b.keys) and np.array_equal(a.counts, b.counts)


# -- parts ----------------------------------------------------------------------------------

def test_ngram_parts_keep_two_byte_prefixes_together():
    from bytepiece.training.distributed import _ngram_parts

    rng = np.random.default_rng(2)
    keys = rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64)
    for parts in (1, 3, 7):
        which = _ngram_parts(keys, parts)
        assert which.min() >= 0 and which.max() < parts
        prefix = keys >> np.uint64(48)
        for p in np.unique(prefix)[:200]:
            assert len(np.unique(which[prefix == p])) == 1
        if parts > 1:  # every part gets a share
            assert np.bincount(which.astype(np.int64), minlength=parts).min() > \
                len(keys) / parts / 2


def test_piece_parts_are_ranges_of_keys_in_order():
    from bytepiece.training.distributed import _piece_parts

    keys = np.sort(np.random.default_rng(3).integers(0, 2**64 - 1, 10_000, dtype=np.uint64))
    for parts in (1, 2, 5):
        which = _piece_parts(keys, parts)
        assert (np.diff(which.astype(np.int64)) >= 0).all()
        assert which.max() < parts


def test_pieces_whose_keys_collide_come_back_in_byte_order(monkeypatch):
    """A compressed run carries no piece keys: the reader computes them and orders equal
    keys (a 64-bit collision) by the pieces' bytes, as the writer had them."""
    import bytepiece._kernels.runs as kernels

    def weak_keys(data, ends):  # three keys for everything: collisions everywhere
        lengths = np.diff(ends, prepend=0)
        return (lengths % 3).astype(np.uint64) + np.uint64(1)

    monkeypatch.setattr(kernels, "piece_keys", weak_keys)
    pieces = {bytes([b]) * n + bytes([c]): 1 + b + n for b in range(0, 250, 7)
              for n in (1, 2, 3) for c in (0, 9)}
    block = _pieces_block(pieces)  # sorted by the weak keys, then bytes
    back = [b.piece(i) for b in RunFile(run_bytes([block], PIECES)).blocks()
            for i in range(len(b))]
    assert back == [block.piece(i) for i in range(len(block))]
    assert back == sorted(pieces, key=lambda p: (len(p) % 3, p))


def test_compressed_and_parquet_urls(tmp_path):
    """fsspec URLs of .zst and Parquet files read as the local files do."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    (tmp_path / "a.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(b"x y\nz\n" * 50))
    pq.write_table(pa.table({"text": ["one doc", None, "two\ndocs"]}), tmp_path / "b.parquet")
    local = Corpus([tmp_path / "a.txt.zst", tmp_path / "b.parquet"], text_column="text")
    remote = Corpus([f"file://{tmp_path}/a.txt.zst", f"file://{tmp_path}/b.parquet"],
                    text_column="text")
    assert list(remote) == list(local) and list(local)[-2:] == ["one doc", "two\ndocs"]
    assert [t for s in remote.shards(10) for t in remote.shard_texts(s)] == list(local)
    with pytest.raises(InputError, match="has no column 'body'"):
        Corpus([f"file://{tmp_path}/b.parquet"], text_column="body")
