"""Spilled training: run files, k-way merges, and models identical to in-memory training."""

from __future__ import annotations

import errno
import os
import pathlib
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bytepiece import Trainer
from bytepiece.training import merge as merging
from bytepiece.training.runs import (NGRAMS, PIECES, Block, MemoryRun, RunFile, RunWriter,
                                     write_run)
from conftest import ROOT
from test_trainer import _cases, _read, _texts

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
TINY_BUDGET = 300_000  # bytes: far below the interpreter's own memory, so tables spill often


# -- a pure-Python definition ---------------------------------------------------------

def _piece_block(pieces: dict[bytes, int]) -> Block:
    """A PIECES block of ``pieces`` (unsorted)."""
    from bytepiece._kernels.runs import piece_keys

    items = list(pieces.items())
    data = np.frombuffer(b"".join(p for p, _ in items), np.uint8)
    ends = np.cumsum([len(p) for p, _ in items], dtype=np.int64)
    return Block(piece_keys(data, ends), np.array([c for _, c in items], np.int64), ends, data)


def _block_dict(block: Block, kind: int) -> dict:
    if kind == NGRAMS:
        return dict(zip(block.keys.tolist(), block.counts.tolist()))
    return {block.piece(i): int(block.counts[i]) for i in range(len(block))}


def _fnv_mix(piece: bytes) -> int:
    """The piece key, in Python: FNV-1a 64 finished with splitmix64's mixer."""
    mask = (1 << 64) - 1
    h = 0xCBF29CE484222325
    for b in piece:
        h = ((h ^ b) * 0x100000001B3) & mask
    h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & mask
    h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & mask
    return h ^ (h >> 31)


# -- runs and merges ------------------------------------------------------------------

def test_piece_keys_as_python():
    pieces = [b"", b"a", b"ab", "世界".encode(), bytes(range(256))]
    block = _piece_block({p: 1 for p in pieces})
    assert block.keys.tolist() == [_fnv_mix(p) for p in pieces]


ngram_runs_st = st.lists(st.dictionaries(st.integers(0, 300), st.integers(1, 5), max_size=60),
                         min_size=1, max_size=7)
piece_runs_st = st.lists(st.dictionaries(st.binary(max_size=5), st.integers(1, 5), max_size=40),
                         min_size=1, max_size=7)


@given(st.lists(st.tuples(st.integers(0, 40), st.integers(1, 5)), max_size=80), st.booleans())
@FAST
def test_sort_and_sum_of_ngrams(entries, own):
    """Repeated keys are summed, in order; a block not the caller's to spend is left as is."""
    keys = np.array([k for k, _ in entries], np.uint64)
    counts = np.array([c for _, c in entries], np.int64)
    before = keys.copy(), counts.copy()
    got = merging.sort_and_sum(Block(keys, counts), NGRAMS, own=own)
    want = Counter()
    for k, c in entries:
        want[k] += c
    assert got.keys.tolist() == sorted(want)
    assert got.counts.tolist() == [want[k] for k in sorted(want)]
    if not own:
        assert keys.tolist() == before[0].tolist() and counts.tolist() == before[1].tolist()


@given(ngram_runs_st, st.integers(1, 5), st.integers(2, 4), st.booleans())
@FAST
def test_merging_ngram_runs_sums_them(tmp_path, runs, parts, fan_in, on_disk):
    """Any runs, cut into key ranges and merged through any fan-in, sum like dicts."""
    want = sum((Counter(r) for r in runs), Counter())
    sources = []
    for k, r in enumerate(runs):
        block = merging.sort_and_sum(Block(np.array(list(r), np.uint64),
                                           np.array(list(r.values()), np.int64)), NGRAMS)
        sources.append(RunFile(write_run(tmp_path / f"r{k}-{len(r)}", NGRAMS, block))
                       if on_disk else MemoryRun(block, NGRAMS))
    names = iter(range(10 ** 6))
    sources = merging.reduce_fan_in(sources, NGRAMS, fan_in,
                                    lambda: str(tmp_path / f"m{next(names)}"))
    assert len(sources) <= fan_in
    got = {}
    for lo, hi in merging.key_ranges(sources, parts):
        for block in merging.merge(sources, NGRAMS, lo, hi):
            assert np.all(np.diff(block.keys.astype(np.float64)) > 0) or len(block) < 2
            d = _block_dict(block, NGRAMS)
            assert not set(d) & set(got)
            got.update(d)
    assert got == dict(want)


