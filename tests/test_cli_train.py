"""``bytepiece train``: same models as the library (and BytePiece), inputs, errors."""

from __future__ import annotations

import gzip
import json
import pathlib
import sys

import pytest

from bytepiece import Trainer
from conftest import CORPORA, invoke_cli
from test_trainer import TRAIN_FIXTURES, _cases, _read

TINY = [CORPORA / "tiny" / name for name in ("zh.txt", "en.txt", "code.py")]


def run(args):
    """Run the CLI in-process; returns (exit status, stderr text)."""
    result = invoke_cli(args, catch_exceptions=False)
    return result.exit_code, result.stderr


def _lines(paths) -> list[str]:
    texts = []
    for path in paths:
        texts += path.read_text().splitlines(keepends=True)
    return texts


def test_same_model_as_the_library(tmp_path):
    out = tmp_path / "m.json"
    status, err = run(["train", *TINY, "-o", out, "--vocab-size", "500", "--order", "5",
                       "--workers", "2"])
    assert status == 0, err
    assert "bytes/token" in err and "peak memory" in err
    trainer = Trainer(order=5, max_vocab_size=500)
    trainer.train(_lines(TINY))
    trainer.save(tmp_path / "lib.json")
    assert out.read_bytes() == (tmp_path / "lib.json").read_bytes()


def test_summary_compression_is_that_of_the_encoder(tmp_path):
    """The summary counts tokens with the trie kernel (training compiles no automaton):
    the same count as Tokenizer.encode, for every size and with several threads."""
    import re

    import numpy as np

    from bytepiece import Tokenizer
    from bytepiece.normalize import nfc

    out = tmp_path / "m.json"
    status, err = run(["train", *TINY, "-o", out, "--vocab-size", "700,400", "--workers", "2",
                       "--docs", "file"])  # documents of many lines: encode splits them
    assert status == 0, err
    docs = [nfc(path.read_text()).encode() for path in TINY]
    buf = np.frombuffer(b"".join(docs), np.uint8)
    ends = np.cumsum([len(d) for d in docs])
    for size in (700, 400):
        ids, _ = Tokenizer(tmp_path / f"m.json.{size}").encode_buffer(buf, ends)
        (shown,) = re.findall(rf"m.json.{size}: .*, ([0-9.]+) bytes/token", err)
        assert shown == f"{buf.shape[0] / ids.shape[0]:.3f}"


@pytest.mark.parametrize("name,docs", [("tiny-lines-o6-mc2-v1000", "lines"),
                                       ("tiny-files-o4-mc2-v300", "file")])
def test_same_model_as_bytepiece(tmp_path, name, docs):
    case = {c["name"]: c for c in _cases()}.get(name)
    if case is None:
        pytest.skip(f"no reference training fixtures in {TRAIN_FIXTURES}/train")
    files = [CORPORA.parent / s["file"] for s in case["input"]["sources"]]
    p = case["params"]
    out = tmp_path / "m.json"
    status, err = run(["train", *files, "-o", out, "--vocab-size", p["max_vocab_size"],
                       "--order", p["order"], "--min-count", p["min_count"], "--docs", docs,
                       "--errors", "replace", "-q"])
    assert status == 0, err
    assert out.read_bytes() == _read(case["outputs"][0])


def test_gzip_jsonl_and_several_sizes(tmp_path):
    texts = _lines(TINY)
    gz = tmp_path / "corpus.txt.gz"
    gz.write_bytes(gzip.compress("".join(texts).encode()))
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts)))
    trainer = Trainer(order=4, max_vocab_size=[300, 400])
    trainer.train(texts)
    want = [pathlib.Path(p).read_bytes() for p in trainer.save(tmp_path / "lib.json")]
    for corpus, extra in [(gz, []), (jsonl, ["--jsonl-field", "text"])]:
        out = tmp_path / f"{corpus.name}.model"
        status, err = run(["train", corpus, "-o", out, "--vocab-size", "400,300", "--order", "4",
                           "-q", *extra])
        assert status == 0, err
        assert [(tmp_path / f"{out.name}.{s}").read_bytes() for s in (400, 300)] == want


@pytest.mark.parametrize("args,message", [
    (["nope.txt", "--vocab-size", "300"], "corpus file nope.txt does not exist"),
    (["EMPTY", "--vocab-size", "300"], "the corpus is empty"),
    (["BAD", "--vocab-size", "300"], "invalid UTF-8 at byte 141 (use --errors replace"),
    (["GOOD", "--vocab-size", "258"], "258 is too small"),
    (["GOOD", "--vocab-size", "30x"], "is not a list of integers"),
    (["GOOD", "--vocab-size", "300", "--order", "8"], "8 is not in the range"),
    (["-", "--vocab-size", "300"], "give files, not stdin"),
    (["JSONL", "--vocab-size", "300", "--jsonl-field", "text"], "string field 'text'"),
])
def test_errors(tmp_path, args, message):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bad.jsonl").write_text('{"body": "x"}\n')
    names = {"EMPTY": tmp_path / "empty.txt", "BAD": CORPORA / "tiny" / "invalid-utf8.bin",
             "GOOD": TINY[0], "JSONL": tmp_path / "bad.jsonl"}
    out = tmp_path / "m.json"
    status, err = run(["train", *[names.get(a, a) for a in args], "-o", out])
    assert status != 0
    assert message in err
    assert err.startswith("bytepiece: error: ") and err.count("\n") == 1
    assert not out.exists()
    assert not list(tmp_path.glob(".bytepiece-*"))


