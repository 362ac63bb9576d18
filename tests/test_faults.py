"""Faults from outside: a full disk, a reader that goes away, a corpus that changes
between training's two passes, too little memory, many threads at once. Each ends
with a clear one-line error (or the right result), no partial output, no stray file,
and an existing model untouched."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading

import pytest

from bytepiece import Tokenizer, Trainer
from bytepiece.model import Model
from conftest import CORPORA, invoke_cli, make_model

TINY = [str(CORPORA / "tiny" / name) for name in ("en.txt", "zh.txt", "code.py")]


def run(args, stdin=None):
    """The CLI in-process: (status, stdout bytes, stderr text)."""
    result = invoke_cli(args, input=stdin)
    return result.exit_code, result.stdout_bytes, result.stderr


def one_line_error(err: str) -> bool:
    return err.startswith("bytepiece: error: ") and err.count("\n") == 1 and \
        "Traceback" not in err


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.json"
    Model.from_dict(make_model({b"hello": 9, b" world": 5, b"the": 7})).save(path)
    return path


# -- a full disk ---------------------------------------------------------------

@pytest.fixture
def full_disk(monkeypatch):
    """Files opened by the atomic writer accept ``room`` bytes, then fail with ENOSPC
    (at a write or at the flush, where a real full disk may show it first)."""
    import bytepiece.atomic

    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f, room):
            self._f, self._room = f, room

        def write(self, data):
            size = memoryview(data).nbytes
            if size > self._room:
                raise OSError(errno.ENOSPC, "No space left on device")
            self._room -= size
            return self._f.write(data)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

    def fdopen(fd, *args, **kwargs):
        return Full(real_fdopen(fd, *args, **kwargs), full_disk.room)

    full_disk.room = 0
    monkeypatch.setattr(bytepiece.atomic.os, "fdopen", fdopen)
    return full_disk


@pytest.mark.parametrize("room", [0, 1000])
@pytest.mark.parametrize("command", [
    ["encode", "-m", "{model}", *TINY],
    ["encode", "-m", "{model}", "--format", "npy", *TINY],
    ["decode", "-m", "{model}", "{ids}"],
    ["train", *TINY, "--vocab-size", "300", "-q"],
    ["convert", "{model}", "--to", "huggingface"],
])
def test_full_disk_keeps_the_old_output(model, tmp_path, full_disk, room, command):
    ids = tmp_path / "ids.txt"
    ids.write_text("259 260 261\n" * 500)
    target = tmp_path / "out"
    target.write_text("the previous output")
    full_disk.room = room
    args = [a.format(model=model, ids=ids) for a in command]
    if args[0] == "convert":
        args.insert(2, str(target))
    else:
        args += ["-o", str(target)]
    status, _, err = run(args)
    assert status == 1, err
    assert one_line_error(err)
    assert f"cannot write {target}: No space left on device" in err
    assert target.read_text() == "the previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.txt", "out"]


def test_a_model_that_cannot_be_saved_leaves_the_old_one(tmp_path, full_disk):
    path = tmp_path / "m.json"
    path.write_text("the previous model")
    full_disk.room = 100
    with pytest.raises(OSError, match="No space left"):
        Tokenizer(make_model({b"ab": 3})).save(path)
    assert path.read_text() == "the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


@pytest.mark.parametrize("command", [["encode", "-m", "{model}", TINY[0]],
                                     ["encode", "-m", "{model}", "--format", "bin", TINY[0]],
                                     ["decode", "-m", "{model}", "{ids}"]])
def test_full_stdout(model, tmp_path, command):
    """Output redirected to a full device (/dev/full): one line, status 1."""
    ids = tmp_path / "ids.txt"
    ids.write_text("259 260\n" * 100)
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-m", "bytepiece",
                               *[a.format(model=model, ids=ids) for a in command]],
                              stdout=full, stderr=subprocess.PIPE, timeout=120)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert err == "bytepiece: error: cannot write to stdout: No space left on device\n"


def test_unwritable_outputs(model, tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    for target, reason in [(tmp_path / "file" / "out.txt",
                            f"{tmp_path / 'file'} is not a folder"),
                           (tmp_path / "dir", "it is a folder"),
                           (tmp_path / "none" / "out.txt", f"no folder {tmp_path / 'none'}")]:
        status, _, err = run(["encode", "-m", model, TINY[0], "-o", target])
        assert status == 1 and one_line_error(err), err
        assert err == f"bytepiece: error: cannot write {target}: {reason}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "file"]
    assert list((tmp_path / "dir").iterdir()) == []


def test_a_reader_that_goes_away(model):
    """`bytepiece encode ... | head -c 10`: quiet, status 141 as a process killed by SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "bytepiece", "encode", "-m", str(model),
                             str(CORPORA / "en.txt")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert err == b""