@given(piece_runs_st, st.integers(1, 5), st.integers(2, 4))
@FAST
def test_merging_piece_runs_sums_them(tmp_path, runs, parts, fan_in):
    want = sum((Counter(r) for r in runs), Counter())
    sources = [RunFile(write_run(tmp_path / f"p{k}-{id(r)}", PIECES,
                                 merging.sort_and_sum(_piece_block(r), PIECES)))
               for k, r in enumerate(runs)]
    names = iter(range(10 ** 6))
    sources = merging.reduce_fan_in(sources, PIECES, fan_in,
                                    lambda: str(tmp_path / f"pm{next(names)}"))
    got = {}
    for lo, hi in merging.key_ranges(sources, parts):
        for block in merging.merge(sources, PIECES, lo, hi):
            d = _block_dict(block, PIECES)
            assert not set(d) & set(got)
            got.update(d)
    assert got == dict(want)


def test_equal_keys_of_different_pieces_stay_apart(monkeypatch):
    """Two pieces whose keys collide are ordered by their bytes and never summed."""
    block = _piece_block({b"x": 1, b"yy": 2, b"x\x00": 3})
    block.keys[:] = 7  # every key the same
    doubled = Block(np.concatenate([block.keys, block.keys]),
                    np.concatenate([block.counts, block.counts]),
                    np.concatenate([block.ends, block.ends + block.ends[-1]]),
                    np.concatenate([block.data, block.data]))
    merged = merging.sort_and_sum(doubled, PIECES)
    assert [merged.piece(i) for i in range(len(merged))] == [b"x", b"x\x00", b"yy"]
    assert merged.counts.tolist() == [2, 6, 4]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_arrays_go_back_to_the_system():
    """Once training has started, freeing an array lowers the resident memory at once,
    even after a larger one was freed (which raises glibc's own threshold)."""
    from bytepiece.memory import resident_bytes, steady_memory
    from bytepiece.training.spill import STEADY_THRESHOLD

    assert steady_memory(STEADY_THRESHOLD)  # as Trainer.train does
    assert STEADY_THRESHOLD < 8 << 20
    big = np.ones(48 << 20, np.uint8)
    del big
    array = np.ones(8 << 20, np.uint8)
    held = resident_bytes()
    del array
    assert held - resident_bytes() >= 7 << 20


def test_training_keeps_its_budget_in_resident_memory(monkeypatch):
    """Training sets glibc's threshold once, before its phases."""
    import bytepiece.trainer
    from bytepiece.training.spill import STEADY_THRESHOLD

    calls = []
    monkeypatch.setattr(bytepiece.trainer, "steady_memory", calls.append)
    texts = (ROOT / "corpora" / "tiny" / "en.txt").read_text().splitlines(keepends=True)
    Trainer(order=4, max_vocab_size=300).train(texts * 20, max_memory=1 << 30)
    assert calls == [STEADY_THRESHOLD]


def test_the_allowance_follows_what_the_process_holds(monkeypatch):
    """Before each batch the tables' allowance is the budget less what the rest of the
    process holds now, so memory taken after the phase started makes the tables spill."""
    import gc

    from bytepiece.memory import resident_bytes
    from bytepiece.trainer import _NoWorkDirs
    from bytepiece.training import spill as spilling
    from bytepiece.training.spill import RESERVE, Spill

    # no smallest allowance: after the whole suite the process holds enough that an
    # eighth of the budget would be more than the tables
    monkeypatch.setattr(spilling, "MIN_SHARE", 1 << 40)
    gc.collect()
    tables = np.ones(64 << 20, np.uint8)
    budget = resident_bytes() - tables.nbytes + RESERVE + (160 << 20)
    spill = Spill(budget, _NoWorkDirs(), "ngrams", NGRAMS)
    assert not spill.over(tables.nbytes, 0, 1000)
    other = np.ones(128 << 20, np.uint8)  # held besides the tables
    assert spill.over(tables.nbytes, 0, 1000)
    assert spill.allowance < tables.nbytes
    del other
    assert not spill.over(tables.nbytes, 0, 1000)
    assert not spill.over(tables.nbytes, 0, 0)  # empty tables never spill


