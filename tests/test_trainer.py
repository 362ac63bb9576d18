"""The Trainer and its kernels against the pure-Python references and BytePiece 0.6.3's models."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import pathlib
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import reference_training as ref
from bytepiece import InputError
from bytepiece.chunking import pack_chunks, train_chunks
from bytepiece.trainer import Trainer, _entries
from conftest import FIXTURES, ROOT


def _fixture_root() -> pathlib.Path:
    """Where the reference's training fixtures are (``<root>/train/cases.json``):
    tests/fixtures/, made by make_fixtures.py, or $BYTEPIECE_TRAIN_FIXTURES."""
    return pathlib.Path(os.environ.get("BYTEPIECE_TRAIN_FIXTURES", FIXTURES))


TRAIN_FIXTURES = _fixture_root()

# few distinct bytes, a 2-byte UTF-8 character and a newline: many repeats and ties
ALPHABET = b"ab \n\xc3\xa9"
chunk_st = st.binary(min_size=1, max_size=30).map(
    lambda b: bytes(ALPHABET[x % len(ALPHABET)] for x in b))
text_st = st.text(alphabet="ab é\n1٣", max_size=60)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- helpers -----------------------------------------------------------------

def _count(chunks: list[bytes], order: int, split: int = 1, shards: int = 1):
    """The slice tables of ``chunks``: ``shards`` tables of disjoint keys, each
    accumulated over ``split`` batches."""
    from bytepiece._kernels import ngrams

    out = []
    for shard in range(shards):
        table, size = ngrams.new_table(16), 0
        for i in range(split):
            buf, ends = _pack(chunks[i::split])
            table, size = ngrams.count_slices(buf, ends, order, shard, shards, table, size)
        out.append((table, size))
    return out


def _pack(chunks: list[bytes]):
    buf = np.frombuffer(b"".join(chunks), np.uint8)
    ends = np.cumsum([len(c) for c in chunks], dtype=np.int64)
    return buf, ends


def _unpack(key: int) -> bytes:
    n = key >> 56
    return bytes((key >> (8 * k)) & 255 for k in range(n))


def _lm(chunks, order, min_count):
    trainer = Trainer(order=order, max_vocab_size=300, min_count=min_count)
    keys, counts = _entries(_count(chunks, order))
    return trainer.prune_ngrams(keys, counts, sum(map(len, chunks)))


def _lm_dict(lm_arrays) -> dict[bytes, float]:
    """Every n-gram of the LM arrays with its conditional log-probability."""
    unigram, bigram, kv, kv_logp = lm_arrays
    out = {bytes([b]): float(unigram[b]) for b in range(256) if unigram[b] != -np.inf}
    for i in np.flatnonzero(bigram != -np.inf):
        out[bytes([i >> 8, i & 255])] = float(bigram[i])
    for s in np.flatnonzero(kv[0::2]):
        out[_unpack(int(kv[2 * s]))] = float(kv_logp[2 * s + 1])
    return out


def _piece_table(pieces: dict[bytes, int]):
    from bytepiece._kernels import lm

    items = list(pieces.items())
    arena = np.frombuffer(b"".join(p for p, _ in items), np.uint8)
    lengths = [len(p) for p, _ in items]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    entries = np.array([x for s, l, (_, c) in zip(starts, lengths, items) for x in (s, l, c)],
                       np.int64)
    return lm.merge_pieces(*lm.new_piece_table(4), entries, arena, len(items))


def _table_dict(table) -> dict[bytes, int]:
    from bytepiece._kernels import lm

    slots, entries, arena, n, used = table
    data = arena[:used].tobytes()
    starts, lengths, counts = lm.piece_columns(entries, n)
    return {data[s:s + l]: int(c) for s, l, c in zip(starts, lengths, counts)}


# -- chunking -----------------------------------------------------------------

@given(st.lists(text_st, max_size=5), st.booleans())
@FAST
def test_pack_chunks_as_reference(texts, isolate_digits):
    chunks = [c for t in texts for c in ref.train_chunks(t, isolate_digits)]
    buf, ends, _ = pack_chunks(texts, isolate_digits)
    assert buf.tobytes() == b"".join(chunks)
    assert ends.tolist() == np.cumsum([len(c) for c in chunks]).tolist()


line_st = st.text(alphabet="ab\r\u0301\u00e9\u1100\u1161\U0001F600", max_size=12)


@given(st.lists(line_st, min_size=1, max_size=6), st.booleans())
@FAST
def test_pack_chunks_of_lines_as_reference(lines, last_open):
    """Texts that are lines (each ending with its newline, the last maybe not) take the
    bulk path of ``pack_chunks``; the chunks are the reference's. Combining marks and
    conjoining jamo at a line's start would compose with the line before, if NFC
    crossed the newline."""
    texts = [line + "\n" for line in lines]
    if last_open and lines[-1]:
        texts[-1] = lines[-1]
    chunks = [c for t in texts for c in ref.train_chunks(t, False)]
    buf, ends, chars = pack_chunks(texts)
    assert buf.tobytes() == b"".join(chunks)
    assert ends.tolist() == np.cumsum([len(c) for c in chunks]).tolist()
    assert chars == sum(len(unicodedata.normalize("NFC", t)) for t in texts)


def test_pack_chunks_of_long_lines_and_non_lines():
    """Lines near the chunk length, and texts that are not lines (a newline inside, none
    at the end before the last, an empty last text): the reference's chunks."""
    cases = [["x" * 9999 + "\n", "y" * 10000 + "\n", "z" * 10001 + "\n", "w" * 10001],
             ["ab\ncd\n", "e\n"], ["ab", "cd\n"], ["ab\n", ""], ["\u00e9" * 6000 + "\n"],
             ["\n", "\n\n"]]
    for texts in cases:
        chunks = [c for t in texts for c in ref.train_chunks(t, False)]
        buf, ends, _ = pack_chunks(texts)
        assert buf.tobytes() == b"".join(chunks), texts
        assert ends.tolist() == np.cumsum([len(c) for c in chunks]).tolist(), texts


