"""Offsets: ``encode_with_offsets`` and ``encode_batch(offsets=True)`` against the
reference, their properties on arbitrary text (non-NFC included), and bad input."""

from __future__ import annotations

import json
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import reference
from bytepiece import InputError, Tokenizer
from bytepiece.offsets import nfc_alignment
from conftest import make_model

PIECES = {b"hello": 50, b" world": 40, "é".encode(): 7, "中文".encode(): 11, b"\r\n": 8,
          "각".encode(): 6, "👩\u200d".encode(): 5, "\u0301".encode(): 4, "ạ".encode(): 3,
          b"e": 20, b"ll": 9}

#: Characters that NFC composes, decomposes or reorders, and others around them.
INTERESTING = list("ae\u0301\u0323\u0308q\u0344\u0340Ké中文 \r\n\t!") + [
    "\u1100", "\u1161", "\u11a8", "가", "\u212b", "\u212a", "\u0958", "\u09c7", "\u09be",
    "\u0f73", "\ufb2c", "\uf900", "\U0001f468", "\u200d", "\U0001f469", "\U0001f3fb",
    "\ufe0f", "\u0928", "\u093c", "\U0001d15e", "\u0301\u0323"]
TEXTS = st.lists(st.one_of(st.sampled_from(INTERESTING),
                           st.characters(blacklist_categories=("Cs",))),
                 max_size=24).map("".join)


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(make_model(PIECES))


def pairs(result):
    """``(ids, offsets)`` with the offsets as a list of (start, end) tuples."""
    ids, offsets = result
    assert offsets.dtype == np.int64 and offsets.shape == (len(ids), 2)
    return ids, [tuple(row) for row in offsets.tolist()]


def expected(tokenizer, text):
    """``encode_with_offsets`` of the reference: the pieces of ``encode`` and their spans."""
    ids = tokenizer.encode(text)
    pieces = [tokenizer.id_to_piece(i) for i in ids]
    return ids, reference.token_offsets(pieces, text)


def groups(offsets):
    """Runs of consecutive tokens whose spans overlap: (first token, end token, start, end)."""
    out = []
    for k, (s, e) in enumerate(offsets):
        if out and s < out[-1][3]:
            out[-1][1:] = [k + 1, out[-1][2], max(out[-1][3], e)]
        else:
            out.append([k, k + 1, s, e])
    return out


def check_properties(tokenizer, text, ids, offsets):
    assert len(offsets) == len(ids)
    if not text:
        assert offsets == []
        return
    assert offsets[0][0] == 0 and offsets[-1][1] == len(text)
    for (s0, e0), (s1, e1) in zip(offsets, offsets[1:]):
        assert s0 <= s1 and e0 <= e1  # ordered
        assert s1 == e0 or (s1, e1) == (s0, e0) or s1 < e0  # touch or share characters
        assert s1 <= e0  # no gap
    for s, e in offsets:
        assert 0 <= s < e <= len(text)
    for first, end, s, e in groups(offsets):
        assert tokenizer.decode_bytes(ids[first:end]) == \
            unicodedata.normalize("NFC", text[s:e]).encode()


@pytest.mark.parametrize("text, spans", [
    ("e\u0301", [(0, 2)]),  # composed into é: one token over both characters
    ("\u1100\u1161\u11a8!", [(0, 3), (3, 4)]),  # three jamo make the syllable 각
    ("\u212a", [(0, 1)]),  # KELVIN SIGN is K
    ("a\u0301\u0323", [(0, 3)] * 2),  # ạ + U+0301: both from the three characters
    ("q\u0301\u0323", [(0, 1), (1, 3), (1, 3), (1, 3)]),  # marks reordered: U+0323 in bytes
    ("中文\r\n", [(0, 2), (2, 4)]),
    ("", []),
])
def test_hand_computed(tokenizer, text, spans):
    ids, offsets = pairs(tokenizer.encode_with_offsets(text))
    assert ids == tokenizer.encode(text)
    assert offsets == spans


def test_partial_characters_share_their_span(tokenizer):
    ids, offsets = pairs(tokenizer.encode_with_offsets("x中"))
    assert [tokenizer.id_to_piece(i) for i in ids] == [b"x", b"\xe4", b"\xb8", b"\xad"]
    assert offsets == [(0, 1), (1, 2), (1, 2), (1, 2)]


