"""Encoding a few lines without numpy (``bytepiece.light``, ``cli/_encode_small.py``):
the same ids as the Tokenizer, the usual path whenever this one does not apply, and
no byte of stdin lost in between."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece import Tokenizer
from bytepiece.cache import entry_path
from bytepiece.light import trie_tables
from bytepiece.normalize import nfc
from conftest import invoke_cli

ROOT = Path(__file__).parent.parent
MODEL = ROOT / "tests" / "fixtures" / "models" / "ref-mixed-8k.json"
TEXT = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Z", "Mn")),
               max_size=60)


def _expected(tokenizer: Tokenizer, data: bytes, bos=False, eos=False) -> bytes:
    """The usual path's ids lines, through the Tokenizer (one line per input line)."""
    text = nfc(data.decode())
    lines = re.findall(r"[^\n]*\n|[^\n]+", text)
    out = []
    for line in lines:
        ids = tokenizer.encode(line, add_bos=bos, add_eos=eos)
        out.append(" ".join(map(str, ids)) + "\n")
    return "".join(out).encode()


def test_the_tables_are_the_tokenizers_trie():
    tokenizer = Tokenizer(MODEL)  # writes the cache entry
    tables = trie_tables(str(MODEL))
    trie = tokenizer._trie
    for name in ("nodes", "value", "logp", "pair"):
        assert np.array_equal(np.asarray(getattr(tables, name)), getattr(trie, name)), name


def test_no_tables_without_a_readable_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", str(tmp_path / "cache"))
    assert trie_tables(str(MODEL)) is None  # not cached yet
    Tokenizer(MODEL)
    assert trie_tables(str(MODEL)) is not None
    entry = Path(entry_path(MODEL.read_bytes()))
    entry.write_bytes(entry.read_bytes()[:5000])  # truncated
    assert trie_tables(str(MODEL)) is None
    assert trie_tables(str(tmp_path / "missing.json")) is None
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", "")  # the cache is off
    assert trie_tables(str(MODEL)) is None


def test_an_entry_of_other_types_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("BYTEPIECE_CACHE_DIR", str(tmp_path))
    Tokenizer(MODEL)
    entry = entry_path(MODEL.read_bytes())
    with np.load(entry) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["value"] = arrays["value"].astype(np.int64)
    with open(entry, "wb") as f:
        np.savez(f, **arrays)
    assert trie_tables(str(MODEL)) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, max_size=6))
def test_the_ids_are_the_tokenizers(lines):
    tokenizer = Tokenizer(MODEL)
    tables = trie_tables(str(MODEL))
    data = nfc("\n".join(lines)).encode()
    ends = [i + 1 for i, b in enumerate(data) if b == 10]
    if data and data[-1] != 10:
        ends.append(len(data))
    got = tables.encode_lines(data, ends)
    start = 0
    for end, ids in zip(ends, got):
        assert ids == tokenizer.encode_bytes(data[start:end])
        start = end


def test_the_command_gives_the_usual_ids(tmp_path):
    tokenizer = Tokenizer(MODEL)
    data = "Hello world\n\nnaïve café 你好\n  x".encode()
    for extra, kwargs in (([], {}), (["--bos", "--eos"], {"bos": True, "eos": True})):
        result = invoke_cli(["encode", "-m", MODEL, *extra], input=data)
        assert result.exit_code == 0, result.stderr
        assert result.stdout_bytes == _expected(tokenizer, data, **kwargs)
    file = tmp_path / "a.txt"
    file.write_bytes(data)
    result = invoke_cli(["encode", "-m", MODEL, file, "-", file], input=b"stdin line")
    assert result.stdout_bytes == _expected(tokenizer, data) + _expected(
        tokenizer, b"stdin line") + _expected(tokenizer, data)


def test_stdin_longer_than_the_small_path_loses_nothing():
    from bytepiece.small import SMALL_INPUT

    tokenizer = Tokenizer(MODEL)
    data = ("a line of text, and another one\n" * (SMALL_INPUT // 16)).encode()
    assert len(data) > SMALL_INPUT
    result = invoke_cli(["encode", "-m", MODEL], input=data)
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == _expected(tokenizer, data)


def test_bad_utf8_is_the_same_one_line_error():
    result = invoke_cli(["encode", "-m", MODEL], input=b"ok\n\xff bad\n")
    assert result.exit_code == 1
    assert result.stderr == ("bytepiece: error: <stdin>: invalid UTF-8 at byte 3 (use "
                             "--errors replace or --errors ignore to go on)\n")


def test_a_small_encode_never_imports_numpy(tmp_path):
    env = dict(os.environ, BYTEPIECE_CACHE_DIR=str(tmp_path))
    Tokenizer(MODEL)  # in this process's cache, not the child's: build the child's entry
    argv = [sys.executable, "-X", "importtime", "-m", "bytepiece", "encode", "-m", str(MODEL)]
    first = subprocess.run(argv, input=b"hello\n", capture_output=True, env=env, check=True)
    assert b"numpy" in first.stderr  # no cache entry yet: the usual path builds it
    second = subprocess.run(argv, input=b"hello\n", capture_output=True, env=env, check=True)
    assert b"numpy" not in second.stderr
    assert second.stdout == first.stdout == _expected(Tokenizer(MODEL), b"hello\n")
