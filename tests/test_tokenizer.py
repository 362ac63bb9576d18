"""The public Tokenizer API: encoding, decoding, batches, vocabulary, errors."""

from __future__ import annotations

import json
import threading
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from bytepiece import InputError, Tokenizer
from conftest import make_model

PIECES = {b"hello": 50, b" world": 40, b"wor": 5, b"\n\n": 9, "é".encode(): 7,
          "中文".encode(): 11, b" the": 60, b"th": 20, b"\r\n": 8}


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(make_model(PIECES), seed=0)


def test_encode_decode(tokenizer):
    ids = tokenizer.encode("hello world")
    assert [tokenizer.id_to_piece(i) for i in ids] == [b"hello", b" world"]
    assert tokenizer.decode(ids) == "hello world"
    assert tokenizer.encode("hello", add_bos=True, add_eos=True) == \
        [1, tokenizer.piece_to_id(b"hello"), 2]
    assert tokenizer.tokenize("hello\n\n中文") == [b"hello", b"\n\n", "中文".encode()]
    assert tokenizer.encode("") == []
    assert tokenizer.decode([]) == ""


def test_text_is_nfc_normalized(tokenizer):
    decomposed = "e\u0301"
    assert tokenizer.tokenize(decomposed) == ["é".encode()]
    assert tokenizer.decode(tokenizer.encode(decomposed)) == "é"


def test_vocabulary(tokenizer):
    assert tokenizer.vocab_size == len(tokenizer) == 256 + len(PIECES) + 3
    assert tokenizer.id_to_piece(0) == "<pad>" and tokenizer.id_to_piece(2) == "<eos>"
    assert tokenizer.piece_to_id("<bos>") == 1
    assert tokenizer.piece_to_id(b"\x00") == 3
    assert tokenizer.piece_to_id("中文") == tokenizer.piece_to_id("中文".encode())
    for i in range(3, tokenizer.vocab_size):
        assert tokenizer.piece_to_id(tokenizer.id_to_piece(i)) == i
    with pytest.raises(InputError, match="not a piece"):
        tokenizer.piece_to_id(b"nope")
    with pytest.raises(InputError, match="out of range"):
        tokenizer.id_to_piece(tokenizer.vocab_size)


def test_decode_skips_special_ids_and_rejects_bad_ones(tokenizer):
    ids = tokenizer.encode("hello", add_bos=True, add_eos=True) + [0]
    assert tokenizer.decode(ids) == "hello"
    assert tokenizer.decode(np.array(ids)) == "hello"
    for bad in ([5, tokenizer.vocab_size], [-1], [3, "x"]):
        with pytest.raises(InputError):
            tokenizer.decode(bad)
    # a piece cut inside a character: U+FFFD by default, as tiktoken and bytes.decode
    cut = [tokenizer.piece_to_id(b"\xe4"), tokenizer.piece_to_id(b"a")]
    assert tokenizer.decode(cut) == "\ufffda"
    assert tokenizer.decode(cut, errors="ignore") == "a"


@pytest.mark.parametrize("data", [b"raw \xff bytes", b"\xe4\xb8", b"ok \xe4\xb8\xad \xc3",
                                  b"\xed\xa0\x80 surrogate", b"plain"])
def test_decode_errors_follow_bytes_decode(tokenizer, data):
    """decode(ids, errors) is decode_bytes(ids).decode("utf-8", errors), whatever the bytes."""
    ids = tokenizer.encode_bytes(data)
    assert tokenizer.decode_bytes(ids) == data
    for errors in ("replace", "ignore", "backslashreplace", "surrogateescape"):
        assert tokenizer.decode(ids, errors=errors) == data.decode("utf-8", errors)
        assert tokenizer.decode_batch([ids, ids], errors=errors) == \
            [data.decode("utf-8", errors)] * 2
    assert tokenizer.decode(ids) == data.decode("utf-8", "replace")
    try:
        want = data.decode("utf-8")
    except UnicodeDecodeError as e:
        with pytest.raises(InputError, match=f"not UTF-8 \\(0x{data[e.start]:02x} at byte "
                                             f"{e.start}\\).*errors='replace'"):
            tokenizer.decode(ids, errors="strict")
    else:
        assert tokenizer.decode(ids, errors="strict") == want


def test_decode_refuses_unknown_error_handlers(tokenizer):
    # names bytes.decode does not know, and handlers for encoding only
    for errors in ("bogus", 3, None, "xmlcharrefreplace", "namereplace"):
        with pytest.raises(InputError, match="errors must be"):
            tokenizer.decode([50], errors=errors)
        with pytest.raises(InputError, match="errors must be"):
            tokenizer.decode_batch([[50]], errors=errors)


def test_lone_surrogates_are_refused(tokenizer):
    with pytest.raises(InputError, match="surrogate"):
        tokenizer.encode("a\ud800b")


def test_encode_bytes(tokenizer):
    assert tokenizer.encode_bytes(b"hello\xff") == \
        [tokenizer.piece_to_id(b"hello"), tokenizer.piece_to_id(b"\xff")]


