"""Every command against bad input: the exact exit status, exactly one line on stderr,
never a traceback, no output file left behind.

Most cases run in-process (CliRunner: fast); a few run as real processes, the way a
pipeline meets them. ``test_every_command_is_covered`` fails when a command is added
to the CLI without cases here.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys

import pytest

from bytepiece_cli.main import _COMMANDS
from conftest import CORPORA, invoke_cli, make_model

TINY_EN = str(CORPORA / "tiny" / "en.txt")
INVALID = str(CORPORA / "tiny" / "invalid-utf8.bin")  # a bad byte at offset 141


def _b64(piece: bytes) -> str:
    return base64.b64encode(piece).decode()


GOOD = make_model({b"hello": 5, b" world": 3})


def _with(change) -> str:
    model = json.loads(json.dumps(GOOD))
    change(model)
    return json.dumps(model)


#: name -> (content of the model file, a word of the message)
BAD_MODELS = {
    "empty": ("", "not a JSON model file"),
    "truncated": (json.dumps(GOOD, indent=4)[:200], "not a JSON model file"),
    "not-json": ("this is not json", "not a JSON model file"),
    "binary": (bytes(range(256)) * 40, "not a JSON model file"),
    "array": ("[1, 2, 3]", "expected a JSON object"),
    "null": ("null", "expected a JSON object"),
    "nested": ("[" * 50000 + "]" * 50000, "not a JSON model file"),
    "missing-byte": (json.dumps({**{k: v for k, v in GOOD.items() if k != "AA=="},
                                 _b64(b"hi"): [3, "hi", 1]}),
                     "single byte 0x00 is not a piece"),
    "zero-count": (_with(lambda m: m[_b64(b"hello")].__setitem__(2, 0)), "positive count"),
    "negative-count": (_with(lambda m: m[_b64(b"hello")].__setitem__(2, -3)), "positive count"),
    "float-count": (_with(lambda m: m[_b64(b"hello")].__setitem__(2, 2.5)), "not an integer"),
    "string-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, "259")), "not an integer"),
    "huge-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, 10**30)), "out of range"),
    "negative-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, -7)), "out of range"),
    "special-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, 1)), "out of range"),
    "gap-in-ids": (_with(lambda m: m.pop(_b64(b"\x41"))), "out of range"),
    "duplicate-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, 100)), "duplicate id"),
    "duplicate-piece": (json.dumps(GOOD)[:-1] + ', "aGVsbG8=": [261, "hello", 2]}',
                        "duplicate piece"),
    "empty-piece": (_with(lambda m: m.__setitem__("", [261, "", 1])), "empty piece"),
    "bad-base64": (_with(lambda m: m.__setitem__("!!!", [261, "x", 1])), "not valid base64"),
    "short-entry": (_with(lambda m: m.__setitem__(_b64(b"hello"), [259, "hello"])),
                    "expected [id, text, count]"),
    "text-not-string": (_with(lambda m: m[_b64(b"hello")].__setitem__(1, 5)),
                        "is not a string"),
    "latin-1": ((json.dumps(GOOD)[:-1] + ', "6Q==": [261, "\xe9", 1]}').encode("latin-1"),
                "not a JSON model file"),
    "1GB": (None, "larger than any model"),  # a sparse file: no disk space used
    "missing": (None, "cannot read: No such file"),
    "directory": (None, "cannot read: Is a directory"),
}

#: commands that read a model, as a command line around it
MODEL_COMMANDS = {
    "encode": ["encode", "-m", "{model}", TINY_EN],
    "encode-npy": ["encode", "-m", "{model}", "--format", "npy", TINY_EN, "-o", "{out}"],
    "decode": ["decode", "-m", "{model}", "{ids}"],
    "convert-sp": ["convert", "{model}", "{out}", "--to", "sentencepiece"],
    "convert-hf": ["convert", "{model}", "{out}", "--to", "huggingface"],
    "eval": ["eval", "-m", "{model}", TINY_EN],
    "inspect": ["inspect", "{model}"],
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The bad models, a good one, and inputs for every command."""
    d = tmp_path_factory.mktemp("bad")
    paths = {"dir": d}
    for name, (content, _) in BAD_MODELS.items():
        path = d / f"{name}.json"
        if name == "1GB":
            with open(path, "wb") as f:
                f.truncate(1 << 30)
        elif name == "directory":
            path.mkdir()
        elif content is not None:
            path.write_bytes(content if isinstance(content, bytes) else content.encode())
        paths[name] = path
    paths["good"] = d / "good.json"
    paths["good"].write_text(json.dumps(GOOD))
    texts = {"ids": "259 260\n3 4 5\n", "bad-ids": "3 4 5\n3 x 4\n", "big-id": "3 4\n99999999\n",
             "negative-ids": "-5\n", "jsonl-bad": '{"ids": [3, -1]}\n',
             "jsonl-broken": '{"ids": [3, 4\n', "jsonl-no-ids": '{"tokens": [3]}\n',
             "empty": "", "jsonl-corpus": '{"body": "x"}\n'}
    for name, text in texts.items():
        paths[name] = d / f"{name}.txt"
        paths[name].write_text(text)
    paths["bad.gz"] = d / "bad.gz"
    paths["bad.gz"].write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    paths["invalid.gz"] = d / "invalid.txt.gz"
    paths["invalid.gz"].write_bytes(gzip.compress(b"fine\nthen \xff bad\n"))
    paths["sp-garbage"] = d / "garbage.model"
    paths["sp-garbage"].write_bytes(b"\x0a\xff\xff\xff\xff\x0f garbage")
    return paths