# -- a corpus that changes between the two passes ------------------------------------

@pytest.mark.parametrize("change, message", [
    ("truncate", "changed while training (4539 bytes, now 1000)"),
    ("append", "changed while training (4539 bytes, now 4549)"),
    ("touch", "changed while training (modified)"),
    ("delete", "on the second pass (training reads the corpus twice): No such file"),
])
def test_corpus_changed_between_passes(tmp_path, monkeypatch, change, message):
    import shutil

    import bytepiece.trainer

    corpus = tmp_path / "c.txt"
    shutil.copy(CORPORA / "tiny" / "en.txt", corpus)
    assert corpus.stat().st_size == 4539
    model = tmp_path / "m.json"
    model.write_text("the previous model")
    build_language_model = bytepiece.trainer.build_language_model

    def between_passes(*args):
        if change == "truncate":
            os.truncate(corpus, 1000)
        elif change == "append":
            with open(corpus, "ab") as f:
                f.write(b"more text\n")
        elif change == "touch":
            os.utime(corpus, ns=(0, 0))
        else:
            corpus.unlink()
        return build_language_model(*args)

    monkeypatch.setattr(bytepiece.trainer, "build_language_model", between_passes)
    status, _, err = run(["train", corpus, "-o", model, "--vocab-size", "300"])
    assert status == 1 and one_line_error(err), err
    assert f"bytepiece: error: {corpus} " in err or f"cannot read {corpus}" in err
    assert message in err
    assert model.read_text() == "the previous model"


# -- memory ------------------------------------------------------------------------

def test_max_memory_option(tmp_path):
    """--max-memory bounds the tables, which spill to --tmp-dir, and the model is the one
    an unbounded run gives; bad sizes are usage errors."""
    model = tmp_path / "m.json"
    status, _, err = run(["train", *TINY, "-o", model, "--vocab-size", "300",
                          "--max-memory", "1M", "--tmp-dir", tmp_path / "spill"])
    assert status == 0, err
    assert "memory budget 1.0 MB" in err and "spilled" in err, err
    assert os.listdir(tmp_path / "spill") == []
    for bad in ["lots", "-1G", "0", "2X"]:
        status, _, err = run(["train", *TINY, "-o", model, "--vocab-size", "300",
                              "--max-memory", bad])
        assert status == 2 and "--max-memory" in err and one_line_error(err), err
    trainer = Trainer(max_vocab_size=300)
    trainer.train(_lines(TINY), max_memory=1 << 40)
    trainer.save(tmp_path / "lib.json")
    assert model.read_bytes() == (tmp_path / "lib.json").read_bytes()


def _lines(paths) -> list[str]:
    """The documents ``bytepiece train`` reads: lines with their newline."""
    import re

    return [line for p in paths
            for line in re.findall(r"[^\n]*\n|[^\n]+", open(p, encoding="utf-8").read())]


# -- threads ---------------------------------------------------------------------

def test_one_tokenizer_many_threads():
    """encode, encode_batch (itself threaded), tokenize, decode and sampling with a
    fixed seed from 6 threads at once give what they give one at a time."""
    tokenizer = Tokenizer(CORPORA.parent / "tests" / "fixtures" / "models" / "ref-small.json")
    texts = _lines(TINY) * 5

    def work():
        return (tokenizer.encode_batch(texts, num_threads=2),
                [tokenizer.encode(t) for t in texts[:200]],
                [tokenizer.tokenize(t) for t in texts[:200]],
                tokenizer.decode_batch(tokenizer.encode_batch(texts[:200], num_threads=1)),
                Tokenizer(make_model({b"the": 5, b"he": 3}), seed=11).encode_batch(
                    texts, alpha=0.3, num_threads=2))

    serial = work()
    results = [None] * 6

    def thread(k):
        results[k] = work()

    threads = [threading.Thread(target=thread, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == serial for r in results)


@pytest.mark.skipif(not sys.platform.startswith("linux") or
                    __import__("platform").libc_ver()[0] != "glibc", reason="glibc only")
def test_token_arrays_fix_the_mmap_threshold(model, tmp_path, monkeypatch):
    """Token-array runs, often gigabytes long, fix glibc's mmap threshold (measured:
    RSS flat at ~180 MB over 3.2 GB instead of growing to 370 MB)."""
    from bytepiece import memory
    from bytepiece_cli import _encode_array

    calls = []

    def spy():
        calls.append(memory.steady_memory())
        return calls[-1]

    monkeypatch.setattr(_encode_array, "steady_memory", spy)
    status, _, err = run(["encode", "-m", model, "--format", "bin", "-o",
                          tmp_path / "t.bin", TINY[0]])
    assert status == 0, err
    assert calls == [True]