@pytest.mark.parametrize("num_threads", [None, 1, 2])
def test_encode_batch_equals_encode(tokenizer, num_threads):
    texts = ["hello world\n", "", "中文 the\r\n", "e\u0301", "\n\n\n", "the world"] * 3000
    expected = [tokenizer.encode(t) for t in texts]
    got = tokenizer.encode_batch(texts, num_threads=num_threads)
    assert got == expected
    # plain ints (shared int objects, not numpy scalars): JSON and pickle take them as ints
    assert {type(i) for ids in got for i in ids} == {int}
    assert json.loads(json.dumps(got[:6])) == expected[:6]
    assert tokenizer.encode_batch(texts, num_threads=num_threads, add_bos=True, add_eos=True) \
        == [[1] + e + [2] for e in expected]
    assert tokenizer.decode_batch(expected) == [unicodedata.normalize("NFC", t) for t in texts]
    assert tokenizer.encode_batch([]) == []


def test_pipelined_batch_equals_one_part(tokenizer, monkeypatch):
    """Many small parts (each joined, normalized and segmented on its own) give the
    same ids, and the same samples, as one part."""
    import bytepiece.tokenizer as module

    texts = ["hello world\n", "", "中文 the\r\n", "cafe\u0301 x", "\n\n", "the 世界"] * 500
    one_part = tokenizer.encode_batch(texts, num_threads=1)
    tokenizer.set_seed(3)
    sampled = tokenizer.encode_batch(texts, num_threads=1, alpha=0.2)
    monkeypatch.setattr(module, "PART_CHARS", 256)
    assert len(module._part_bounds(texts, 2)) > 10
    assert tokenizer.encode_batch(texts, num_threads=2) == one_part
    tokenizer.set_seed(3)
    assert tokenizer.encode_batch(texts, num_threads=2, alpha=0.2) == sampled
    assert tokenizer.encode_batch(texts, num_threads=2, add_eos=True) == \
        [ids + [2] for ids in one_part]


def test_encode_batch_rejects_bad_arguments(tokenizer):
    with pytest.raises(InputError, match="num_threads"):
        tokenizer.encode_batch(["a"], num_threads=0)
    with pytest.raises(InputError, match="expected str"):
        tokenizer.encode_batch([b"bytes"])
    for num_threads in (1, 2):
        with pytest.raises(InputError, match="expected str texts, got int"):
            tokenizer.encode_batch(["a", "b", 3], num_threads=num_threads)

    class Text(str):
        pass

    class Lying(str):
        def __len__(self):
            return 1

    assert tokenizer.encode_batch([Text("hello"), "hello"]) == [tokenizer.encode("hello")] * 2
    with pytest.raises(InputError, match="len"):  # its offsets would point outside the text
        tokenizer.encode_batch([Lying("hello world"), "x"])


def test_shared_between_threads(tokenizer):
    texts = [f"hello {i} world the {i * 7}\n" for i in range(2000)]
    expected = tokenizer.encode_batch(texts, num_threads=1)
    results = {}

    def work(k):
        results[k] = [tokenizer.encode(t) for t in texts]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results.values())


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_round_trip_of_any_text(text):
    tokenizer = _shared()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return  # lone surrogates: refused, tested above
    nfc = unicodedata.normalize("NFC", text)
    pieces = tokenizer.tokenize(text)
    assert b"".join(pieces) == nfc.encode()
    assert tokenizer.decode(tokenizer.encode(text)) == nfc
    assert tokenizer.decode(tokenizer.encode(text, alpha=0.1)) == nfc


@given(st.binary(max_size=200))
@settings(max_examples=200, deadline=None)
def test_round_trip_of_any_bytes(data):
    tokenizer = _shared()
    ids = tokenizer.encode_bytes(data)
    assert tokenizer.decode_bytes(ids) == data


_TOKENIZER = []


def _shared() -> Tokenizer:
    if not _TOKENIZER:
        _TOKENIZER.append(Tokenizer(make_model(PIECES)))
    return _TOKENIZER[0]


def test_one_call_at_a_time_moves_on_to_the_kernel(monkeypatch):
    """Single calls start in plain Python (no numba import for a few lines) and go to the
    kernel once SMALL_BUDGET bytes went through Python; the ids are the same either way."""
    import bytepiece.tokenizer as module
    from bytepiece import small

    monkeypatch.setattr(module, "SMALL_BUDGET", 200)
    tokenizer = Tokenizer(make_model(PIECES))
    texts = [f"hello world {i}\n中文 the\r\n" for i in range(40)]
    trie = tokenizer._trie
    expected = []
    for text in texts:
        data = text.encode()
        ids, _ = small.segment(np.frombuffer(data, np.uint8), np.array([len(data)]), True,
                               trie.nodes, trie.value, trie.logp, trie.pair)
        expected.append(ids.tolist())
    got = []
    for text in texts[:5]:
        got.append(tokenizer.encode(text))
    assert tokenizer._segment is None  # 5 texts of 27 bytes: still under the budget
    got += [tokenizer.encode(text) for text in texts[5:]]
    assert tokenizer._segment is not None
    assert got == expected
    assert [tokenizer.encode_bytes(t.encode()) for t in texts] == expected


