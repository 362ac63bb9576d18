"""Every command against bad input: the exact exit status and exactly one line on stderr,
never a traceback. Run as real processes, the way a pipeline meets them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import CORPORA, make_model

TINY_EN = str(CORPORA / "tiny" / "en.txt")
INVALID = str(CORPORA / "tiny" / "invalid-utf8.bin")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A good model and a gallery of bad files."""
    import json

    d = tmp_path_factory.mktemp("bad")
    good = d / "good.json"
    good.write_text(json.dumps(make_model({b"hello": 5, b" world": 3})))
    paths = {"good": good, "dir": d}
    bad = {
        "truncated": good.read_text()[:200],
        "notjson": "this is not json",
        "list": "[1, 2, 3]",
        "binary": None,
        "empty": "",
        "missing_byte": json.dumps({k: v for k, v in make_model({}).items()
                                    if k != "AA=="}),
        "zero_count": json.dumps({**make_model({}), "aGk=": [259, "hi", 0]}),
        "bad_base64": json.dumps({**make_model({}), "!!!": [259, "x", 4]}),
        "huge_id": json.dumps({**make_model({}), "aGk=": [10**12, "hi", 4]}),
    }
    for name, text in bad.items():
        p = d / f"{name}.json"
        if text is None:
            p.write_bytes(bytes(range(256)) * 40)
        else:
            p.write_text(text)
        paths[name] = p
    (d / "empty.txt").write_text("")
    (d / "ids.txt").write_text("3 4 5\n3 x 4\n")
    (d / "bigid.txt").write_text("3 4\n99999999\n")
    paths["empty_txt"] = d / "empty.txt"
    paths["bad_ids"] = d / "ids.txt"
    paths["big_ids"] = d / "bigid.txt"
    return paths


def _run(args, stdin=b""):
    proc = subprocess.run([sys.executable, "-m", "bytepiece", *args], input=stdin,
                          capture_output=True, timeout=120)
    return proc.returncode, proc.stderr.decode(errors="replace")


BAD_MODELS = ["truncated", "notjson", "list", "binary", "empty", "missing_byte", "zero_count",
              "bad_base64", "huge_id"]


@pytest.mark.parametrize("command", ["encode", "decode"])
@pytest.mark.parametrize("model", BAD_MODELS)
def test_bad_models_are_refused_in_one_line(files, command, model):
    status, err = _run([command, "-m", str(files[model])], b"hello\n")
    assert status == 1
    assert err.count("\n") == 1 and err.startswith("bytepiece: error: "), err
    assert str(files[model]) in err
    assert "Traceback" not in err


def _cases(f):
    good, d = str(f["good"]), f["dir"]
    return [
        # (command line, stdin, status, a word the message must hold)
        (["encode", "-m", str(d / "nope.json")], b"x\n", 1, "nope.json"),
        (["encode", "-m", good, str(d / "nope.txt")], b"", 1, "nope.txt"),
        (["encode", "-m", good, INVALID], b"", 1, "byte"),
        (["encode", "-m", good], b"ok\n\xff\n", 1, "UTF-8"),
        (["encode", "-m", good, "--threads", "0"], b"x\n", 2, "threads"),
        (["encode", "-m", good, "--format", "xml"], b"x\n", 2, "format"),
        (["encode", "-m", good, "-o", str(d / "no" / "such" / "dir.txt")], b"x\n", 1, "dir.txt"),
        (["encode"], b"x\n", 2, "model"),
        (["decode", "-m", good, str(f["bad_ids"])], b"", 1, "line 2"),
        (["decode", "-m", good, str(f["big_ids"])], b"", 1, "99999999"),
        (["decode", "-m", good], b"-5\n", 1, "line 1"),
        (["train", str(d / "nope.txt"), "-o", str(d / "m.json"), "--vocab-size", "300"], b"",
         1, "nope.txt"),
        (["train", str(f["empty_txt"]), "-o", str(d / "m.json"), "--vocab-size", "300"], b"",
         1, "empty"),
        (["train", INVALID, "-o", str(d / "m.json"), "--vocab-size", "300"], b"", 1, "byte"),
        (["train", TINY_EN, "-o", str(d / "m.json"), "--vocab-size", "100"], b"", 2, "259"),
        (["train", TINY_EN, "-o", str(d / "m.json"), "--vocab-size", "x"], b"", 2, "vocab"),
        (["train", TINY_EN, "-o", str(d / "m.json"), "--vocab-size", "300", "--order", "9"],
         b"", 2, "order"),
        (["train", TINY_EN, "-o", str(d / "no" / "m.json"), "--vocab-size", "300"], b"", 1,
         "m.json"),
        (["convert", str(f["notjson"]), str(d / "out.model"), "--to", "sentencepiece"], b"",
         1, "notjson"),
        (["convert", good, str(d / "out.model"), "--to", "word2vec"], b"", 2, "to"),
        (["convert", str(f["good"]), str(d / "o.json"), "--from", "sentencepiece"], b"", 1,
         "good.json"),
        (["frobnicate"], b"", 2, "frobnicate"),
    ]


@pytest.mark.parametrize("index", range(22))
def test_bad_input_matrix(files, index):
    args, stdin, status, word = _cases(files)[index]
    got_status, err = _run(args, stdin)
    assert got_status == status, (args, err)
    assert err.count("\n") == 1 and err.startswith("bytepiece: error: "), (args, err)
    assert word.lower() in err.lower(), (args, err)
    assert "Traceback" not in err


def test_matrix_is_complete(files):
    assert len(_cases(files)) == 22
    assert {c[0][0] for c in _cases(files)} >= {"encode", "decode", "train", "convert"}