def test_train_chunks_hand_cases():
    assert train_chunks("ab\n\ncd") == ["ab\n\n", "cd"]
    assert train_chunks("a12b\n3", isolate_digits=True) == ["a", "1", "2", "b\n", "3"]
    assert train_chunks("\n" * 150) == ["\n" * 100, "\n" * 50]
    assert train_chunks("x" * 10001) == ["x" * 10000, "x"]
    assert train_chunks("e\u0301") == ["\u00e9"]  # NFC


# -- n-gram counting ------------------------------------------------------------

@given(st.lists(chunk_st, min_size=1, max_size=8), st.integers(1, 7), st.integers(1, 3),
       st.integers(1, 3), st.integers(1, 3))
@FAST
def test_ngram_counts_as_reference(chunks, order, min_count, split, shards):
    from bytepiece._kernels import ngrams

    keys, counts = _entries(_count(chunks, order, split, shards))
    assert len(set(keys.tolist())) == len(keys)  # shards hold disjoint keys
    big = keys.byteswap()
    o = np.argsort(big)
    kept_keys, kept_counts = ngrams.kept_ngrams(big[o], counts[o], order, min_count)
    got = {_unpack(int(k)): int(c) for k, c in zip(kept_keys, kept_counts)}
    expected = ref.count_ngrams(chunks, order)
    want = {k: v for j in range(1, order + 1) for k, v in expected[j].items()
            if len(k) == j and (j == 1 or v >= min_count)}
    assert got == want
    assert len(got) == len(kept_keys)


def test_ngram_table_grows():
    from bytepiece._kernels import ngrams

    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, 50_000, dtype=np.uint8)
    table, size = ngrams.count_slices(data, np.array([len(data)], np.int64), 3, 0, 1,
                                      ngrams.new_table(16), 0)
    keys, counts = ngrams.entries(table, size)
    assert counts.sum() == len(data)
    assert size == len({data[i:i + 3].tobytes() for i in range(len(data))})


@given(st.lists(chunk_st, min_size=1, max_size=8), st.integers(1, 7), st.integers(1, 3))
@FAST
def test_ngram_lm_as_reference(chunks, order, min_count):
    got = _lm_dict(_lm(chunks, order, min_count))
    want = ref.prune_ngrams(ref.count_ngrams(chunks, order), min_count)
    want = {k: float(v) for g in want[1:] for k, v in g.items()}
    assert got == want  # exact floats


