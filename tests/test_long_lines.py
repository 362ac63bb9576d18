"""Lines too long to hold: segmented in a sliding window with the ids of the whole line.

The claim (``bytepiece.streaming``): the window's ids equal the kernel's on the
whole chunk unless the segmentation stays undecided over a whole window, which
``forced_cuts`` reports. Windows of a few hundred bytes make both cases easy to
reach here; the CLI's are 4 MB.
"""

from __future__ import annotations

import contextlib
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bytepiece import Tokenizer
from bytepiece._kernels.viterbi import segment
from bytepiece.streaming import LongChunkSegmenter, iter_nfc, iter_utf8, stable_before
from conftest import CORPORA, FIXTURES, make_model

MODEL = FIXTURES / "models" / "ref-mixed-8k.json"


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer(MODEL)


def _whole(tokenizer, data: bytes, alpha=-1.0, seed=0) -> np.ndarray:
    trie = tokenizer._trie
    ids, _ = segment(np.frombuffer(data, np.uint8), np.array([len(data)], np.int64), True,
                     trie.nodes, trie.value, trie.logp, trie.pair, alpha, np.uint64(seed), 0)
    return ids


def _streamed(tokenizer, data: bytes, sizes, window, alpha=-1.0, seed=0):
    longest = max(map(len, tokenizer._id_to_bytes))
    segmenter = LongChunkSegmenter(tokenizer._trie, longest, alpha, seed, window=window)
    parts, start, k = [], 0, 0
    while start < len(data):
        size = sizes[k % len(sizes)]
        parts.append(segmenter.feed(data[start:start + size]))
        # memory: the bytes not yet decided, at most a window plus a feed and a piece
        assert segmenter.buf.shape[0] <= window + size + 2 * longest
        start += size
        k += 1
    parts.append(segmenter.finish())
    return np.concatenate(parts), segmenter


@pytest.mark.parametrize("name", ["en.txt", "zh.txt", "code.txt", "mixed.txt"])
def test_corpora_as_one_line_give_the_ids_of_the_whole(tokenizer, name):
    """200 kB of each corpus with its newlines made spaces, fed in small uneven
    pieces through a 256-byte window: the paths always meet in time, exactly."""
    data = (CORPORA / name).read_bytes()[:200_000].replace(b"\n", b" ") + b"\n"
    for alpha in (-1.0, 0.2):
        want = _whole(tokenizer, data, alpha, seed=9)
        got, segmenter = _streamed(tokenizer, data, [97, 1000, 3, 4096], 256, alpha, seed=9)
        assert segmenter.forced_cuts == 0
        assert np.array_equal(got, want)


PIECES = [b"a", b"b", b"ab", b"ba", b"aa", b"aaa", b"bab", b"abab", b"\xe4\xb8\xad"]


@given(st.dictionaries(st.sampled_from(PIECES[2:]), st.integers(1, 50), min_size=1),
       st.lists(st.sampled_from([b"a", b"b", b"ab", b" ", b"\xe4\xb8\xad", b"\xe4"]),
                max_size=300),
       st.lists(st.integers(1, 40), min_size=1, max_size=5),
       st.integers(8, 64), st.sampled_from([-1.0, 0.5]))
@settings(max_examples=400, deadline=None)
def test_any_text_any_window(counts, words, sizes, window, alpha):
    """Few letters, so paths stay apart for long: exact unless a cut was forced, and
    a segmentation of the text either way."""
    tokenizer = _small_tokenizer(tuple(sorted(counts.items())))
    data = b"".join(words)
    want = _whole(tokenizer, data, alpha, seed=3)
    got, segmenter = _streamed(tokenizer, data, sizes, window, alpha, seed=3)
    assert tokenizer.decode_bytes(got.tolist()) == data
    if segmenter.forced_cuts == 0:
        assert np.array_equal(got, want)