def run(args, stdin: bytes = b""):
    """The CLI in-process: (status, stderr)."""
    result = invoke_cli(args, input=stdin)
    return result.exit_code, result.stderr


def run_process(args, stdin: bytes = b""):
    proc = subprocess.run([sys.executable, "-m", "bytepiece", *map(str, args)], input=stdin,
                          capture_output=True, timeout=120)
    return proc.returncode, proc.stderr.decode(errors="replace")


def _check(status, err, want_status, word):
    assert status == want_status, err
    assert err.startswith("bytepiece: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert word.lower() in err.lower(), err


def _args(files, template, model=None, out=None):
    values = {"model": model or files["good"], "ids": files["ids"],
              "out": out or files["dir"] / "out.bin"}
    return [a.format(**values) if isinstance(a, str) else a for a in template]


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
@pytest.mark.parametrize("model", sorted(BAD_MODELS))
def test_bad_models(files, command, model):
    out = files["dir"] / f"out-{command}-{model}"
    status, err = run(_args(files, MODEL_COMMANDS[command], files[model], out))
    _check(status, err, 1, BAD_MODELS[model][1])
    assert f"model {files[model]}:" in err
    assert not out.exists()


def test_endless_model_device(monkeypatch):
    """``-m /dev/zero`` is cut off after the largest model size (here lowered to 1 MB)."""
    import bytepiece.model

    monkeypatch.setattr(bytepiece.model, "MAX_MODEL_BYTES", 1 << 20)
    status, err = run(["encode", "-m", "/dev/zero"], b"hello\n")
    _check(status, err, 1, "model /dev/zero: longer than any model (more than 1048576 bytes)")


def _cases(f):
    """(command line, stdin, exit status, a word of the message)."""
    good, d, o = str(f["good"]), f["dir"], str(f["dir"] / "out")
    cases = [
        # encode: inputs
        (["encode", "-m", good, str(d / "nope.txt")], b"", 1, "cannot read"),
        (["encode", "-m", good, str(d)], b"", 1, "is a directory"),
        (["encode", "-m", good, INVALID], b"", 1, f"{INVALID}: invalid UTF-8 at byte 141"),
        (["encode", "-m", good], b"ok\n\xff\n", 1, "<stdin>: invalid UTF-8 at byte 3"),
        (["encode", "-m", good], b"ok\n\xed\xa0\x80\n", 1, "invalid UTF-8 at byte 3"),
        (["encode", "-m", good, "--format", "npy", "-o", o, INVALID], b"", 1, "byte 141"),
        (["encode", "-m", good, "--format", "bin", "-o", o, INVALID], b"", 1, "byte 141"),
        (["encode", "-m", good, "--format", "pieces", INVALID], b"", 1, "byte 141"),
        (["encode", "-m", good, "--format", "jsonl", TINY_EN, INVALID], b"", 1, "byte 141"),
        # encode: options
        (["encode", "-m", good, "--threads", "0"], b"x\n", 2, "--threads"),
        (["encode", "-m", good, "--format", "xml"], b"x\n", 2, "--format"),
        (["encode", "-m", good, "--errors", "skip"], b"x\n", 2, "--errors"),
        (["encode", "-m", good, "--alpha", "nan"], b"x\n", 1, "alpha must be a finite"),
        (["encode", "-m", good, "--alpha", "inf"], b"x\n", 1, "alpha must be a finite"),
        (["encode", "-m", good, "--alpha", "0.1", "--seed", "-1"], b"x\n", 1, "seed"),
        (["encode", "-m", good, "--alpha", "x"], b"x\n", 2, "--alpha"),
        (["encode", "-m", good, "--format", "npy"], b"x\n", 2, "needs -o FILE"),
        (["encode"], b"x\n", 2, "Missing option '-m'"),
        (["encode", "-m", good, "--nope"], b"x\n", 2, "No such option"),
        # encode: outputs
        (["encode", "-m", good, "-o", str(d / "no" / "such" / "out.txt")], b"x\n", 1,
         "cannot write"),
        (["encode", "-m", good, "-o", str(f["ids"] / "out.txt")], b"x\n", 1, "Not a directory"),
        (["encode", "-m", good, "-o", str(d)], b"x\n", 1, "Is a directory"),
        # decode
        (["decode", "-m", good, str(f["bad-ids"])], b"", 1, "line 2: 'x' is not an id"),
        (["decode", "-m", good, str(f["big-id"])], b"", 1, "'99999999' is not an id"),
        (["decode", "-m", good, str(f["negative-ids"])], b"", 1, "line 1: '-5'"),
        (["decode", "-m", good, str(f["jsonl-bad"])], b"", 1, "id -1 is out of range"),
        (["decode", "-m", good, str(f["jsonl-broken"])], b"", 1, "line 1"),
        (["decode", "-m", good, str(f["jsonl-no-ids"])], b"", 1, 'no "ids" list'),
        (["decode", "-m", good], b"\x00\xff\n", 1, "is not an id"),
        (["decode", "-m", good, str(d / "nope.txt")], b"", 1, "cannot read"),
        (["decode", "-m", good, "-o", str(d)], b"3\n", 1, "Is a directory"),
        (["decode"], b"3\n", 2, "Missing option '-m'"),
        # train: corpora
        (["train", str(d / "nope.txt"), "-o", o, "--vocab-size", "300"], b"", 1, "nope.txt"),
        (["train", str(f["empty"]), "-o", o, "--vocab-size", "300"], b"", 1, "empty"),
        (["train", str(d / "*.nothing"), "-o", o, "--vocab-size", "300"], b"", 1,
         "no corpus file matches"),
        (["train", "-", "-o", o, "--vocab-size", "300"], b"x\n", 1, "not stdin"),
        (["train", INVALID, "-o", o, "--vocab-size", "300"], b"", 1, "invalid UTF-8 at byte 141"),
        (["train", str(f["invalid.gz"]), "-o", o, "--vocab-size", "300"], b"", 1,
         "invalid UTF-8 at byte 10 (decompressed)"),
        (["train", str(f["bad.gz"]), "-o", o, "--vocab-size", "300"], b"", 1, "cannot read"),
        (["train", str(f["jsonl-corpus"]), "-o", o, "--vocab-size", "300", "--jsonl-field",
          "text"], b"", 1, "string field 'text'"),
        # train: options
        (["train", TINY_EN, "-o", o, "--vocab-size", "100"], b"", 2, "259"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "x"], b"", 2, "--vocab-size"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300,300"], b"", 2, "repeats"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--order", "9"], b"", 2, "--order"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--min-count", "0"], b"", 2,
         "--min-count"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--max-piece-length", "0"], b"",
         2, "--max-piece-length"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--max-memory", "lots"], b"", 2,
         "--max-memory"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--tmp-dir", TINY_EN], b"", 2,
         "--tmp-dir"),
        (["train", TINY_EN, "-o", o], b"", 2, "--vocab-size"),
        (["train", "-o", o, "--vocab-size", "300"], b"", 2, "CORPUS"),
        # train: outputs
        (["train", TINY_EN, "-o", str(d / "no" / "m.json"), "--vocab-size", "300"], b"", 1,
         "no folder"),
        (["train", TINY_EN, "-o", str(d), "--vocab-size", "300", "-q"], b"", 1,
         "Is a directory"),
        # convert
        (["convert", str(f["not-json"]), o, "--to", "sentencepiece"], b"", 1, "not-json"),
        (["convert", good, o, "--to", "word2vec"], b"", 2, "--to"),
        (["convert", good, o], b"", 2, "exactly one of --to"),
        (["convert", good, o, "--to", "huggingface", "--from", "sentencepiece"], b"", 2,
         "exactly one"),
        (["convert", good, o, "--to", "huggingface", "--id-map", o], b"", 2, "--id-map"),
        (["convert", good, o, "--from", "sentencepiece"], b"", 1, "good.json"),
        (["convert", str(f["sp-garbage"]), o, "--from", "sentencepiece"], b"", 1,
         "garbage.model"),
        (["convert", str(f["empty"]), o, "--from", "sentencepiece"], b"", 1, "empty.txt"),
        (["convert", str(d / "nope.model"), o, "--from", "sentencepiece"], b"", 1,
         "cannot read"),
        (["convert", good, str(d), "--to", "huggingface"], b"", 1, "Is a directory"),
        # eval
        (["eval", "-m", good, str(d / "nope.txt")], b"", 1, "cannot read"),
        (["eval", "-m", good, str(d)], b"", 1, "is a directory"),
        (["eval", "-m", good, INVALID], b"", 1, f"{INVALID}: invalid UTF-8 at byte 141"),
        (["eval", "-m", good, "-"], b"ok\n\xff\n", 1, "<stdin>: invalid UTF-8 at byte 3"),
        (["eval", "-m", good, str(f["bad.gz"])], b"", 1, "cannot read"),
        (["eval", "-m", good, str(f["invalid.gz"])], b"", 1, "invalid UTF-8 at byte 10"),
        (["eval", "-m", good, TINY_EN, "--json", "--markdown"], b"", 2, "at most one"),
        (["eval", "-m", good], b"", 2, "Missing argument"),
        (["eval", TINY_EN], b"", 2, "Missing option '-m'"),
        (["eval", "-m", good, "--threads", "0", TINY_EN], b"", 2, "--threads"),
        (["eval", "-m", str(f["sp-garbage"]), TINY_EN], b"", 1, "garbage.model"),
        # inspect
        (["inspect", str(f["sp-garbage"])], b"", 1, "is a SentencePiece model"),
        (["inspect", good, "--top", "-1"], b"", 2, "--top"),
        (["inspect"], b"", 2, "Missing argument"),
        # the group
        (["frobnicate"], b"", 2, "No such command"),
        (["--nope"], b"", 2, "No such option"),
    ]
    return cases


