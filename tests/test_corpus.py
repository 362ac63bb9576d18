"""``bytepiece.corpus``: every input format gives the same documents, folders and globs
expand in a fixed order, progress in bytes on disk, one-line errors through the CLI."""

from __future__ import annotations

import gzip
import json
import os
import sys

import pytest
import zstandard

import bytepiece.corpus
from bytepiece.corpus import Corpus, expand_inputs
from bytepiece.errors import InputError
from conftest import CORPORA, invoke_cli

TINY = [CORPORA / "tiny" / name for name in ("zh.txt", "en.txt", "code.py")]
TEXT = "".join(p.read_text() for p in TINY)
LINES = TEXT.splitlines(keepends=True)


def _zst(data: bytes) -> bytes:
    """Two frames, as concatenated or parallel compressors write them."""
    c = zstandard.ZstdCompressor()
    half = len(data) // 2
    return c.compress(data[:half]) + c.compress(data[half:])


def _jsonl(lines) -> bytes:
    return "".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(lines)).encode()


def _parquet(path, lines, row_group_size=50):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": list(range(len(lines) + 1)), "text": [*lines[:3], None, *lines[3:]]})
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The tiny corpus as every format: name -> (path, Corpus options)."""
    d = tmp_path_factory.mktemp("formats")
    raw = TEXT.encode()
    files = {"plain": ("c.txt", raw, {}),
             "gz": ("c.txt.gz", gzip.compress(raw), {}),
             "zst": ("c.txt.zst", _zst(raw), {}),
             "jsonl": ("c.jsonl", _jsonl(LINES), {"jsonl_field": "text"}),
             "jsonl.gz": ("c.jsonl.gz", gzip.compress(_jsonl(LINES)), {"jsonl_field": "text"}),
             "jsonl.zst": ("c.jsonl.zst", _zst(_jsonl(LINES)), {"jsonl_field": "text"})}
    out = {}
    for key, (name, data, options) in files.items():
        (d / name).write_bytes(data)
        out[key] = (d / name, options)
    out["parquet"] = (_parquet(d / "c.parquet", LINES), {"text_column": "text"})
    return out


FORMATS = ["plain", "gz", "zst", "jsonl", "jsonl.gz", "jsonl.zst", "parquet"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_gives_the_same_documents(inputs, fmt):
    path, options = inputs[fmt]
    corpus = Corpus([path], **options)
    assert list(corpus) == LINES
    assert list(corpus) == LINES  # re-iterable


@pytest.mark.parametrize("fmt", ["gz", "zst"])
def test_compressed_files_in_small_blocks(inputs, monkeypatch, fmt):
    """Lines and whole files longer than a block come in the same parts as from the
    plain file."""
    monkeypatch.setattr(bytepiece.corpus, "BLOCK_BYTES", 64)
    for docs in ("lines", "file"):
        want = list(Corpus([inputs["plain"][0]], docs=docs))
        assert list(Corpus([inputs[fmt][0]], docs=docs)) == want
        assert "".join(want) == TEXT


@pytest.mark.parametrize("formats, options", [
    (["plain", "gz", "zst", "parquet"], {"text_column": "text"}),
    (["jsonl", "jsonl.gz", "jsonl.zst"], {"jsonl_field": "text"})])
def test_progress_in_bytes_on_disk(inputs, formats, options):
    paths = [inputs[f][0] for f in formats]
    corpus = Corpus(paths, **options)
    assert corpus.size_bytes == sum(os.path.getsize(p) for p in paths)
    for _ in range(2):
        seen = [corpus.bytes_read for _ in corpus]
        assert 0 < seen[0] <= os.path.getsize(paths[0])
        assert seen == sorted(seen)
        assert corpus.bytes_read == corpus.size_bytes


def test_parquet_progress_and_fingerprint(inputs):
    # Parquet: in proportion to the row groups read
    path = inputs["parquet"][0]
    corpus = Corpus([path], text_column="text")
    size = os.path.getsize(path)
    groups = -(-(len(LINES) + 1) // 50)
    assert groups >= 3
    steps = sorted({corpus.bytes_read for _ in corpus} | {corpus.bytes_read})
    assert steps == [0] + [size * k // groups for k in range(1, groups)] + [size]
    assert corpus.fingerprint() == [(str(path), size, os.stat(path).st_mtime_ns)]


def test_folders_and_globs(tmp_path):
    for name in ["b.txt", "a.txt", "sub/c.txt", "sub/deeper/d.txt.gz", "a/e.txt",
                 ".hidden.txt", ".git/f.txt", "sub/.g.txt", "sub/x1.txt", "sub/x22.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        data = (name + "\n").encode()
        (tmp_path / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    t = str(tmp_path)

    def rel(paths):
        return [os.path.relpath(p, t) for p in paths]

    assert rel(expand_inputs([tmp_path])) == [
        "a.txt", "a/e.txt", "b.txt", "sub/c.txt", "sub/deeper/d.txt.gz", "sub/x1.txt",
        "sub/x22.txt"]
    assert rel(expand_inputs([f"{t}/sub/x?.txt", f"{t}/*.txt", f"{t}/sub"])) == [
        "sub/x1.txt", "a.txt", "b.txt",
        "sub/c.txt", "sub/deeper/d.txt.gz", "sub/x1.txt", "sub/x22.txt"]
    assert rel(expand_inputs([f"{t}/**/*.txt"])) == [
        "a.txt", "a/e.txt", "b.txt", "sub/c.txt", "sub/x1.txt", "sub/x22.txt"]
    assert rel(expand_inputs([f"{t}/.hidden.txt", f"{t}/[ab].txt"])) == [
        ".hidden.txt", "a.txt", "b.txt"]
    (tmp_path / "empty").mkdir()
    for args, message in [([f"{t}/nope.txt"], f"corpus file {t}/nope.txt does not exist"),
                          ([f"{t}/*.md"], f"no corpus file matches {t}/*.md"),
                          ([f"{t}/empty"], f"corpus folder {t}/empty holds no files")]:
        with pytest.raises(InputError) as info:
            expand_inputs(args)
        assert str(info.value) == message
    # the documents of a folder: its files' lines in that order
    docs = list(Corpus([tmp_path]))
    assert docs == ["a.txt\n", "a/e.txt\n", "b.txt\n", "sub/c.txt\n", "sub/deeper/d.txt.gz\n",
                    "sub/x1.txt\n", "sub/x22.txt\n"]


def test_parquet_without_pyarrow(inputs, monkeypatch):
    path = inputs["parquet"][0]
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(InputError) as info:
        Corpus([path], text_column="text")
    assert str(info.value) == \
        f"reading {path} needs pyarrow: pip install 'bytepiece-numba[parquet]'"


def _cli_error(args) -> str:
    result = invoke_cli(["train", *args, "-q"], catch_exceptions=False)
    assert result.exit_code == 1, result.stderr
    err = result.stderr
    assert err.startswith("bytepiece: error: ") and err.count("\n") == 1, err
    return err


def test_errors_are_one_line(inputs, tmp_path, monkeypatch):
    out = tmp_path / "m.json"
    opts = ["-o", out, "--vocab-size", "300"]
    parquet = inputs["parquet"][0]
    (tmp_path / "empty").mkdir()
    bad_zst = tmp_path / "bad.zst"
    bad_zst.write_bytes(b"not zstandard at all")
    invalid = tmp_path / "invalid.txt.zst"
    invalid.write_bytes(_zst(b"fine\nthen \xff bad\n" * 3))
    bad_row = tmp_path / "bad.jsonl.zst"
    bad_row.write_bytes(_zst(_jsonl(LINES[:5]) + b'{"body": 1}\n'))
    cases = [
        ([tmp_path / "nope.txt"], "does not exist"),
        ([f"{tmp_path}/*.nothing"], f"no corpus file matches {tmp_path}/*.nothing"),
        ([tmp_path / "empty"], "holds no files"),
        ([parquet], f"{parquet} is a Parquet file: name the column of its texts with "
                    f"--text-column (columns: id, text)"),
        ([parquet, "--text-column", "body"], "has no column 'body' (columns: id, text)"),
        ([parquet, "--text-column", "id"], "column 'id' holds int64, not text"),
        ([bad_zst], f"cannot read {bad_zst}: "),
        # raised while Trainer.train reads the corpus, on one thread and on several
        ([invalid], "invalid UTF-8 at byte 10 (decompressed)"),
        ([invalid, "--workers", "2"], "invalid UTF-8 at byte 10 (decompressed)"),
        ([bad_row, "--jsonl-field", "text"], "is not a JSON object with a string field"),
    ]
    for args, message in cases:
        assert message in _cli_error([*args, *opts])
    assert not out.exists()
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    assert "needs pyarrow: pip install 'bytepiece-numba[parquet]'" in \
        _cli_error([parquet, "--text-column", "text", *opts])


def test_training_on_any_format_gives_the_same_model(inputs, tmp_path):
    models = {}
    plain = inputs["plain"][0]
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "1.txt.zst").write_bytes(_zst(TEXT.encode()))
    for name, args in [("plain", [plain]), ("zst", [inputs["zst"][0]]),
                       ("folder", [folder]),
                       ("parquet", [inputs["parquet"][0], "--text-column", "text"])]:
        out = tmp_path / f"{name}.json"
        result = invoke_cli(["train", *args, "-o", out, "--vocab-size", "300", "--order", "4",
                             "-q"], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        models[name] = out.read_bytes()
    assert models["zst"] == models["plain"]
    assert models["folder"] == models["plain"]
    assert models["parquet"] == models["plain"]


# -- runs of lines: what the trainer packs in bulk ----------------------------------

def _batches_of(texts, batch_chars, skip=0):
    from bytepiece.training.batches import batches

    return [(buf.tobytes(), ends.tolist(), seen)
            for buf, ends, seen in batches(texts, False, batch_chars, skip)]


def _chunk_stream(batched):
    """The chunks of some batches as one byte stream and its ends."""
    data, ends, at = b"", [], 0
    for buf, batch_ends, _ in batched:
        data += buf
        ends += [at + e for e in batch_ends]
        at += len(buf)
    return data, ends


@pytest.mark.parametrize("batch_chars", [1, 7, 100, 1 << 20])
def test_runs_give_the_corpus_texts_and_the_same_batches(tmp_path, batch_chars, monkeypatch):
    """A Corpus gives its lines in runs (blocks of whole lines); batches cut them at line
    ends. The chunks, and the texts counted after each batch, are those of the texts one
    by one: long lines, an empty line, combining marks, a last line with no newline."""
    monkeypatch.setattr(bytepiece.corpus, "BLOCK_BYTES", 64)
    lines = ["ab\n", "\n", "e\u0301 x\n", "y" * 150 + "\n", "\u0301z\n", "last"]
    (tmp_path / "a.txt").write_text("".join(lines))
    (tmp_path / "b.txt").write_text("one\ntwo\n")
    corpus = Corpus([tmp_path / "a.txt", tmp_path / "b.txt"])
    runs = list(corpus.runs())
    assert any(count > 1 for _, count in runs)
    assert sum(count for _, count in runs) == len(list(corpus)) == len(lines) + 2
    by_runs = _batches_of(corpus, batch_chars)
    one_by_one = _batches_of(list(corpus), batch_chars)
    assert _chunk_stream(by_runs)[:2] == _chunk_stream(one_by_one)[:2]
    # every batch ends after the texts it says it has seen
    for k, (_, _, seen) in enumerate(by_runs):
        prefix = _chunk_stream(_batches_of(list(corpus)[:seen], 1 << 20))[0]
        assert _chunk_stream(by_runs[:k + 1])[0] == prefix


@pytest.mark.parametrize("skip", [0, 1, 3, 5, 8])
def test_runs_skip_the_texts_a_resumed_run_counted(tmp_path, skip, monkeypatch):
    """A resumed run skips its first texts, also from the middle of a run."""
    monkeypatch.setattr(bytepiece.corpus, "BLOCK_BYTES", 1 << 10)
    lines = [f"line {i}\n" for i in range(8)]
    (tmp_path / "a.txt").write_text("".join(lines))
    corpus = Corpus([tmp_path / "a.txt"])
    got = _chunk_stream(_batches_of(corpus, 1 << 20, skip))[0]
    assert got == "".join(lines[skip:]).encode()
