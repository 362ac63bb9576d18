"""``--algorithm unigram``: its kernels and steps against the brute-force references of
``reference_unigram.py``, and the invariants of what it trains."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_unigram as ref
from bytepiece import Tokenizer, Trainer
from bytepiece.errors import InputError
from bytepiece.model import Model
from bytepiece.training import unigram
from bytepiece.training.unigram import ChunkCache, Pieces

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "unigram"

ALPHABETS = ["ab", "abc", "ab中", "a\n", "中国人", "aaaaaaab", "é€x"]
texts_strategy = st.tuples(
    st.sampled_from(ALPHABETS),
    st.lists(st.integers(0, 40), min_size=1, max_size=5),
    st.randoms(use_true_random=False),
).map(lambda a: [("".join(a[2].choice(a[0]) for _ in range(n))).encode() for n in a[1]])


def _packed(texts: list[bytes]):
    buf = np.frombuffer(b"".join(texts), np.uint8).copy()
    ends = np.cumsum([len(t) for t in texts]).astype(np.int64)
    return buf, ends


class _Batches:
    """Texts as one batch, as ChunkCache gives them."""

    def __init__(self, texts):
        self.buf, self.ends = _packed(texts)
        self.total = len(self.buf)

    def batches(self):
        yield self.buf, self.ends


# -- the kernels against the references ------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(texts_strategy, st.sampled_from([2, 3, 5, 8, 36]), st.booleans())
def test_repeated_substrings_are_the_suffix_trees_nodes(texts, depth, ensure_unicode):
    buf, ends = _packed(texts)
    starts, lengths, counts = unigram.repeated_substrings(buf, ends, depth, ensure_unicode)
    data = buf.tobytes()
    got = {data[s:s + k]: int(c) for s, k, c in zip(starts, lengths, counts)}
    assert len(got) == len(starts)  # each substring once
    assert got == ref.repeated_substrings(texts, depth, ensure_unicode)


def _pieces_and_probs(rnd, texts, dead_share=0.3):
    """The 256 bytes and some substrings of ``texts``, with random probabilities (some
    pieces dead, probability 0), normalized."""
    subs = sorted({t[i:j] for t in texts for i in range(len(t))
                   for j in range(i + 2, min(len(t), i + 5) + 1)})
    extra = rnd.sample(subs, min(len(subs), 10))
    pieces = [bytes([b]) for b in range(256)] + extra
    prob = np.array([rnd.random() + 0.01 for _ in pieces])
    for k in range(256, len(pieces)):
        if rnd.random() < dead_share:
            prob[k] = 0.0
    return pieces, prob / prob.sum()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("ab中", min_size=1, max_size=9), min_size=1, max_size=3),
       st.randoms(use_true_random=False))
def test_expected_counts_equal_the_sum_over_every_segmentation(words, rnd):
    from bytepiece._kernels.unigram import UNIT, expected_counts

    texts = [w.encode() for w in words]
    pieces, prob = _pieces_and_probs(rnd, texts)
    live = Pieces(pieces)
    slot_prob = np.zeros(len(live.trie.logp))
    slot_prob[live.slot] = prob
    buf, ends = _packed(texts)
    totals = np.zeros(len(pieces), np.int64)
    likelihood = expected_counts(buf, ends, live.trie.nodes, live.trie.value, slot_prob,
                                 live.trie.pair, totals)
    want, want_likelihood = ref.expected_counts(texts, dict(zip(pieces, prob)))
    for k, p in enumerate(pieces):
        assert totals[k] / UNIT == pytest.approx(want.get(p, 0.0), abs=1e-6), p
    assert likelihood == pytest.approx(want_likelihood, rel=1e-9)


def test_expected_counts_keep_their_scale_over_a_long_chunk():
    """Probabilities of 10,000 bytes underflow float64 a thousand times over: the
    rescaled sums still cover every byte exactly once."""
    from bytepiece._kernels.unigram import UNIT, expected_counts

    pieces = [bytes([b]) for b in range(256)] + [b"ab", b"ba", b"aba"]
    prob = np.full(len(pieces), 1e-9)
    prob[[97, 98]] = 0.3
    prob[256:] = 0.1
    live = Pieces(pieces)
    slot_prob = np.zeros(len(live.trie.logp))
    slot_prob[live.slot] = prob
    text = b"ab" * 5000
    totals = np.zeros(len(pieces), np.int64)
    likelihood = expected_counts(np.frombuffer(text, np.uint8), np.array([len(text)]),
                                 live.trie.nodes, live.trie.value, slot_prob, live.trie.pair,
                                 totals)
    lengths = np.array([len(p) for p in pieces])
    assert (totals / UNIT * lengths).sum() == pytest.approx(len(text), rel=1e-9)
    assert -1e5 < likelihood < -1000  # finite, far below what float64 holds


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text("ab中", min_size=2, max_size=6), min_size=1, max_size=3),
       st.randoms(use_true_random=False))
def test_the_loss_is_that_of_the_best_segmentation_without_the_piece(words, rnd):
    texts = [w.encode() for w in words]
    pieces, prob = _pieces_and_probs(rnd, texts, dead_share=0)
    counts = prob * 1000
    loss = Pieces(pieces).loss(counts)
    logp = {p: math.log(c / counts.sum()) for p, c in zip(pieces, counts)}
    for k, p in enumerate(pieces):
        if len(p) == 1:
            assert loss[k] == math.inf
            continue
        alt = ref.best_without_itself(p, logp)
        assert loss[k] == pytest.approx(counts[k] * (logp[p] - alt), rel=1e-9)


# -- the steps against the references ---------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("abc", min_size=1, max_size=8), min_size=1, max_size=4),
       st.randoms(use_true_random=False), st.integers(256, 262))
def test_an_em_step_equals_the_reference(words, rnd, floor):
    texts = [w.encode() for w in words]
    pieces, prob = _pieces_and_probs(rnd, texts, dead_share=0)
    counts = prob * 50
    live, new = unigram.reestimate(Pieces(pieces), counts, _Batches(texts), 2, None, 1, floor)
    want = ref.em_step(texts, dict(zip(pieces, counts)), floor)
    if live.pieces != list(want):
        # only a near-tie at the floor's cut may go either way (fixed point against floats)
        expected, _ = ref.expected_counts(texts, dict(zip(pieces, counts / counts.sum())))
        differ = set(live.pieces) ^ set(want)
        assert len(live.pieces) == len(want)
        values = [expected.get(p, 0.0) for p in differ]
        assert max(values) - min(values) < 1e-6, (differ, values)
    else:
        assert new == pytest.approx(np.array(list(want.values())), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text("abc中", min_size=2, max_size=6), min_size=1, max_size=3),
       st.randoms(use_true_random=False), st.sampled_from(["probability", "loss"]))
def test_a_pruning_round_keeps_what_the_reference_keeps(words, rnd, by):
    texts = [w.encode() for w in words]
    pieces, prob = _pieces_and_probs(rnd, texts, dead_share=0)
    counts = prob * 1000
    keep = 256 + (len(pieces) - 256) // 2
    live, kept = unigram.prune_round(Pieces(pieces), counts, keep, by)
    want = ref.prune(dict(zip(pieces, counts)), keep, by)
    if live.pieces != list(want):
        # only a near-tie at the cut may go either way (the kernel's float sums against
        # the reference's)
        loss = dict(zip(pieces, Pieces(pieces).loss(counts)))
        values = [loss[p] for p in set(live.pieces) ^ set(want)]
        assert len(live.pieces) == len(want)
        assert by == "loss" and max(values) - min(values) < 1e-9 * max(map(abs, values))
    else:
        assert kept.tolist() == list(want.values())


# -- what it trains --------------------------------------------------------------------

def _lines(name: str, most: int | None = None) -> list[str]:
    lines = (ROOT / "corpora" / name).read_text(encoding="utf-8").splitlines(keepends=True)
    return lines[:most] if most else lines


@pytest.fixture(scope="module")
def mixed_models():
    trainer = Trainer(max_vocab_size=[3000, 6000], algorithm="unigram")
    trainer.train(_lines("mixed.txt"), workers=2)
    return trainer.pieces


def test_every_size_is_reached_with_every_byte(mixed_models):
    for size, pieces in zip([6000, 3000], mixed_models):
        assert len(pieces) + 3 == size
        assert {bytes([b]) for b in range(256)} <= set(pieces)
        assert all(isinstance(c, int) and c >= 1 for c in pieces.values())
        # ensure_unicode (the default): every longer piece is whole characters
        for p in pieces:
            if len(p) > 1:
                p.decode("utf-8")
        assert max(map(len, pieces)) <= 36


def test_the_model_does_not_depend_on_the_threads(mixed_models):
    for workers in (1, 3):
        trainer = Trainer(max_vocab_size=[3000, 6000], algorithm="unigram")
        trainer.train(_lines("mixed.txt"), workers=workers)
        assert trainer.pieces == mixed_models


def test_chunks_spilled_to_disk_give_the_same_model(tmp_path):
    lines = _lines("zh.txt", 3000)  # under the 1 MB seed sample of the smallest budget
    trainer = Trainer(max_vocab_size=3000, algorithm="unigram")
    trainer.train(lines, workers=2)
    spilled = Trainer(max_vocab_size=3000, algorithm="unigram")
    spilled.train(lines, workers=2, max_memory=1 << 20, tmp_dir=tmp_path)
    assert spilled.temp_disk > 200_000  # the chunks went to disk
    assert spilled.pieces == trainer.pieces
    assert not any(tmp_path.iterdir()) or not any((tmp_path / "bytepiece-train").iterdir())


def test_the_cache_reads_back_what_it_was_given(tmp_path):
    from bytepiece.training.workdir import WorkDirs

    workdirs = WorkDirs(tmp_path, {"x": 1}, None)
    try:
        texts = [f"line {i} é中\n" * (i % 7 + 1) for i in range(3000)]
        memory = ChunkCache(1 << 40, workdirs)
        memory.fill(texts, False, 1 << 12)
        disk = ChunkCache(1 << 14, workdirs)
        disk.fill(texts, False, 1 << 12)
        assert disk.path is not None and len(disk) == len(memory) > 10
        for (b1, e1), (b2, e2) in zip(memory.batches(), disk.batches()):
            assert b1.tobytes() == b2.tobytes() and e1.tolist() == e2.tolist()
        whole = b"".join(b.tobytes() for b, _ in memory.batches())
        assert whole == "".join(texts).encode()
        buf, ends = disk.sample(disk.total // 3)
        assert 0.25 * disk.total < len(buf) < 0.45 * disk.total and ends[-1] == len(buf)
        # an even stride over chunks: the last text's chunks are in it too, not only
        # whole batches from the front
        sampled = buf.tobytes()
        assert "line 2999 é中\n".encode() in sampled and "line 2 é中\n".encode() in sampled
    finally:
        workdirs.remove()


def test_isolated_digits_and_length_limits_hold():
    trainer = Trainer(max_vocab_size=2000, algorithm="unigram", isolate_digits=True,
                      max_piece_length=8, ensure_unicode=False)
    trainer.train(_lines("code.txt", 4000), workers=2)
    pieces = trainer.pieces[0]
    assert len(pieces) + 3 == 2000
    assert max(map(len, pieces)) <= 8
    assert not [p for p in pieces if len(p) > 1 and any(48 <= b <= 57 for b in p)]


def test_special_tokens_are_cut_out_and_added(tmp_path):
    lines = [f"<|im_start|>user\n{line}<|im_end|>\n" for line in _lines("en.txt", 2000)]
    trainer = Trainer(max_vocab_size=1000, algorithm="unigram",
                      special_tokens=["<|im_start|>", "<|im_end|>"])
    trainer.train(lines, workers=2)
    assert not [p for p in trainer.pieces[0] if b"<|im" in p]
    trainer.save(tmp_path / "m.json")
    tokenizer = Tokenizer(str(tmp_path / "m.json"))
    assert tokenizer.vocab_size == 1002
    ids = tokenizer.encode(lines[0], allowed_special="all")
    assert ids[0] == tokenizer.special_tokens["<|im_start|>"]
    assert tokenizer.decode(ids) == lines[0]


def test_it_compresses_more_than_bytepiece_at_the_same_size(mixed_models):
    """The point of the algorithm, on the training text itself (the benchmark measures
    held-out text against the peers)."""
    text = "".join(_lines("mixed.txt"))
    bytepiece = Trainer(max_vocab_size=6000)
    bytepiece.train(_lines("mixed.txt"), workers=2)
    tokens = {}
    for name, pieces in (("unigram", mixed_models[0]), ("bytepiece", bytepiece.pieces[0])):
        tokens[name] = len(Tokenizer(Model.from_counts(pieces)).encode(text))
    assert tokens["unigram"] < 0.99 * tokens["bytepiece"]


def test_bad_algorithms_and_clusters_are_refused():
    with pytest.raises(InputError, match="algorithm must be one of"):
        Trainer(algorithm="bpe")
    trainer = Trainer(max_vocab_size=300, algorithm="unigram")
    with pytest.raises(InputError, match="does not run on a cluster"):
        trainer.train(["abc\n"], cluster="tcp://127.0.0.1:1")


def test_the_reference_gives_the_same_ids_with_a_unigram_model():
    """BytePiece 0.6.3 loads a model this algorithm trained and segments as we do
    (``fixtures/make_unigram_fixture.py`` ran it)."""
    with gzip.open(FIXTURES / "reference.json.gz", "rt", encoding="utf-8") as f:
        reference = json.load(f)
    tokenizer = Tokenizer(str(FIXTURES / "uni-small.json"))
    assert tokenizer.vocab_size == reference["vocab_size"] == 2000
    assert tokenizer.encode_batch(reference["texts"]) == reference["ids"]