N_CASES = 78


@pytest.mark.parametrize("index", range(N_CASES))
def test_bad_input_matrix(files, index):
    args, stdin, status, word = _cases(files)[index]
    got_status, err = run(args, stdin)
    _check(got_status, err, status, word)
    assert not (files["dir"] / "out").exists()
    assert not list(files["dir"].glob(".bytepiece-*"))


def test_every_command_is_covered(files):
    cases = _cases(files)
    assert len(cases) == N_CASES
    assert {c[0][0] for c in cases} >= set(_COMMANDS)
    assert {c[0] for c in MODEL_COMMANDS.values()} | {"train"} >= set(_COMMANDS)


@pytest.mark.parametrize("args, stdin, status, word", [
    (["encode", "-m", "{good}"], b"ok\n\xff\n", 1, "<stdin>: invalid UTF-8 at byte 3"),
    (["encode", "-m", "{truncated}"], b"x\n", 1, "not a JSON model file"),
    (["decode", "-m", "{good}"], b"3 x\n", 1, "line 1: 'x' is not an id"),
    (["train", "{empty}", "-o", "{dir}/m.json", "--vocab-size", "300"], b"", 1, "empty"),
    (["convert", "{good}", "{dir}", "--to", "huggingface"], b"", 1, "Is a directory"),
    (["frobnicate"], b"", 2, "No such command"),
])
def test_real_processes(files, args, stdin, status, word):
    """The same through a real process: what a shell pipeline sees."""
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    got_status, err = run_process(args, stdin)
    _check(got_status, err, status, word)


@pytest.mark.parametrize("stdin, want", [
    (b"", b""), (b"\n", None), (b"\n\n\n", None), (b"a\x00b\n\x00", None),
    (b"crlf\r\nline\r\n", None), (b"\r", None), (b" \t \n", None)])
def test_odd_but_valid_text_round_trips(files, stdin, want):
    """Empty input, empty lines, NUL bytes, CRLF: encoded and decoded back exactly."""
    result = invoke_cli(["encode", "-m", str(files["good"])], input=stdin)
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout_bytes.count(b"\n") == len(stdin.splitlines(keepends=True)) or \
        b"\r" in stdin
    back = invoke_cli(["decode", "-m", str(files["good"])],
                              input=result.stdout_bytes)
    assert back.exit_code == 0
    assert back.stdout_bytes == (stdin if want is None else want)