def test_runs_that_never_decide_are_cut_and_reported():
    """'aaaa...' with the piece 'aa': where the odd 'a' goes depends on the length of the
    whole run, so no window shorter than the run can know it."""
    tokenizer = _small_tokenizer(((b"aa", 10),))
    for n in (2000, 2001):
        data = b"a" * n
        got, segmenter = _streamed(tokenizer, data, [50], 100)
        assert segmenter.forced_cuts > 0
        assert tokenizer.decode_bytes(got.tolist()) == data
        assert len(got) == (n + 1) // 2  # still as few pieces as the best path
        got, segmenter = _streamed(tokenizer, data, [50], 4000)  # a window as long as the run
        assert segmenter.forced_cuts == 0 and np.array_equal(got, _whole(tokenizer, data))


_TOKENIZERS: dict = {}


def _small_tokenizer(counts) -> Tokenizer:
    if counts not in _TOKENIZERS:
        _TOKENIZERS[counts] = Tokenizer(make_model(dict(counts)))
    return _TOKENIZERS[counts]


# -- decoding and NFC in pieces ------------------------------------------------

TRICKY = ["a", "e", "\u0301", "\u0327", "\u0308", "\u0344", "é", "\u1100", "\u1161", "\u11a8",
          "\uac00", "\u0b47", "\u0b3e", "\u0dd9", "\u0dcf", "\u2126", "\u212b", "中", "\n",
          "\u0f73", "\u1e0a", "\u0323", "\u00c5", "\U0001d15e", "\U0001d165", "\u3099", "か"]


@given(st.lists(st.sampled_from(TRICKY), max_size=80), st.lists(st.integers(0, 80), max_size=6))
@settings(max_examples=1000, deadline=None)
def test_nfc_in_pieces_is_nfc_of_the_whole(chars, cuts):
    text = "".join(chars)
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    parts = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    assert "".join(iter_nfc(parts)) == unicodedata.normalize("NFC", text)


def test_stable_characters():
    assert all(stable_before(c) for c in "a\n中\uac00か")
    # combining marks, vowel and final jamo, a precomposed letter, a singleton, a vowel
    # sign that composes with what precedes it
    assert not any(stable_before(c) for c in "\u0301\u1161\u11a8é\u2126\u0b3e\u3099")


@given(st.binary(max_size=60), st.lists(st.integers(0, 60), max_size=6),
       st.sampled_from(["replace", "ignore", "strict"]))
@settings(max_examples=1000, deadline=None)
def test_utf8_in_pieces_is_utf8_of_the_whole(data, cuts, errors):
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    parts = [data[a:b] for a, b in zip(bounds, bounds[1:])]

    def decode(block: bytes, offset: int) -> str:
        try:
            return block.decode("utf-8", errors)
        except UnicodeDecodeError as e:
            raise ValueError(offset + e.start) from None

    try:
        whole = decode(data, 0)
    except ValueError as e:
        with pytest.raises(ValueError) as info:
            list(iter_utf8(parts, decode))
        assert info.value.args == e.args  # the same byte offset
        return
    assert "".join(iter_utf8(parts, decode)) == whole


# -- the command line ------------------------------------------------------------

@contextlib.contextmanager
def _small_blocks(small: bool = True):
    """Blocks of 64 bytes and 200-byte windows: lines of a few hundred bytes are 'long'."""
    import bytepiece.streaming
    import bytepiece_cli._common

    names = [(bytepiece_cli._common, "BLOCK_BYTES", 64),
             (bytepiece.streaming, "WINDOW_BYTES", 200), (bytepiece.streaming, "FEED_BYTES", 50)]
    saved = [getattr(module, name) for module, name, _ in names]
    try:
        if small:
            for module, name, value in names:
                setattr(module, name, value)
        yield
    finally:
        for (module, name, _), value in zip(names, saved):
            setattr(module, name, value)