def test_small_blocks_give_the_same_documents(tmp_path, monkeypatch):
    import bytepiece.corpus
    from bytepiece.corpus import Corpus

    path = tmp_path / "c.txt"
    path.write_bytes("line one\r\n\n\nzwei 二\nlast without newline".encode())
    want = list(Corpus([str(path)]))
    assert want == ["line one\r\n", "\n", "\n", "zwei 二\n", "last without newline"]
    monkeypatch.setattr(bytepiece.corpus, "BLOCK_BYTES", 3)
    assert list(Corpus([str(path)])) == want
    # a whole file comes in parts that end where training chunks end
    assert list(Corpus([str(path)], docs="file")) == \
        ["line one\r\n\n\n", "zwei 二\n", "last without newline"]


def wait_for_stage(proc, ready, stage: str, timeout: float = 120) -> None:
    """Wait until the process has written ``stage`` to its readiness file
    ($BYTEPIECE_READY_FILE), or fail if it ends or takes too long first."""
    import time

    deadline = time.monotonic() + timeout
    while stage not in (ready.read_text().split() if ready.exists() else []):
        assert proc.poll() is None, f"ended with {proc.returncode} before {stage!r}"
        assert time.monotonic() < deadline, f"no {stage!r} after {timeout} s"
        time.sleep(0.01)


@pytest.mark.parametrize("signame, status, cold", [
    ("SIGINT", 130, False), ("SIGTERM", 143, False),
    # while numba compiles the kernels, which swallows the KeyboardInterrupt: the run
    # must still stop rather than finish and write the model
    ("SIGINT", 130, True), ("SIGTERM", 143, True)])
def test_interrupted_training_keeps_the_old_model(tmp_path, signame, status, cold):
    """A signal mid-training: quiet exit, the existing model untouched, no stray files.

    The signal goes as the process says training starts (its handlers are installed
    by then): with a cold numba cache the first kernels are compiling, with a warm one
    the first pass is counting (it takes seconds)."""
    import os
    import signal
    import subprocess
    import time

    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "model.json"
    out.write_text("the previous model")
    ready = tmp_path / "ready"
    env = dict(os.environ, BYTEPIECE_READY_FILE=str(ready))
    if cold:
        env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba")
    proc = subprocess.Popen([sys.executable, "-m", "bytepiece", "train", str(CORPORA / "en.txt"),
                             str(CORPORA / "code.txt"), "-o", str(out), "--vocab-size", "8000",
                             "--workers", "1"], stderr=subprocess.PIPE, env=env)
    try:
        wait_for_stage(proc, ready, "training")
        # a moment more puts the signal among the first kernels compiling (cold) or
        # the counting (warm); the outcome must be the same wherever it lands
        time.sleep(0.3)
        assert proc.poll() is None
    finally:
        proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert err == (b"bytepiece: interrupted\n" if signame == "SIGINT" else b"")
    assert ready.read_text() == "handlers\ntraining\n"
    assert [p.name for p in folder.iterdir()] == ["model.json"]
    assert out.read_text() == "the previous model"


def test_output_checked_before_training(tmp_path, monkeypatch):
    """A folder that takes no new file: refused before training starts."""
    import os

    if os.geteuid() == 0:
        target = "/sys/m.json"  # root writes anywhere else
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        target = str(folder / "m.json")
    ready = tmp_path / "ready"
    monkeypatch.setenv("BYTEPIECE_READY_FILE", str(ready))
    status, err = run(["train", *TINY, "-o", target, "--vocab-size", "300"])
    assert (status, err) == (1, f"bytepiece: error: cannot write {target}: Permission denied\n")
    assert ready.read_text() == "handlers\n"  # never reached "training"


def test_training_overwrites_no_corpus_file(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text((CORPORA / "tiny" / "en.txt").read_text())
    before = corpus.read_bytes()
    status, err = run(["train", corpus, "-o", corpus, "--vocab-size", "300"])
    assert (status, err) == (1, f"bytepiece: error: cannot write {corpus}: it is an input of "
                                f"this run; write the output to another file\n")
    status, err = run(["train", tmp_path, "-o", corpus, "--vocab-size", "300"])  # a folder
    assert status == 1 and err.startswith(f"bytepiece: error: cannot write {corpus}: it is an")
    assert corpus.read_bytes() == before


def test_a_size_not_reached_is_said(tmp_path):
    """Fewer pieces than asked: a warning with the size reached, and the summary says it
    (300 gives 299 here: pieces left unused once the vocabulary is cut are dropped, as in
    BytePiece)."""
    out = tmp_path / "m.json"

    def warning(path, reached, size):
        return (f"bytepiece: warning: {path}: vocabulary of {reached} ids, fewer than the "
                f"{size} asked for (pieces that no segmentation uses are dropped; more text "
                f"or a lower --min-count gives more)")

    status, err = run(["train", TINY[1], "-o", out, "--vocab-size", "100000,300", "--order",
                       "4"])
    assert status == 0, err
    reached = {size: len(json.loads((tmp_path / f"m.json.{size}").read_text())) + 3
               for size in (100000, 300)}
    assert reached == {100000: 387, 300: 299}
    lines = err.splitlines()
    assert lines[:2] == [warning(f"{out}.100000", 387, 100000), warning(f"{out}.300", 299, 300)]
    assert f"{out}.100000: vocabulary of 387 (asked for 100000: not reached) (3 special " \
           f"tokens and 384 pieces), " in err
    assert f"{out}.300: vocabulary of 299 (asked for 300: not reached) (3 special tokens " \
           f"and 296 pieces), " in err
    status, err = run(["train", TINY[1], "-o", out, "--vocab-size", "300", "--order", "4",
                       "-q"])  # quiet: the warning all the same
    assert (status, err) == (0, warning(out, 299, 300) + "\n")
    status, err = run(["train", TINY[1], "-o", out, "--vocab-size", "350", "--order", "4",
                       "-q"])  # reached: nothing
    assert (status, err) == (0, "")
