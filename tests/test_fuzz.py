"""Fuzzing: mutated model files and arbitrary text never crash the process.

A model either loads (and then encodes and decodes consistently) or is refused
with ModelError; text of any kind either round-trips or is refused with
InputError (lone surrogates). Anything else -- another exception, a hang, a
segfault in a kernel fed unchecked indices -- fails the test.
"""

from __future__ import annotations

import json
import unicodedata

from hypothesis import HealthCheck, given, settings, strategies as st

from bytepiece import Tokenizer
from bytepiece.errors import InputError, ModelError
from bytepiece.model import Model
from conftest import make_model

BASE = make_model({b"ab": 9, b"abc": 4, "中文".encode(): 6, b"\n\n": 3})
BASE_TEXT = json.dumps(BASE).encode()


def _check_loaded(model: Model):
    tokenizer = Tokenizer(model)
    for text in ["abc 中文\n\nx", "", "\x00\xff"]:
        ids = tokenizer.encode(text)
        assert all(0 <= i < tokenizer.vocab_size for i in ids)
        assert tokenizer.decode(ids) == unicodedata.normalize("NFC", text)


byte_edit = st.tuples(st.sampled_from(["delete", "insert", "replace"]),
                      st.integers(0, len(BASE_TEXT) - 1), st.binary(min_size=1, max_size=8))


@given(st.lists(byte_edit, min_size=1, max_size=4))
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_byte_mutated_models(edits):
    raw = bytearray(BASE_TEXT)
    for kind, pos, data in edits:
        pos %= max(1, len(raw))
        if kind == "delete":
            del raw[pos:pos + len(data)]
        elif kind == "insert":
            raw[pos:pos] = data
        else:
            raw[pos:pos + len(data)] = data
    try:
        model = Model.from_json(bytes(raw), "fuzz.json")
    except ModelError as e:
        assert "fuzz.json" in str(e) and "\n" not in str(e)
        return
    _check_loaded(model)


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=3),
    max_leaves=6)


@given(st.sampled_from(sorted(BASE)), st.integers(0, 2), json_value)
@settings(max_examples=1500, deadline=None)
def test_field_mutated_models(key, field, value):
    """One field of one entry replaced by any JSON value."""
    pieces = json.loads(BASE_TEXT)
    entry = pieces[key]
    entry[field] = value
    try:
        model = Model.from_dict(pieces, "fuzz.json")
    except ModelError as e:
        assert "fuzz.json" in str(e)
        return
    _check_loaded(model)


TOKENIZER = Tokenizer(BASE)


@given(st.text(max_size=60))
@settings(max_examples=1500, deadline=None)
def test_any_text_round_trips_or_is_refused(text):
    try:
        ids = TOKENIZER.encode(text)
    except InputError as e:
        assert "surrogate" in str(e)
        return
    assert TOKENIZER.decode(ids) == unicodedata.normalize("NFC", text)
    assert b"".join(TOKENIZER.tokenize(text)) == unicodedata.normalize("NFC", text).encode()
    assert TOKENIZER.encode_batch([text, text], num_threads=2) == [ids, ids]
    sampled = TOKENIZER.encode(text, alpha=0.5, add_bos=True, add_eos=True)
    assert TOKENIZER.decode(sampled) == unicodedata.normalize("NFC", text)


@given(st.binary(max_size=80))
@settings(max_examples=1500, deadline=None)
def test_any_bytes_segment_exactly(data):
    ids = TOKENIZER.encode_bytes(data)
    assert TOKENIZER.decode_bytes(ids) == data


@given(st.lists(st.integers(-2**40, 2**40), max_size=20))
@settings(max_examples=1000, deadline=None)
def test_any_ids_decode_or_are_refused(ids):
    try:
        text = TOKENIZER.decode(ids)
    except InputError as e:
        assert "out of range" in str(e)
        assert any(not 0 <= i < TOKENIZER.vocab_size for i in ids)
        return
    assert isinstance(text, str)


def _sentencepiece_model() -> bytes:
    from bytepiece.convert.sentencepiece import to_sentencepiece

    return to_sentencepiece(Model.from_dict(BASE))


SP_MODEL = _sentencepiece_model()


@given(st.lists(st.tuples(st.sampled_from(["delete", "insert", "replace"]),
                          st.integers(0, len(SP_MODEL) - 1), st.binary(min_size=1, max_size=6)),
                min_size=1, max_size=3))
@settings(max_examples=1000, deadline=None)
def test_mutated_sentencepiece_models(edits):
    """The hand-written protobuf reader on damaged .model files: a model or ModelError."""
    from bytepiece.convert.sentencepiece import from_sentencepiece

    raw = bytearray(SP_MODEL)
    for kind, pos, data in edits:
        pos %= max(1, len(raw))
        if kind == "delete":
            del raw[pos:pos + len(data)]
        elif kind == "insert":
            raw[pos:pos] = data
        else:
            raw[pos:pos + len(data)] = data
    try:
        conversion = from_sentencepiece(bytes(raw), "fuzz.model")
    except ModelError as e:
        assert "fuzz.model" in str(e) and "\n" not in str(e)
        return
    _check_loaded(conversion.model)


@given(st.binary(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_bytes_to_decode(data):
    """Whatever ``bytepiece decode`` reads: text back (status 0) or one line (status 1)."""
    status, out, err = _cli(["decode", "-m", _model_file()], data)
    assert status in (0, 1)
    assert err.count("\n") == (status == 1) and "Traceback" not in err


@given(st.binary(max_size=40), st.sampled_from(["ids", "pieces", "jsonl", "bin"]),
       st.sampled_from(["strict", "replace", "ignore"]))
@settings(max_examples=300, deadline=None)
def test_any_bytes_to_encode(data, fmt, errors):
    """Whatever ``bytepiece encode`` reads: ids, or one line naming the bad byte."""
    status, out, err = _cli(["encode", "-m", _model_file(), "--format", fmt, "--errors",
                             errors], data)
    try:
        text = data.decode("utf-8", errors)
    except UnicodeDecodeError as e:
        assert status == 1 and err == (f"bytepiece: error: <stdin>: invalid UTF-8 at byte "
                                       f"{e.start} (use --errors replace or --errors ignore "
                                       f"to go on)\n")
        return
    assert status == 0, err
    if fmt == "ids":
        status, back, err = _cli(["decode", "-m", _model_file()], out)
        assert status == 0 and back == unicodedata.normalize("NFC", text).encode()


_FILES: list = []


def _model_file() -> str:
    if not _FILES:
        import tempfile

        folder = tempfile.mkdtemp(prefix="bytepiece-fuzz-")
        path = f"{folder}/m.json"
        Model.from_dict(BASE).save(path)
        _FILES.append(path)
    return _FILES[0]


def _cli(args, stdin: bytes):
    import click
    from click.testing import CliRunner

    from bytepiece_cli.main import main

    @click.command(context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def entry(args):
        main(list(args))

    result = CliRunner().invoke(entry, args, input=stdin)
    return result.exit_code, result.stdout_bytes, result.stderr