def test_bos_and_eos(tokenizer):
    ids, offsets = pairs(tokenizer.encode_with_offsets("hello", add_bos=True, add_eos=True))
    assert ids == [1, tokenizer.piece_to_id(b"hello"), 2]
    assert offsets == [(0, 0), (0, 5), (5, 5)]
    batch = tokenizer.encode_batch(["", "e\u0301", "hello"], add_bos=True, add_eos=True,
                                   offsets=True)
    assert list(map(pairs, batch)) == [
        ([1, 2], [(0, 0), (0, 0)]),
        ([1, tokenizer.piece_to_id("é"), 2], [(0, 0), (0, 2), (2, 2)]),
        ([1, tokenizer.piece_to_id(b"hello"), 2], [(0, 0), (0, 5), (5, 5)])]
    batch = tokenizer.encode_batch(["e\u0301", "", "hello"], add_eos=True, offsets=True)
    assert list(map(pairs, batch)) == [([tokenizer.piece_to_id("é"), 2], [(0, 2), (2, 2)]),
                                       ([2], [(0, 0)]),
                                       ([tokenizer.piece_to_id(b"hello"), 2], [(0, 5), (5, 5)])]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_against_reference_and_properties(tokenizer, text):
    ids, offsets = pairs(tokenizer.encode_with_offsets(text))
    assert (ids, offsets) == expected(tokenizer, text)
    check_properties(tokenizer, text, ids, offsets)


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_alignment_against_reference(text):
    normalized, starts, ends = nfc_alignment(text)
    assert normalized == unicodedata.normalize("NFC", text)
    assert list(zip(starts.tolist(), ends.tolist())) == reference.nfc_alignment(text)


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(TEXTS, max_size=6))
def test_batch_is_each_text(small_tokenizer, texts):
    out = list(map(pairs, small_tokenizer.encode_batch(texts, num_threads=1, offsets=True)))
    assert out == [expected(small_tokenizer, t) for t in texts]
    assert [ids for ids, _ in out] == small_tokenizer.encode_batch(texts, num_threads=1)
    for text, (ids, offsets) in zip(texts, out):
        check_properties(small_tokenizer, text, ids, offsets)


def test_large_batches_on_threads_and_sampling(small_tokenizer):
    """Batches large enough for the kernel and for the multi-threaded pipeline (several
    parts), NFC and not, give each text's offsets; so do sampled segmentations."""
    lines = ["Hello wörld, 中文 e\u0301\u0323 \U0001f468\u200d\U0001f469 " * (k % 7 + 1) + "\r\n"
             for k in range(2000)]
    lines[5] = "plain ascii line\n"
    for texts in (lines, [unicodedata.normalize("NFC", t) for t in lines],
                  ["ascii only %d\n" % k for k in range(5000)]):
        one = list(map(pairs, small_tokenizer.encode_batch(texts, num_threads=1, offsets=True)))
        assert list(map(pairs, small_tokenizer.encode_batch(texts, num_threads=2,
                                                           offsets=True))) == one
        for k in (0, 5, 1999):
            assert one[k] == expected(small_tokenizer, texts[k])
    sampler = Tokenizer(small_tokenizer._model, seed=1)
    sampled = map(pairs, sampler.encode_batch(lines[:300], alpha=0.1, offsets=True,
                                              num_threads=1))
    for text, (ids, offsets) in zip(lines, sampled):
        check_properties(sampler, text, ids, offsets)
        pieces = [sampler.id_to_piece(i) for i in ids]
        assert offsets == reference.token_offsets(pieces, text)


def test_default_return_unchanged(small_tokenizer):
    assert small_tokenizer.encode_batch(["hi there", "x"]) == \
        [small_tokenizer.encode("hi there"), small_tokenizer.encode("x")]