# -- segmentation with the n-gram LM ---------------------------------------------

@given(st.lists(chunk_st, min_size=1, max_size=8), st.lists(chunk_st, min_size=1, max_size=4),
       st.integers(1, 7), st.integers(1, 3), st.booleans())
@FAST
def test_lm_segmentation_as_reference(corpus, texts, order, min_count, ensure_unicode):
    from bytepiece._kernels import lm

    arrays = _lm(corpus, order, min_count)
    want_lm = ref.prune_ngrams(ref.count_ngrams(corpus, order), min_count)
    buf, ends = _pack(texts)
    states = lm.segment_states(buf, ends, *arrays, order, ensure_unicode)
    start = 0
    for text, end in zip(texts, ends.tolist()):
        s = states[start:end]
        cuts = [i for i in range(len(text)) if s[i] == 0] + [len(text)]
        got = [text[a:b] for a, b in zip(cuts, cuts[1:])]
        assert got == ref.lm_segment(want_lm, order, ensure_unicode, text)
        start = end


def test_lm_segmentation_when_every_state_is_impossible():
    """A rare 2-byte character: its bigram is pruned and, with ensure_unicode, its second
    byte cannot start a piece, so every score becomes -inf; numpy's argmax then picks
    state 0 everywhere after it."""
    from bytepiece._kernels import lm

    corpus = [b"ab" * 20, "aé".encode()]
    text = "abéab".encode()
    for order in (2, 4, 6):
        arrays = _lm(corpus, order, 2)
        want_lm = ref.prune_ngrams(ref.count_ngrams(corpus, order), 2)
        states = lm.segment_states(*_pack([text]), *arrays, order, True)
        cuts = [i for i in range(len(text)) if states[i] == 0] + [len(text)]
        got = [text[a:b] for a, b in zip(cuts, cuts[1:])]
        assert got == ref.lm_segment(want_lm, order, True, text)


@given(st.lists(chunk_st, min_size=1, max_size=10), st.integers(2, 6), st.booleans(),
       st.integers(1, 2))
@FAST
def test_count_pieces_as_reference(chunks, order, ensure_unicode, split):
    from bytepiece._kernels import lm

    arrays = _lm(chunks, order, 2)
    want_lm = ref.prune_ngrams(ref.count_ngrams(chunks, order), 2)
    tables = []
    for i in range(split):
        buf, ends = _pack(chunks[i::split])
        tables.append(lm.count_pieces(buf, ends, *arrays, order, ensure_unicode,
                                      *lm.new_piece_table(4)))
    table = tables[0]
    for other in tables[1:]:
        table = lm.merge_pieces(*table, other[1], other[2], other[3])
    assert _table_dict(table) == ref.count_pieces(want_lm, order, ensure_unicode, chunks)


# -- pruning pieces ------------------------------------------------------------------

pieces_st = st.dictionaries(
    st.binary(min_size=1, max_size=8).map(lambda b: bytes(ALPHABET[x % len(ALPHABET)] for x in b)),
    st.sampled_from([1, 2, 3, 4, 6, 8, 12, 100]), max_size=40)


@given(pieces_st, st.integers(1, 4), st.integers(2, 8),
       st.lists(st.integers(259, 290), min_size=1, max_size=3), st.integers(1, 2),
       st.booleans())
@FAST
def test_prune_pieces_as_reference(pieces, min_count, max_piece_length, sizes, workers,
                                   automaton):
    trainer = Trainer(max_vocab_size=sizes, min_count=min_count,
                      max_piece_length=max_piece_length)
    with _resplit_with(automaton):
        got = trainer.prune_pieces(_piece_table(pieces), workers)
    want = ref.prune_pieces(pieces, min_count, max_piece_length, sorted(sizes)[::-1])
    assert got == want


def _resplit_with(automaton: bool):
    """Re-splitting with the kept pieces' automaton (however few they are), or walking
    their trie."""
    from unittest import mock

    from bytepiece.training import prune

    return mock.patch.object(prune, "AUTOMATON_FROM_BYTES", 0 if automaton else 1 << 62)


