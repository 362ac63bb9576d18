"""Tokenizers pickle, deep-copy and cross into spawned worker processes with the same ids."""

from __future__ import annotations

import copy
import multiprocessing
import pickle

import pytest

import bytepiece.cache
from bytepiece import Tokenizer
from conftest import CORPORA, FIXTURES

MODEL = FIXTURES / "models" / "ref-mixed-8k.json"


def corpus_lines(n: int = 400) -> list[str]:
    lines = []
    for name in ("en", "zh", "code", "mixed"):
        with open(CORPORA / f"{name}.txt", encoding="utf-8") as f:
            lines += [line for _, line in zip(range(n // 4), f)]
    return lines + ["", "\n\n", "e\u0301 \U0001F600"]


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(MODEL, seed=11)


def test_pickle_round_trip_gives_the_same_ids(tokenizer):
    lines = corpus_lines()
    copy_ = pickle.loads(pickle.dumps(tokenizer))
    assert repr(copy_) == repr(tokenizer) and copy_.vocab() == tokenizer.vocab()
    assert [copy_.encode(line) for line in lines] == [tokenizer.encode(line) for line in lines]
    assert copy_.encode_batch(lines, num_threads=2) == tokenizer.encode_batch(lines)
    assert copy_.decode_batch(tokenizer.encode_batch(lines)) == tokenizer.decode_batch(
        tokenizer.encode_batch(lines))


def test_pickled_seeded_tokenizer_goes_on_with_the_same_samples():
    original = Tokenizer(MODEL, seed=3)
    original.encode("advance the stream", alpha=0.3)
    clone = pickle.loads(pickle.dumps(original))
    lines = corpus_lines(40)
    assert [clone.encode(t, alpha=0.3) for t in lines] == \
        [original.encode(t, alpha=0.3) for t in lines]


def test_a_model_from_a_dict_pickles_too():
    from conftest import make_model

    original = Tokenizer(make_model({b"hello": 5, b" world": 3}))
    clone = pickle.loads(pickle.dumps(original))
    assert clone.encode("hello world") == original.encode("hello world")
    assert clone.vocab() == original.vocab()


def test_unpickling_loads_the_compiled_model_from_the_cache(tokenizer, monkeypatch):
    """The first unpickling compiles the model and caches it; the next ones read the cache."""
    data = pickle.dumps(tokenizer)
    pickle.loads(data)

    def no_compiling(model):
        raise AssertionError("compiled again instead of read from the cache")

    monkeypatch.setattr(bytepiece.cache, "compile_model", no_compiling)
    assert pickle.loads(data).encode("Hello world") == tokenizer.encode("Hello world")


def test_deepcopy_is_an_independent_equal_tokenizer():
    original = Tokenizer(MODEL, seed=5)
    clone = copy.deepcopy(original)
    lines = corpus_lines(80)
    assert [clone.encode(t) for t in lines] == [original.encode(t) for t in lines]
    sampled = [clone.encode(t, alpha=0.2) for t in lines]  # advances the copy's stream only
    assert [original.encode(t, alpha=0.2) for t in lines] == sampled
    assert copy.copy(original).encode_batch(lines) == original.encode_batch(lines)


def test_an_unseeded_copy_samples_on_its_own():
    """seed=None: the copy draws a stream of its own (a copied state would repeat the
    original's samples in every worker)."""
    original = Tokenizer(MODEL)
    clone = pickle.loads(pickle.dumps(original))
    text = "a sentence long enough to be sampled in many different ways " * 4
    mine = [clone.encode(text, alpha=0.5) for _ in range(3)]
    theirs = [original.encode(text, alpha=0.5) for _ in range(3)]
    assert mine != theirs
    assert all(clone.decode(ids) == text for ids in mine)


def test_spawned_process_pool_maps_encode(tokenizer):
    """``Pool.map(tok.encode, ...)`` in processes started by spawn (as on macOS and
    Windows, and as PyTorch and datasets use): each worker unpickles the tokenizer."""
    lines = corpus_lines(200)
    expected = [tokenizer.encode(line) for line in lines]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(tokenizer.encode, lines, chunksize=25) == expected
        assert pool.map(tokenizer.decode, expected, chunksize=50) == \
            [tokenizer.decode(ids) for ids in expected]


class Named(Tokenizer):
    """A subclass, as a user might write one: it pickles as itself."""


def test_a_subclass_pickles_as_itself():
    original = Named(MODEL)
    original.encode("x" * 70000)  # loads the kernel: the copy starts on it as well
    clone = pickle.loads(pickle.dumps(original))
    assert type(clone) is Named and clone.encode("Hello") == original.encode("Hello")
    assert clone._small_budget == 0


def test_special_tokens_survive_pickling():
    """A tokenizer with special tokens (model format 2) pickles with them: the copy reads
    them in text as the original does, and goes on with the same random stream."""
    tokenizer = Tokenizer(MODEL, seed=4)
    n = tokenizer.vocab_size
    tokenizer.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    text = "<|im_start|>user\n" + "".join(corpus_lines(40)) + "<|im_end|>\n"
    copy_ = pickle.loads(pickle.dumps(tokenizer))
    assert copy_.special_tokens == tokenizer.special_tokens == {
        "<|im_start|>": n, "<|im_end|>": n + 1}
    assert copy_.encode(text, allowed_special="all") == tokenizer.encode(text,
                                                                        allowed_special="all")
    assert copy_.encode(text, alpha=0.3, allowed_special="all") == \
        tokenizer.encode(text, alpha=0.3, allowed_special="all")
    assert copy.deepcopy(tokenizer).decode([n, n + 1]) == "<|im_start|><|im_end|>"