def test_bad_input(tokenizer):
    with pytest.raises(InputError, match="^offsets must be True or False, got 'yes'$"):
        tokenizer.encode_batch(["x"], offsets="yes")
    with pytest.raises(InputError, match="^expected a str text, got bytes$"):
        tokenizer.encode_with_offsets(b"x")
    with pytest.raises(InputError, match="lone surrogate"):
        tokenizer.encode_with_offsets("a\ud800")


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(TEXTS, max_size=5))
def test_kernel_and_numpy_spans(small_tokenizer, texts):
    """The kernel and its numpy twin give each token's NFC characters, per text."""
    from bytepiece._kernels.offsets import nfc_char_spans as kernel
    from bytepiece.offsets import nfc_char_spans, piece_char_tables

    texts = [unicodedata.normalize("NFC", t) for t in texts]
    data = [t.encode() for t in texts]
    buf = np.frombuffer(b"".join(data), np.uint8)
    text_ends = np.cumsum([0] + [len(d) for d in data], dtype=np.int64)[1:]
    ids, token_ends = small_tokenizer.encode_buffer(buf, text_ends)
    tables = piece_char_tables(*small_tokenizer.piece_table())
    want = []
    for text, a, b in zip(texts, [0] + token_ends.tolist(), token_ends.tolist()):
        want += reference.token_offsets([small_tokenizer.id_to_piece(i) for i in ids[a:b]],
                                        text)
    for spans in (kernel(ids, token_ends, *tables), nfc_char_spans(ids, token_ends, *tables)):
        assert spans.dtype == np.int64 and spans.shape == (len(ids), 2)
        assert [tuple(row) for row in spans.tolist()] == want


# -- the command line ----------------------------------------------------------------

CLI_TEXT = "Hello world\ne\u0301t\u00e9 \u4e2d\u6587\r\n\n\u1100\u1161\u11a8 \U0001f468\u200d\U0001f469\nlast"


def cli(args, input=None):
    from conftest import invoke_cli

    result = invoke_cli(["encode", "-m", *args], input=input)
    return result.exit_code, result.stdout_bytes, result.stderr


def lines_of(text):
    """The lines of ``text`` as the command reads them, each with its newline."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


@pytest.mark.parametrize("extra", [[], ["--bos", "--eos"], ["--threads", "2"]])
def test_cli_jsonl_offsets(small_model_path, small_tokenizer, tmp_path, extra):
    path = tmp_path / "in.txt"
    path.write_bytes(CLI_TEXT.encode())
    status, out, err = cli([small_model_path, "--format", "jsonl", "--offsets", *extra,
                            str(path)])
    assert status == 0, err
    records = [json.loads(line) for line in out.decode().splitlines()]
    lines = lines_of(CLI_TEXT)
    assert len(records) == len(lines) == 5
    bos_eos = "--bos" in extra
    for line, record in zip(lines, records):
        ids, offsets = small_tokenizer.encode_with_offsets(line, add_bos=bos_eos,
                                                           add_eos=bos_eos)
        assert record == {"ids": ids, "offsets": offsets.tolist()}
    # é from e + U+0301, in two byte pieces
    assert records[1]["offsets"][bos_eos:bos_eos + 2] == [[0, 2], [0, 2]]
    # the ids are those of --format jsonl without offsets
    _, plain, _ = cli([small_model_path, "--format", "jsonl", *extra, str(path)])
    assert [json.loads(line)["ids"] for line in plain.decode().splitlines()] == \
        [r["ids"] for r in records]


def test_cli_offsets_of_documents_and_samples(small_model_path, small_tokenizer, tmp_path):
    documents = ["one e\u0301\nwith a newline", "", "zwei \u212a"]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in documents))
    status, out, err = cli([small_model_path, "--format", "jsonl", "--offsets",
                            "--jsonl-field", "text", str(path)])
    assert status == 0, err
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["offsets"] for r in records] == \
        [small_tokenizer.encode_with_offsets(d)[1].tolist() for d in documents]
    args = [small_model_path, "--format", "jsonl", "--alpha", "0.5", "--seed", "7"]
    _, sampled, _ = cli([*args, "--offsets"], input=CLI_TEXT * 20)
    _, plain, _ = cli(args, input=CLI_TEXT * 20)
    records = [json.loads(line) for line in sampled.decode().splitlines()]
    assert [r["ids"] for r in records] == \
        [json.loads(line)["ids"] for line in plain.decode().splitlines()]
    for line, record in zip(lines_of(CLI_TEXT * 20), records):
        pieces = [small_tokenizer.id_to_piece(i) for i in record["ids"]]
        assert record["offsets"] == [list(p) for p in reference.token_offsets(pieces, line)]


@pytest.mark.parametrize("fmt", ["ids", "pieces", "bin", "npy"])
def test_cli_offsets_need_jsonl(small_model_path, fmt):
    status, out, err = cli([small_model_path, "--format", fmt, "--offsets"], input="hi\n")
    assert status == 2 and out == b""
    assert f"--offsets goes with --format jsonl (offsets are written beside the ids), not " \
           f"--format {fmt}" in err