def test_the_automaton_is_built_when_the_pieces_are_many_and_the_budget_has_it():
    from bytepiece.training.prune import AUTOMATON_BYTES_PER_BYTE as PER_BYTE
    from bytepiece.training.prune import AUTOMATON_FROM_BYTES as FROM, Splitter, use_automaton

    assert not use_automaton(FROM - 1, None)
    assert use_automaton(FROM, None)
    assert use_automaton(FROM, PER_BYTE * FROM)
    assert not use_automaton(FROM, PER_BYTE * FROM - 1)
    pieces = [bytes([b]) for b in range(256)] + [b"ab", b"abc"]
    for automaton in (True, False):
        with _resplit_with(automaton):
            splitter = Splitter.of(pieces, 1)
        assert (splitter.trie.fail is not None) == automaton
        assert (splitter.trie.logp is None) == automaton  # scores per piece instead


# -- end to end -------------------------------------------------------------------------

@given(st.lists(text_st, min_size=1, max_size=12), st.integers(1, 7), st.booleans(),
       st.booleans(), st.integers(1, 3), st.sampled_from([2, 5, 36]))
@FAST
def test_train_as_reference(texts, order, isolate_digits, ensure_unicode, min_count,
                            max_piece_length):
    params = dict(order=order, max_vocab_size=[262, 300], min_count=min_count,
                  max_piece_length=max_piece_length, isolate_digits=isolate_digits,
                  ensure_unicode=ensure_unicode)
    trainer = Trainer(**params)
    trainer.train(texts)
    assert trainer.pieces == ref.train(texts, **params)