def _run(args, stdin: bytes, small: bool = True):
    """The CLI in-process: (status, stdout bytes, stderr text)."""
    import click
    from click.testing import CliRunner

    from bytepiece_cli.main import main

    @click.command(context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def entry(args):
        main(list(args))

    with _small_blocks(small):
        result = CliRunner().invoke(entry, [str(a) for a in args], input=stdin)
    return result.exit_code, result.stdout_bytes, result.stderr


LINES = ["short\n", "", "\n", "a much longer line, with some words and é and 中文 " * 9 + "\n",
         "x" * 300, "e\u0301" * 70 + "\n", "\r\n", "the end of a line without a newline " * 5]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A small model (quick to load) with pieces for LINES."""
    path = tmp_path_factory.mktemp("model") / "m.json"
    Tokenizer(make_model({b"much": 9, b" long": 8, b"er": 7, b" line": 9,
                          b"e\xcc\x81": 2, "中文".encode(): 5})).save(path)
    return path


@given(lines=st.lists(st.sampled_from(LINES), max_size=8))
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_cli_output_does_not_depend_on_the_block_size(small_model, lines):
    """Every format, through the streamed path and the whole one, byte for byte."""
    text = "".join(lines).encode()
    for fmt in ("ids", "jsonl", "pieces", "bin"):
        args = ["encode", "-m", small_model, "--format", fmt, "--bos", "--eos"]
        small, whole = _run(args, text, small=True), _run(args, text, small=False)
        assert small[0] == 0 and "warning" not in small[2], small
        assert small[:2] == whole[:2]
    _, ids, _ = _run(["encode", "-m", small_model], text)
    status, back, err = _run(["decode", "-m", small_model], ids)
    assert status == 0, err
    assert back == unicodedata.normalize("NFC", text.decode()).encode()


def test_cli_warns_when_a_window_is_cut(tmp_path):
    model = tmp_path / "m.json"
    Tokenizer(make_model({b"aa": 10})).save(model)
    status, out, err = _run(["encode", "-m", model], b"a" * 1001 + b"\n")
    assert status == 0
    assert err.startswith("bytepiece: warning: <stdin>: the 1002-byte line at byte 0 ")
    assert err.count("\n") == 1
    ids = [int(i) for i in out.split()]
    assert Tokenizer(model).decode(ids) == "a" * 1001 + "\n"


def test_cli_reports_invalid_utf8_in_a_long_line_at_its_offset():
    text = b"ok\n" + b"word " * 100 + b"\xff" + b"more " * 50 + b"\n"
    status, _, err = _run(["encode", "-m", MODEL], text)
    assert status == 1
    assert err == ("bytepiece: error: <stdin>: invalid UTF-8 at byte 503 (use "
                   "--errors replace or --errors ignore to go on)\n")
    status, out, _ = _run(["encode", "-m", MODEL, "--errors", "replace"], text)
    assert status == 0
    _, back, _ = _run(["decode", "-m", MODEL], out)
    assert back == text.decode(errors="replace").encode()


def test_cli_reports_a_bad_id_in_a_long_line():
    status, _, err = _run(["decode", "-m", MODEL], b"3 4\n" + b"100 " * 100 + b"1x0 7\n")
    assert status == 1
    assert err == ("bytepiece: error: <stdin>: line 2: '1x0' is not an id of this model "
                   "(0..7998)\n")


# -- training ------------------------------------------------------------------------

@pytest.mark.parametrize("options", [[], ["--docs", "file"], ["--isolate-digits"],
                                     ["--docs", "file", "--isolate-digits", "--order", "3"]])
def test_training_on_long_lines_in_parts_gives_the_same_model(tmp_path, monkeypatch, options):
    """Lines of 30000 characters (over three training chunks), read in blocks of 64 bytes
    and passed on in parts cut at chunk ends: the model of the lines read whole."""
    import bytepiece.corpus

    words = (CORPORA / "tiny" / "en.txt").read_text().replace("\n", " ")
    text = (words * 7)[:30000] + "\n" + "short line 123\n" + "e\u0301\u0323 中文 42" * 800 + "\n"
    corpus = tmp_path / "c.txt"
    corpus.write_text(text * 2 + "no newline at the end")
    models = []
    for block in (1 << 22, 64):
        monkeypatch.setattr(bytepiece.corpus, "BLOCK_BYTES", block)
        out = tmp_path / f"m{block}.json"
        status, _, err = _run(["train", corpus, "-o", out, "--vocab-size", "400", "-q",
                               *options], b"", small=False)
        assert status == 0, err
        models.append(out.read_bytes())
    assert models[0] == models[1]