@pytest.mark.parametrize("buf, text_ends, message", [
    (np.zeros(1 << 20, np.uint8), np.array([5, (1 << 20) + 1]),
     r"text_ends\[1\] is 1048577, past the end of buf \(1048576 bytes\)"),
    (np.zeros(10, np.uint8), np.array([-1, 5]), r"text_ends\[0\] is -1: offsets cannot be negative"),
    (np.zeros(10, np.uint8), np.array([2, 8, 3, 9]),
     r"text_ends must not decrease: text_ends\[2\] is 3, after 8"),
    (np.zeros(10, np.int8), np.array([10]), "buf must be a 1-d array of uint8, got a 1-d array of int8"),
    (np.zeros((2, 5), np.uint8), np.array([10]), "buf must be a 1-d array of uint8, got a 2-d"),
    (np.zeros(20, np.uint8)[::2], np.array([10]), r"buf must be contiguous"),
    (b"hello", np.array([5]), "buf must be a numpy array of uint8, got bytes"),
    (np.zeros(10, np.uint8), np.array([5.0]), "text_ends must be a 1-d array of int64, got a 1-d array of float64"),
    (np.zeros(10, np.uint8), [5, 10], "text_ends must be a numpy array of int64, got list"),
    (np.zeros(10, np.uint8), np.array([5], ">i8"), "text_ends must be a 1-d array of int64"),
])
def test_encode_buffer_refuses_arrays_the_kernel_cannot_take(tokenizer, buf, text_ends, message):
    """Ends past the buffer, negative or decreasing used to read and write out of bounds."""
    for num_threads in (1, 2):
        with pytest.raises(InputError, match=message):
            tokenizer.encode_buffer(buf, text_ends, num_threads=num_threads)


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": "0.1"}, "alpha must be a number"), ({"split_lines": 1}, "split_lines"),
    ({"num_threads": 1.5}, "num_threads"), ({"seed": -1}, "seed must be an integer"),
    ({"seed": 2**64}, "seed must be an integer"),
])
def test_encode_buffer_refuses_bad_options(tokenizer, kwargs, message):
    buf = np.frombuffer(b"hello world", np.uint8)
    with pytest.raises(InputError, match=message):
        tokenizer.encode_buffer(buf, np.array([5, 11]), **kwargs)


def test_encode_buffer_takes_its_edge_cases(tokenizer):
    buf = np.frombuffer(b"hello world", np.uint8)
    for ends in ([], [0], [0, 0, 11], [11, 11], [5, 11]):
        ids, token_ends = tokenizer.encode_buffer(buf, np.array(ends, np.int64))
        texts = [b"hello world"[a:b] for a, b in zip([0] + ends, ends)]
        assert [tokenizer.encode_bytes(t) for t in texts] == \
            [ids[a:b].tolist() for a, b in zip([0] + token_ends.tolist(), token_ends.tolist())]
    ids, _ = tokenizer.encode_buffer(buf, np.array([11]), seed=2**64 - 1, alpha=0.1)
    assert tokenizer.decode(ids) == "hello world"


@pytest.mark.parametrize("call, message", [
    (lambda t: t.encode(b"bytes"), "expected a str text, got bytes"),
    (lambda t: t.encode_bytes("text"), "expected bytes, got str"),
    (lambda t: t.encode("x", alpha=None), "alpha must be a number"),
    (lambda t: t.encode_batch("one text"), "expected a sequence of str texts, got str"),
    (lambda t: t.encode_batch(5), "expected a sequence of str texts, got int"),
    (lambda t: t.decode(5), "expected a list of ids, got int"),
    (lambda t: t.decode(np.zeros((2, 2), np.int64)), "ids must be a 1-d array"),
    (lambda t: t.decode_batch(5), "expected a list of id lists, got int"),
    (lambda t: Tokenizer(5), "expected a model file path, a pieces dict or a Model, got int"),
])
def test_public_methods_refuse_wrong_types_with_input_error(tokenizer, call, message):
    with pytest.raises(InputError, match=message):
        call(tokenizer)


def test_encode_bytes_takes_bytes_like_objects(tokenizer):
    want = tokenizer.encode_bytes(b"hello \xff")
    assert tokenizer.encode_bytes(bytearray(b"hello \xff")) == want
    assert tokenizer.encode_bytes(memoryview(b"hello \xff")) == want


def test_a_model_object_is_checked_before_it_is_compiled():
    from bytepiece import Model, ModelError

    good = Model.from_dict(make_model(PIECES))
    assert Tokenizer(good).encode("hello") == Tokenizer(make_model(PIECES)).encode("hello")
    for pieces, counts, message in (
            (good.pieces[1:], good.counts[1:], "every single byte"),
            (good.pieces + [b"hello"], np.append(good.counts, 1), "distinct"),
            (good.pieces[:-1] + [b""], good.counts, "non-empty bytes"),
            (good.pieces, good.counts.astype(np.float64), "int64"),
            (good.pieces, -good.counts, "positive")):
        with pytest.raises(ModelError, match=message):
            Tokenizer(Model(pieces, counts))