def test_workers_give_the_same_model(tmp_path, monkeypatch):
    import bytepiece.trainer

    monkeypatch.setattr(bytepiece.trainer, "BATCH_CHARS", 500)  # many batches
    texts = (ROOT / "corpora" / "tiny" / "en.txt").read_text().splitlines(keepends=True) * 3
    texts += (ROOT / "corpora" / "tiny" / "zh.txt").read_text().splitlines(keepends=True)
    outputs = []
    for workers, batch_size in [(1, 1000), (2, 7), (3, 1)]:
        trainer = Trainer(order=5, max_vocab_size=400)
        trainer.train(texts, workers=workers, batch_size=batch_size)
        trainer.save(tmp_path / f"m{workers}")
        outputs.append((tmp_path / f"m{workers}").read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.parametrize("workers", [1, 2])
def test_pruning_in_slabs_gives_the_same_model(monkeypatch, workers):
    """The re-splits segment a slab of texts at a time: slabs of a few bytes change
    nothing (the first re-split alone has a few hundred slabs here)."""
    from bytepiece.training import prune

    texts = (ROOT / "corpora" / "tiny" / "en.txt").read_text().splitlines(keepends=True)
    params = dict(order=4, max_vocab_size=[300, 280], min_count=2, max_piece_length=6)
    whole = Trainer(**params)
    whole.train(texts, workers=workers)
    slabs = []
    monkeypatch.setattr(prune, "text_ranges", _counting(prune.text_ranges, slabs))
    monkeypatch.setattr(prune, "SLAB_BYTES", 8)
    sliced = Trainer(**params)
    sliced.train(texts, workers=workers)
    assert max(slabs) > 100
    assert sliced.pieces == whole.pieces == ref.train(texts, **params)


def _counting(text_ranges, sizes):
    def counted(*args, **kwargs):
        ranges = text_ranges(*args, **kwargs)
        sizes.append(len(ranges))
        return ranges
    return counted


def test_save_paths(tmp_path):
    from bytepiece import Tokenizer

    texts = ["the cat sat on the mat\n"] * 10 + ["a dog\n"] * 3
    trainer = Trainer(order=4, max_vocab_size=[300, 270])
    trainer.train(texts)
    paths = trainer.save(tmp_path / "m")
    assert paths == [f"{tmp_path / 'm'}.300", f"{tmp_path / 'm'}.270"]
    for path, pieces in zip(paths, trainer.pieces):
        tokenizer = Tokenizer(path)
        assert tokenizer.decode(tokenizer.encode("the cat")) == "the cat"
        assert len(json.loads(pathlib.Path(path).read_text())) == len(pieces)
    trainer = Trainer(order=4, max_vocab_size=300)
    trainer.train(texts)
    assert trainer.save(tmp_path / "one") == [str(tmp_path / "one")]


def test_texts_must_be_reiterable():
    from bytepiece import InputError

    with pytest.raises(InputError, match="not a generator"):
        Trainer(max_vocab_size=300).train(t for t in ["abc\n"] * 5)


class _FailsOnPass:
    """Texts that raise during the given pass (1 or 2), after some batches."""

    def __init__(self, fail_pass):
        self.fail_pass, self.passes = fail_pass, 0

    def __iter__(self):
        self.passes += 1
        for i in range(400):
            if self.passes == self.fail_pass and i == 300:
                raise RuntimeError("disk on fire")
            yield f"text number {i}\n" * 3


@pytest.mark.parametrize("fail_pass", [1, 2])
@pytest.mark.parametrize("workers", [1, 2])
def test_reading_errors_propagate(monkeypatch, fail_pass, workers):
    import bytepiece.trainer

    monkeypatch.setattr(bytepiece.trainer, "BATCH_CHARS", 1000)  # many batches in flight
    with pytest.raises(RuntimeError, match="disk on fire"):
        Trainer(max_vocab_size=300).train(_FailsOnPass(fail_pass), workers=workers)


def test_bad_parameters():
    with pytest.raises(ValueError, match="at least 259"):
        Trainer(max_vocab_size=258)
    with pytest.raises(ValueError, match="between 1 and 7"):
        Trainer(order=8)
    with pytest.raises(ValueError, match="train"):
        Trainer().save("x")


# -- against BytePiece 0.6.3's own models (fixtures) --------------------------------------

def _cases():
    index = TRAIN_FIXTURES / "train" / "cases.json"
    if not index.exists():
        return []
    return json.loads(index.read_text())


def _read(rel: str) -> bytes:
    data = (TRAIN_FIXTURES / rel).read_bytes()
    return gzip.decompress(data) if rel.endswith(".gz") else data


def _split_lines(text: str) -> list[str]:
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _texts(case) -> list[str]:
    inp = case["input"]
    if "texts_file" in inp:
        texts = json.loads(_read(inp["texts_file"]))
    else:
        texts = []
        for s in inp["sources"]:
            raw = (ROOT / s["file"]).read_bytes()[s["start"]:s["end"]]
            text = raw.decode("utf-8", s["errors"])
            texts.extend(_split_lines(text) if s["split"] == "lines" else [text])
    digest = hashlib.sha256(json.dumps(texts, ensure_ascii=True, separators=(",", ":"))
                            .encode()).hexdigest()
    assert digest == inp["texts_sha256"], "the corpus changed since the fixtures were made"
    return texts


@pytest.mark.parametrize("resplit", ["trie walk", "automaton"])
@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_same_models_as_bytepiece(case, resplit, tmp_path):
    texts = _texts(case)
    params = case["params"]
    trainer = Trainer(**params)
    with _resplit_with(resplit == "automaton"):
        trainer.train(texts, workers=case.get("workers", 1))
    paths = trainer.save(tmp_path / "model.json")
    assert len(paths) == len(case["outputs"])
    for path, rel in zip(paths, case["outputs"]):
        assert pathlib.Path(path).read_bytes() == _read(rel), rel
    extra = case.get("intermediate", {})
    if extra:
        (run,), total = trainer.count_ngrams(texts)
        block = run.block  # the one run, in memory: slices sorted big-endian
        lm_arrays = trainer.prune_ngrams(block.keys.byteswap(), block.counts, total)
    if "count_pieces" in extra:
        want = {base64.b64decode(k): v for k, v in json.loads(_read(extra["count_pieces"])).items()}
        (run,), _ = trainer.count_pieces(texts, lm_arrays)
        assert _run_dict(run) == want
    if "ngrams" in extra:
        want = json.loads(_read(extra["ngrams"]))
        want = {base64.b64decode(k): v for g in want[1:] for k, v in g.items()}
        assert _lm_dict(lm_arrays) == want


def _run_dict(run) -> dict[bytes, int]:
    """{piece: count} of a run of pieces."""
    out = {}
    for block in run.blocks():
        for i in range(len(block)):
            out[block.piece(i)] = int(block.counts[i])
    return out


def test_fixture_cases_present():
    assert _cases(), f"no reference training fixtures in {TRAIN_FIXTURES}/train"


def test_phases_refuse_inputs_their_kernels_cannot_take():
    """The phase methods hand arrays to kernels that check no index: bad ones are refused."""
    trainer = Trainer(order=3, max_vocab_size=300, min_count=1)
    texts = ["the cat sat\n", "the dog sat\n"] * 5
    (run,), total = trainer.count_ngrams(texts)
    lm_arrays = trainer.prune_ngrams(run.block.keys.byteswap(), run.block.counts, total)
    unigram, bigram, kv, kv_logp = lm_arrays
    full = np.ones_like(kv)
    for lm_bad, message in (((unigram, bigram, kv), "lm_arrays must be the tuple"),
                            ((unigram[:10], bigram, kv, kv_logp), "unigram must hold 256"),
                            ((unigram, bigram.astype(np.float32), kv, kv_logp), "bigram must be"),
                            ((unigram, bigram, full, full.view(np.float64)), "at least one of "
                                                                               "them empty"),
                            ((unigram, bigram, kv, kv_logp[:-2]), "kv_logp must hold")):
        with pytest.raises(InputError, match=message):
            trainer.count_pieces(texts, lm_bad)
    table = _piece_table({b"the": 4, b"cat": 2})
    slots, entries, arena, n, used = table
    assert trainer.prune_pieces(table)  # as it is: fine
    for bad, message in (((slots, entries, arena, entries.shape[0] // 3 + 1, used), "n must be"),
                         ((slots, _with(entries, slice(6, 9), (0, 0, 1)), arena, n + 1, used),
                          "piece 2 of the table"),
                         ((slots, entries, arena, n, arena.shape[0] + 1), "used must be"),
                         ((slots, _with(entries, 0, used), arena, n, used), "piece 0 of the table"),
                         ((slots, _with(entries, 1, -1), arena, n, used), "piece 0 of the table"),
                         ((slots, _with(entries, 5, 0), arena, n, used), "piece 1 of the table"),
                         ((slots, entries.astype(np.int32), arena, n, used), "entries must be")):
        with pytest.raises(InputError, match=message):
            trainer.prune_pieces(bad)
    with pytest.raises(InputError, match="same length"):
        trainer.prune_ngrams(np.zeros(3, np.uint64), np.zeros(2, np.int64), 10)
    with pytest.raises(InputError, match="total must be"):
        trainer.prune_ngrams(np.zeros(3, np.uint64), np.zeros(3, np.int64), -1)
    with pytest.raises(InputError, match="at least 256"):
        trainer.build_lm(np.zeros(3, np.uint64), np.zeros(3, np.int64), 10)
    with pytest.raises(InputError, match="workers must be"):
        trainer.train(texts, workers="2")


def _with(array, i, value):
    out = array.copy()
    out[i] = value
    return out


@settings(max_examples=60, deadline=None)
@given(st.sets(st.binary(min_size=1, max_size=20), min_size=1, max_size=200),
       st.integers(0, 2**32 - 1))
def test_the_cut_ranks_pieces_as_the_reference_sorts_them(extra, seed):
    """cut_to_sizes ranks in numpy what the reference sorts with a Python key: single
    bytes first, then count and length descending, then bytes (NUL bytes and pieces
    that are prefixes of others included)."""
    from bytepiece.training.prune import CompiledPieces, cut_order

    rng = np.random.default_rng(seed)
    pieces = sorted({bytes([b]) for b in range(256)} | extra)
    pieces = [pieces[i] for i in rng.permutation(len(pieces))]
    compiled = CompiledPieces.of(pieces)
    assert compiled.rank.tolist() == [sorted(pieces).index(p) for p in pieces]
    # the trie, built from the pieces in that order, ends each piece where it is said to
    assert compiled.trie.value[compiled.slot].tolist() == list(range(len(pieces)))
    assert compiled.piece_bytes(np.arange(len(pieces))) == pieces
    counts = rng.integers(1, 4, len(pieces))
    ranked = cut_order(compiled.lengths, counts, compiled.rank)
    want = sorted(range(len(pieces)), key=lambda i: (len(pieces[i]) > 1, -int(counts[i]),
                                                     -len(pieces[i]), pieces[i]))
    assert ranked.tolist() == want