def test_run_files_are_whole_or_absent(tmp_path):
    """A run is written under a temporary name and renamed once complete."""
    writer = RunWriter(tmp_path / "r.run", NGRAMS)
    writer.write(Block(np.arange(1, 200_000, dtype=np.uint64), np.ones(199_999, np.int64)))
    assert not (tmp_path / "r.run").exists()
    writer.close()
    run = RunFile(tmp_path / "r.run")
    assert len(run) == 199_999 and len(run.index) == 4  # blocks of 65536
    got = np.concatenate([b.keys for b in run.blocks(1000, 70_000)])
    assert got.tolist() == list(range(1000, 70_000))
    (tmp_path / "bad.run").write_bytes(b"BPRUN1\n\0" + bytes(100))
    with pytest.raises(ValueError, match="not a complete run file"):
        RunFile(tmp_path / "bad.run")


# -- training ---------------------------------------------------------------------------

@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_spilled_training_gives_the_same_models(case, tmp_path, monkeypatch):
    """Every exactness case of the reference, with a budget that spills every table
    many times (and batches of 2048 characters, so that small cases spill too), and the
    kept n-grams merged in ranges of 512 run entries: byte-identical models."""
    import bytepiece.trainer
    from bytepiece.training import ngram_counts

    monkeypatch.setattr(bytepiece.trainer, "_batch_chars", lambda allowance: 2048)
    monkeypatch.setattr(ngram_counts, "RANGE_ENTRIES", 512)
    parts = []
    key_ranges = ngram_counts.key_ranges
    monkeypatch.setattr(ngram_counts, "key_ranges",
                        lambda runs, n, **kw: parts.append(n) or key_ranges(runs, n, **kw))
    texts = _texts(case)
    trainer = Trainer(**case["params"])
    trainer.train(texts, workers=case.get("workers", 1), max_memory=TINY_BUDGET,
                  tmp_dir=tmp_path / "tmp")
    if len(texts) >= 8:  # batches hold whole texts: a few files are a batch or two
        assert trainer.spills["ngrams"] >= 2 and trainer.spills["pieces"] >= 2, trainer.spills
        assert trainer.temp_disk > 0
        assert parts[0] > 4 * case.get("workers", 1), parts  # more ranges than by workers
    assert not (tmp_path / "tmp" / "bytepiece-train").exists()
    paths = trainer.save(tmp_path / "model.json")
    for path, rel in zip(paths, case["outputs"]):
        assert pathlib.Path(path).read_bytes() == _read(rel), rel


@pytest.mark.parametrize("workers", [1, 2])
def test_spilled_and_in_memory_training_agree_on_a_larger_corpus(workers):
    """corpora/mixed.txt (3 MB): hundreds of runs per phase, fan-in merges, key ranges
    merged on threads; the same vocabularies as one table in memory."""
    import re

    from conftest import CORPORA

    text = (CORPORA / "mixed.txt").read_text(encoding="utf-8")
    texts = re.findall(r"[^\n]*\n|[^\n]+", text)
    results = []
    for budget in (1 << 40, TINY_BUDGET):
        trainer = Trainer(order=6, max_vocab_size=[4000, 1000])
        trainer.train(texts, workers=workers, max_memory=budget)
        results.append((trainer.pieces, trainer.spills))
    assert results[0][1] == {"ngrams": 0, "pieces": 0}
    assert min(results[1][1].values()) >= 50
    assert results[0][0] == results[1][0]


def test_a_full_temporary_disk_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    from bytepiece.training import runs
    from bytepiece.training.workdir import TempDiskError

    def full(self, block):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(runs.RunWriter, "_write_one", full)
    texts = ["the cat sat on the mat\n", "a dog\n"] * 3000
    with pytest.raises(TempDiskError) as info:
        Trainer(order=4, max_vocab_size=300).train(texts, max_memory=TINY_BUDGET,
                                                   tmp_dir=tmp_path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"the temporary folder {tmp_path}/bytepiece-train is "
                                      f"full (spilling counts)")
    assert os.listdir(tmp_path) == []
