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


#: name -> (content of the model file, the message after "model PATH: ")
BAD_MODELS = {
    "empty": ("", "not a JSON model file (Expecting value: line 1 column 1 (char 0))"),
    "truncated": (json.dumps(GOOD, indent=4)[:200],
                  "not a JSON model file (Expecting value: line 18 column 5 (char 200))"),
    "not-json": ("this is not json",
                 "not a JSON model file (Expecting value: line 1 column 1 (char 0))"),
    "binary": (bytes(range(256)) * 40,
               "not a JSON model file (Expecting value: line 1 column 1 (char 0))"),
    "array": ("[1, 2, 3]", "expected a JSON object of pieces, got an array"),
    "null": ("null", "expected a JSON object of pieces, got null"),
    "nested": ("[" * 50000 + "]" * 50000, "not a JSON model file (nested too deeply)"),
    "missing-byte": (json.dumps({**{k: v for k, v in GOOD.items() if k != "AA=="},
                                 _b64(b"hi"): [3, "hi", 1]}),
                     "the single byte 0x00 is not a piece (1 of the 256 bytes are missing); every byte must be a piece"),
    "zero-count": (_with(lambda m: m[_b64(b"hello")].__setitem__(2, 0)),
                   "piece 'aGVsbG8=': count 0 is not a positive count, and the entry is no "
                   "special token (key: base64 of its UTF-8 text and the byte 0xff; text: that "
                   "text)"),
    "negative-count": (_with(lambda m: m[_b64(b"hello")].__setitem__(2, -3)),
                       "piece 'aGVsbG8=': count -3 is not a positive count"),
    "float-count": (_with(lambda m: m[_b64(b"hello")].__setitem__(2, 2.5)),
                    "piece 'aGVsbG8=': count 2.5 is not an integer"),
    "string-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, "259")),
                  'piece \'aGVsbG8=\': id "259" is not an integer'),
    "huge-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, 10**30)),
                "piece 'aGVsbG8=': id 1000000000000000000000000000000 is out of range: 258 pieces take ids 3..260"),
    "negative-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, -7)),
                    "piece 'aGVsbG8=': id -7 is out of range: 258 pieces take ids 3..260"),
    "special-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, 1)),
                   "piece 'aGVsbG8=': id 1 is out of range: 258 pieces take ids 3..260"),
    "gap-in-ids": (_with(lambda m: m.pop(_b64(b"\x41"))),
                   "piece 'IHdvcmxk': id 260 is out of range: 257 pieces take ids 3..259"),
    "duplicate-id": (_with(lambda m: m[_b64(b"hello")].__setitem__(0, 100)),
                     "piece 'aGVsbG8=': duplicate id 100"),
    "duplicate-piece": (json.dumps(GOOD)[:-1] + ', "aGVsbG8=": [261, "hello", 2]}',
                        "piece 'aGVsbG8=': duplicate piece (also under key 'aGVsbG8=')"),
    "empty-piece": (_with(lambda m: m.__setitem__("", [261, "", 1])), "piece '': empty piece"),
    "bad-base64": (_with(lambda m: m.__setitem__("!!!", [261, "x", 1])),
                   "piece '!!!': key is not valid base64"),
    "short-entry": (_with(lambda m: m.__setitem__(_b64(b"hello"), [259, "hello"])),
                    'piece \'aGVsbG8=\': expected [id, text, count], got [259, "hello"]'),
    "text-not-string": (_with(lambda m: m[_b64(b"hello")].__setitem__(1, 5)),
                        "piece 'aGVsbG8=': text 5 is not a string"),
    "latin-1": ((json.dumps(GOOD)[:-1] + ', "6Q==": [261, "\xe9", 1]}').encode("latin-1"),
                "not a JSON model file ('utf-8' codec can't decode byte 0xe9 in position 5882: invalid continuation byte)"),
    "1GB": (None,  # a sparse file: no disk space used
            "file is 1073741824 bytes, larger than any model (536870912 bytes at most)"),
    "missing": (None, "cannot read: No such file or directory"),
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
    "compile": ["compile", "-q", "-m", "{model}"],  # the model is read before compiling
    "convert-tf": ["convert", "{model}", "{out}", "--to", "transformers"],
    "special": ["special", "{model}", "--add", "<|x|>", "-o", "{out}"],
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
    paths["hf"] = d / "tokenizer.json"
    paths["hf"].write_text('{"version": "1.0", "model": {"type": "Unigram"}}')
    paths["victim"] = d / "victim.txt"  # outputs that must not replace it
    paths["victim"].write_text("hello\n")
    paths["victim-link"] = d / "victim-link.txt"
    paths["victim-link"].hardlink_to(paths["victim"])
    paths["m.300"] = d / "m.300"  # a corpus named as a model of several sizes would be
    paths["m.300"].write_text("hello\n")
    paths["odd.bin"] = d / "odd.bin"
    paths["odd.bin"].write_bytes(b"\x03\x00\x04")
    paths["big.bin"] = d / "big.bin"
    paths["big.bin"].write_bytes(b"\x03\x00\xff\xff")
    paths["floats.npy"] = d / "floats.npy"
    import numpy as np

    np.save(paths["floats.npy"], np.zeros(3))
    paths["short.npy"] = d / "short.npy"
    np.save(paths["short.npy"], np.arange(3, 10, dtype=np.uint16))
    paths["short.npy"].write_bytes(paths["short.npy"].read_bytes()[:-4])
    paths["jsonl"] = d / "corpus.jsonl"
    paths["jsonl"].write_text('{"text": "x"}\n{"body": "y"}\n')
    return paths


def run(args, stdin: bytes = b""):
    """The CLI in-process: (status, stderr)."""
    result = invoke_cli(args, input=stdin)
    return result.exit_code, result.stderr


def run_process(args, stdin: bytes = b""):
    proc = subprocess.run([sys.executable, "-m", "bytepiece", *map(str, args)], input=stdin,
                          capture_output=True, timeout=120)
    return proc.returncode, proc.stderr.decode(errors="replace")


def _check(status, err, want_status, message):
    """Exactly ``message`` on one line of stderr, and the status: a crash turned into
    "internal error: ..." or any other message fails."""
    assert "internal error" not in err and "Traceback" not in err, err
    assert err == f"bytepiece: error: {message}\n"
    assert status == want_status, err


def _message(template: str, files) -> str:
    """A message of ``_cases`` with its paths filled in."""
    return template.format(dir=files["dir"], invalid=INVALID, tiny=TINY_EN)


def _args(files, template, model=None, out=None):
    values = {"model": model or files["good"], "ids": files["ids"],
              "out": out or files["dir"] / "out.bin"}
    return [a.format(**values) if isinstance(a, str) else a for a in template]


@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
@pytest.mark.parametrize("model", sorted(BAD_MODELS))
def test_bad_models(files, command, model):
    out = files["dir"] / f"out-{command}-{model}"
    status, err = run(_args(files, MODEL_COMMANDS[command], files[model], out))
    _check(status, err, 1, f"model {files[model]}: {BAD_MODELS[model][1]}")
    assert not out.exists()


def test_endless_model_device(monkeypatch):
    """``-m /dev/zero`` is cut off after the largest model size (here lowered to 1 MB)."""
    import bytepiece.model_file

    monkeypatch.setattr(bytepiece.model_file, "MAX_MODEL_BYTES", 1 << 20)
    status, err = run(["encode", "-m", "/dev/zero"], b"hello\n")
    _check(status, err, 1, "model /dev/zero: longer than any model (more than 1048576 bytes)")


def _cases(f):
    """(command line, stdin, exit status, a word of the message)."""
    good, d, o = str(f["good"]), f["dir"], str(f["dir"] / "out")
    cases = [
        # encode: inputs
        (["encode", "-m", good, str(d / "nope.txt")], b"", 1,
         "cannot read {dir}/nope.txt: No such file or directory"),
        (["encode", "-m", good, str(d)], b"", 1, "cannot read {dir}: Is a directory"),
        (["encode", "-m", good, INVALID], b"", 1,
         "{invalid}: invalid UTF-8 at byte 141 (use --errors replace or --errors ignore to go on)"),
        (["encode", "-m", good], b"ok\n\xff\n", 1,
         "<stdin>: invalid UTF-8 at byte 3 (use --errors replace or --errors ignore to go on)"),
        (["encode", "-m", good], b"ok\n\xed\xa0\x80\n", 1,
         "<stdin>: invalid UTF-8 at byte 3 (use --errors replace or --errors ignore to go on)"),
        (["encode", "-m", good, "--format", "npy", "-o", o, INVALID], b"", 1,
         "{invalid}: invalid UTF-8 at byte 141 (use --errors replace or --errors ignore to go on)"),
        (["encode", "-m", good, "--format", "bin", "-o", o, INVALID], b"", 1,
         "{invalid}: invalid UTF-8 at byte 141 (use --errors replace or --errors ignore to go on)"),
        (["encode", "-m", good, "--format", "pieces", INVALID], b"", 1,
         "{invalid}: invalid UTF-8 at byte 141 (use --errors replace or --errors ignore to go on)"),
        (["encode", "-m", good, "--format", "jsonl", TINY_EN, INVALID], b"", 1,
         "{invalid}: invalid UTF-8 at byte 141 (use --errors replace or --errors ignore to go on)"),
        # encode: options
        (["encode", "-m", good, "--threads", "0"], b"x\n", 2,
         "Invalid value for '--threads': 0 is not in the range x>=1. (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--format", "xml"], b"x\n", 2,
         "Invalid value for '--format': 'xml' is not one of 'ids', 'pieces', 'jsonl', 'bin', 'npy'. (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--errors", "skip"], b"x\n", 2,
         "Invalid value for '--errors': 'skip' is not one of 'strict', 'replace', 'ignore'. (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--alpha", "nan"], b"x\n", 2,
         "Invalid value for '--alpha': 'nan' is not a finite number (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--alpha", "inf"], b"x\n", 2,
         "Invalid value for '--alpha': 'inf' is not a finite number (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--alpha", "0.1", "--seed", "-1"], b"x\n", 2,
         "Invalid value for '--seed': -1 is not in the range x>=0. (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--alpha", "x"], b"x\n", 2,
         "Invalid value for '--alpha': 'x' is not a number (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--format", "npy"], b"x\n", 2,
         "--format npy needs -o FILE (its header is written last) (see 'bytepiece encode --help')"),
        (["encode"], b"x\n", 2,
         "Missing option '-m' / '--model'. (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--nope"], b"x\n", 2,
         "No such option '--nope'. Did you mean '--model'? (see 'bytepiece encode --help')"),
        # encode: outputs
        (["encode", "-m", good, "-o", str(d / "no" / "such" / "out.txt")], b"x\n", 1,
         "cannot write {dir}/no/such/out.txt: no folder {dir}/no/such"),
        (["encode", "-m", good, "-o", str(f["ids"] / "out.txt")], b"x\n", 1,
         "cannot write {dir}/ids.txt/out.txt: {dir}/ids.txt is not a folder"),
        (["encode", "-m", good, "-o", str(d)], b"x\n", 1, "cannot write {dir}: it is a folder"),
        # decode
        (["decode", "-m", good, str(f["bad-ids"])], b"", 1,
         "{dir}/bad-ids.txt: line 2: 'x' is not an id of this model (0..260)"),
        (["decode", "-m", good, str(f["big-id"])], b"", 1,
         "{dir}/big-id.txt: line 2: '99999999' is not an id of this model (0..260)"),
        (["decode", "-m", good, str(f["negative-ids"])], b"", 1,
         "{dir}/negative-ids.txt: line 1: '-5' is not an id of this model (0..260)"),
        (["decode", "-m", good, str(f["jsonl-bad"])], b"", 1,
         "{dir}/jsonl-bad.txt: line 1: id -1 is out of range 0..260"),
        (["decode", "-m", good, str(f["jsonl-broken"])], b"", 1,
         "{dir}/jsonl-broken.txt: line 1: Expecting ',' delimiter: line 1 column 14 (char 13)"),
        (["decode", "-m", good, str(f["jsonl-no-ids"])], b"", 1,
         '{dir}/jsonl-no-ids.txt: line 1: no "ids" list'),
        (["decode", "-m", good], b"\x00\xff\n", 1,
         "<stdin>: line 1: '\\x00�' is not an id of this model (0..260)"),
        (["decode", "-m", good, str(d / "nope.txt")], b"", 1,
         "cannot read {dir}/nope.txt: No such file or directory"),
        (["decode", "-m", good, "-o", str(d)], b"3\n", 1, "cannot write {dir}: it is a folder"),
        (["decode"], b"3\n", 2,
         "Missing option '-m' / '--model'. (see 'bytepiece decode --help')"),
        # train: corpora
        (["train", str(d / "nope.txt"), "-o", o, "--vocab-size", "300"], b"", 1,
         "corpus file {dir}/nope.txt does not exist"),
        (["train", str(f["empty"]), "-o", o, "--vocab-size", "300"], b"", 1,
         "the corpus is empty"),
        (["train", str(d / "*.nothing"), "-o", o, "--vocab-size", "300"], b"", 1,
         "no corpus file matches {dir}/*.nothing"),
        (["train", "-", "-o", o, "--vocab-size", "300"], b"x\n", 1,
         "training reads the corpus twice: give files, not stdin"),
        (["train", INVALID, "-o", o, "--vocab-size", "300"], b"", 1,
         "{invalid}: invalid UTF-8 at byte 141 (use --errors replace or --errors ignore to go on)"),
        (["train", str(f["invalid.gz"]), "-o", o, "--vocab-size", "300"], b"", 1,
         "{dir}/invalid.txt.gz: invalid UTF-8 at byte 10 (decompressed) (use --errors replace or --errors ignore to go on)"),
        (["train", str(f["bad.gz"]), "-o", o, "--vocab-size", "300"], b"", 1,
         "cannot read {dir}/bad.gz: Error -3 while decompressing data: invalid code lengths set"),
        (["train", str(f["jsonl-corpus"]), "-o", o, "--vocab-size", "300", "--jsonl-field",
          "text"], b"", 1, "{dir}/jsonl-corpus.txt: line 1 of the block at byte 0 is not a JSON object with a string field 'text'"),
        # train: options
        (["train", TINY_EN, "-o", o, "--vocab-size", "100"], b"", 2,
         "Invalid value for '--vocab-size': 100 is too small: a vocabulary holds the 3 special tokens and the 256 bytes, so at least 259 (see 'bytepiece train --help')"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "x"], b"", 2,
         "Invalid value for '--vocab-size': 'x' is not a list of integers like 8000,16000 (see 'bytepiece train --help')"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300,300"], b"", 2,
         "Invalid value for '--vocab-size': '300,300' repeats a size (see 'bytepiece train --help')"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--order", "9"], b"", 2,
         "Invalid value for '--order': 9 is not in the range 1<=x<=7. (see 'bytepiece train --help')"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--min-count", "0"], b"", 2,
         "Invalid value for '--min-count': 0 is not in the range x>=1. (see 'bytepiece train --help')"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--max-piece-length", "0"], b"",
         2, "Invalid value for '--max-piece-length': 0 is not in the range x>=1. (see 'bytepiece train --help')"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--max-memory", "lots"], b"", 2,
         "Invalid value for '--max-memory': 'lots' is not a size: use a number of bytes with an optional unit K, M, G or T, like 500M or 2G (see 'bytepiece train --help')"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--tmp-dir", TINY_EN], b"", 2,
         "Invalid value for '--tmp-dir': Directory '{tiny}' is a file. (see 'bytepiece train --help')"),
        (["train", TINY_EN, "-o", o], b"", 2,
         "Missing option '--vocab-size'. (see 'bytepiece train --help')"),
        (["train", "-o", o, "--vocab-size", "300"], b"", 2,
         "Missing argument 'CORPUS...'. (see 'bytepiece train --help')"),
        # train: outputs
        (["train", TINY_EN, "-o", str(d / "no" / "m.json"), "--vocab-size", "300"], b"", 1,
         "cannot write {dir}/no/m.json: no folder {dir}/no"),
        (["train", TINY_EN, "-o", str(d), "--vocab-size", "300", "-q"], b"", 1,
         "cannot write {dir}: it is a folder"),
        # convert
        (["convert", str(f["not-json"]), o, "--to", "sentencepiece"], b"", 1,
         "model {dir}/not-json.json: not a JSON model file (Expecting value: line 1 column 1 (char 0))"),
        (["convert", good, o, "--to", "word2vec"], b"", 2,
         "Invalid value for '--to': 'word2vec' is not one of 'sentencepiece', 'huggingface', 'transformers'. (see 'bytepiece convert --help')"),
        (["convert", good, o], b"", 2,
         "give exactly one of --to FORMAT and --from FORMAT (see 'bytepiece convert --help')"),
        (["convert", good, o, "--to", "huggingface", "--from", "sentencepiece"], b"", 2,
         "give exactly one of --to FORMAT and --from FORMAT (see 'bytepiece convert --help')"),
        (["convert", good, o, "--to", "huggingface", "--id-map", o], b"", 2,
         "--id-map goes with --from (see 'bytepiece convert --help')"),
        (["convert", good, o, "--from", "sentencepiece"], b"", 1,
         "model {dir}/good.json: not a SentencePiece model (field 15 has unsupported wire type 3)"),
        (["convert", str(f["sp-garbage"]), o, "--from", "sentencepiece"], b"", 1,
         "model {dir}/garbage.model: not a SentencePiece model (field 1 runs past the end of the message)"),
        (["convert", str(f["empty"]), o, "--from", "sentencepiece"], b"", 1,
         "model {dir}/empty.txt: not a SentencePiece model (no pieces)"),
        (["convert", str(d / "nope.model"), o, "--from", "sentencepiece"], b"", 1,
         "model {dir}/nope.model: cannot read: No such file or directory"),
        (["convert", good, str(d), "--to", "huggingface"], b"", 1,
         "cannot write {dir}: it is a folder"),
        # eval
        (["eval", "-m", good, str(d / "nope.txt")], b"", 1,
         "cannot read {dir}/nope.txt: No such file or directory"),
        (["eval", "-m", good, str(d)], b"", 1, "cannot read {dir}: Is a directory"),
        (["eval", "-m", good, INVALID], b"", 1,
         "{invalid}: invalid UTF-8 at byte 141 (use --errors replace or --errors ignore to go on)"),
        (["eval", "-m", good, "-"], b"ok\n\xff\n", 1,
         "<stdin>: invalid UTF-8 at byte 3 (use --errors replace or --errors ignore to go on)"),
        (["eval", "-m", good, str(f["bad.gz"])], b"", 1,
         "cannot read {dir}/bad.gz: Error -3 while decompressing data: invalid code lengths set"),
        (["eval", "-m", good, str(f["invalid.gz"])], b"", 1,
         "{dir}/invalid.txt.gz: invalid UTF-8 at byte 10 (decompressed) (use --errors replace or --errors ignore to go on)"),
        (["eval", "-m", good, TINY_EN, "--json", "--markdown"], b"", 2,
         "give at most one of --json and --markdown (see 'bytepiece eval --help')"),
        (["eval", "-m", good], b"", 2,
         "Missing argument 'CORPUS...'. (see 'bytepiece eval --help')"),
        (["eval", TINY_EN], b"", 2,
         "Missing option '-m' / '--model'. (see 'bytepiece eval --help')"),
        (["eval", "-m", good, "--threads", "0", TINY_EN], b"", 2,
         "Invalid value for '--threads': 0 is not in the range x>=1. (see 'bytepiece eval --help')"),
        (["eval", "-m", str(f["sp-garbage"]), TINY_EN], b"", 1,
         "model {dir}/garbage.model: not a bytepiece, SentencePiece or tokenizer.json model (sentencepiece: INTERNAL: could not parse ModelProto from {dir}/garbage.model)"),
        # inspect
        (["inspect", str(f["sp-garbage"])], b"", 1,
         "model {dir}/garbage.model: not a SentencePiece model (field 1 runs past the end of the message)"),
        (["inspect", good, "--top", "-1"], b"", 2,
         "Invalid value for '--top': -1 is not in the range x>=0. (see 'bytepiece inspect --help')"),
        (["inspect"], b"", 2, "Missing argument 'MODEL'. (see 'bytepiece inspect --help')"),
        # outputs that are inputs, or that cannot be written: refused before the work
        (["encode", "-m", good, str(f["victim"]), "-o", str(f["victim"])], b"", 1,
         "cannot write {dir}/victim.txt: it is an input of this run; write the output to "
         "another file"),
        (["encode", "-m", good, str(f["victim"]), "-o", str(f["victim-link"])], b"", 1,
         "cannot write {dir}/victim-link.txt: it is an input of this run (the same file as "
         "{dir}/victim.txt); write the output to another file"),
        (["encode", "-m", good, "-o", good], b"x\n", 1,
         "cannot write {dir}/good.json: it is an input of this run; write the output to "
         "another file"),
        (["decode", "-m", good, str(f["victim"]), "-o", str(f["victim"])], b"", 1,
         "cannot write {dir}/victim.txt: it is an input of this run; write the output to "
         "another file"),
        (["train", str(f["victim"]), "-o", str(f["victim-link"]), "--vocab-size", "300"], b"",
         1, "cannot write {dir}/victim-link.txt: it is an input of this run (the same file as "
         "{dir}/victim.txt); write the output to another file"),
        (["train", str(f["m.300"]), "-o", str(d / "m"), "--vocab-size", "400,300"], b"", 1,
         "cannot write {dir}/m.300: it is an input of this run; write the output to another "
         "file"),
        (["convert", good, good, "--to", "huggingface"], b"", 1,
         "cannot write {dir}/good.json: it is an input of this run; write the output to "
         "another file"),
        (["convert", str(f["sp-garbage"]), o, "--from", "sentencepiece", "--id-map", o], b"",
         2, "--id-map and OUT name the same file (see 'bytepiece convert --help')"),
        # encode: options that need another
        (["encode", "-m", good, "--seed", "3"], b"x\n", 2,
         "--seed goes with --alpha (sampling); without it the best segmentation is taken and "
         "there is nothing to seed (see 'bytepiece encode --help')"),
        (["encode", "-m", good, "--jsonl-field", "text"], b"x\n", 2,
         "--jsonl-field reads files (plain, .gz or .zst), not stdin "
         "(see 'bytepiece encode --help')"),
        # encode: compressed and JSON Lines inputs
        (["encode", "-m", good, str(f["invalid.gz"])], b"", 1,
         "{dir}/invalid.txt.gz: invalid UTF-8 at byte 10 (decompressed) (use --errors replace "
         "or --errors ignore to go on)"),
        (["encode", "-m", good, str(f["bad.gz"])], b"", 1,
         "cannot read {dir}/bad.gz: Error -3 while decompressing data: invalid code lengths "
         "set"),
        (["encode", "-m", good, "--jsonl-field", "text", str(f["jsonl"])], b"", 1,
         "{dir}/corpus.jsonl: line 2 of the block at byte 0 is not a JSON object with a "
         "string field 'text'"),
        (["encode", "-m", good, "--jsonl-field", "text", str(d / "nope.jsonl")], b"", 1,
         "corpus file {dir}/nope.jsonl does not exist"),
        # models of other libraries
        (["encode", "-m", str(f["sp-garbage"])], b"x\n", 1,
         "model {dir}/garbage.model is a SentencePiece model, and encode reads bytepiece "
         "models: convert it with `bytepiece convert --from sentencepiece`"),
        (["decode", "-m", str(f["sp-garbage"])], b"3\n", 1,
         "model {dir}/garbage.model is a SentencePiece model, and decode reads bytepiece "
         "models: convert it with `bytepiece convert --from sentencepiece`"),
        (["convert", str(f["sp-garbage"]), o, "--to", "huggingface"], b"", 1,
         "model {dir}/garbage.model is a SentencePiece model, and convert --to huggingface "
         "reads bytepiece models: convert it with `bytepiece convert --from sentencepiece`"),
        (["encode", "-m", str(f["hf"])], b"x\n", 1,
         "model {dir}/tokenizer.json is a Hugging Face tokenizer.json model, and encode reads "
         "bytepiece models"),
        (["convert", str(f["hf"]), o, "--to", "sentencepiece"], b"", 1,
         "model {dir}/tokenizer.json is a Hugging Face tokenizer.json model, and convert --to "
         "sentencepiece reads bytepiece models"),
        # decode: token arrays and pieces
        (["decode", "-m", good, "--format", "npy", str(f["ids"])], b"", 1,
         "{dir}/ids.txt: not a .npy token array (no .npy header)"),
        (["decode", "-m", good, "--format", "npy", str(f["floats.npy"])], b"", 1,
         "{dir}/floats.npy: not a .npy token array (an array of float64 of shape (3,), where "
         "1-d integer ids are expected)"),
        (["decode", "-m", good, "--format", "npy", str(f["short.npy"])], b"", 1,
         "{dir}/short.npy: ends after 5 of the 7 ids its .npy header says"),
        (["decode", "-m", good, "--format", "bin", str(f["odd.bin"])], b"", 1,
         "{dir}/odd.bin: 1 bytes left over after 1 ids: not an array of uint16 ids "
         "(--format bin needs the model the array was encoded with)"),
        (["decode", "-m", good, "--format", "bin", str(f["big.bin"])], b"", 1,
         "{dir}/big.bin: token 1: 65535 is not an id of this model (0..260)"),
        (["decode", "-m", good, "--format", "pieces"], b"h e l l o\nzzq\n", 1,
         "<stdin>: line 2: 'zzq' is not a piece of this model as `bytepiece encode "
         "--format pieces` writes it"),
        # special tokens: bad tokens and options, everywhere they are given
        (["special", good, "--add", "", "-o", o], b"", 2,
         "Invalid value for '--add': a special token cannot be empty (see 'bytepiece special "
         "--help')"),
        (["special", good, "--add", "<|a|>,<|a|>", "-o", o], b"", 2,
         "Invalid value for '--add': special token '<|a|>' is given twice (or is already one) "
         "(see 'bytepiece special --help')"),
        (["special", good, "--add", "<|a|>,hello", "-o", o], b"", 2,
         "Invalid value for '--add': special token 'hello' is a piece of the model; choose a "
         "text that is not (see 'bytepiece special --help')"),
        (["special", good, "--add", "<|a|>,\udcff", "-o", o], b"", 2,
         "Invalid value for '--add': special token '\\udcff' is not UTF-8 (it holds a lone "
         "surrogate) (see 'bytepiece special --help')"),
        (["special", good, "--add", "<|a|>"], b"", 2,
         "--add needs -o NEW, the model to write (see 'bytepiece special --help')"),
        (["special", good, "-o", o], b"", 2, "-o goes with --add (see 'bytepiece special --help')"),
        (["encode", "-m", good, "--special", "<|x|>"], b"x\n", 2,
         "Invalid value for '--special': '<|x|>' is not a special token of this model (its "
         "special tokens: none); add it with add_special_tokens or `bytepiece special --add` "
         "(see 'bytepiece encode --help')"),
        (["train", TINY_EN, "-o", o, "--vocab-size", "300", "--special-tokens", "<|a|>,a"], b"",
         2, "Invalid value for '--special-tokens': special token 'a' is a single byte, which "
         "every model has as a piece; choose a longer text (see 'bytepiece train --help')"),
        (["convert", good, o, "--to", "huggingface", "--chat-template", TINY_EN], b"", 2,
         "--chat-template goes with --to transformers (see 'bytepiece convert --help')"),
        (["convert", good, str(f["victim"]), "--to", "transformers"], b"", 1,
         "{dir}/victim.txt is a file: --to transformers writes a directory"),
        (["convert", good, o, "--to", "transformers", "--chat-template", str(d / "no.jinja")],
         b"", 1, "chat template {dir}/no.jinja: cannot read: No such file or directory"),
        # compile: no arguments
        (["compile", "extra"], b"", 2,
         "Got unexpected extra argument (extra) (see 'bytepiece compile --help')"),
        # the group
        (["frobnicate"], b"", 2, "No such command 'frobnicate'. (see 'bytepiece --help')"),
        (["--nope"], b"", 2, "No such option '--nope'. (see 'bytepiece --help')"),
    ]
    return cases


N_CASES = 115


@pytest.mark.parametrize("index", range(N_CASES))
def test_bad_input_matrix(files, index):
    args, stdin, status, message = _cases(files)[index]
    got_status, err = run(args, stdin)
    _check(got_status, err, status, _message(message, files))
    assert not (files["dir"] / "out").exists()
    assert not list(files["dir"].glob(".bytepiece-*"))


def test_every_command_is_covered(files):
    cases = _cases(files)
    assert len(cases) == N_CASES
    assert {c[0][0] for c in cases} >= set(_COMMANDS)
    assert {c[0] for c in MODEL_COMMANDS.values()} | {"train"} >= set(_COMMANDS)


@pytest.mark.parametrize("args, stdin, status, message", [
    (["encode", "-m", "{good}"], b"ok\n\xff\n", 1,
     "<stdin>: invalid UTF-8 at byte 3 (use --errors replace or --errors ignore to go on)"),
    (["encode", "-m", "{truncated}"], b"x\n", 1,
     "model {truncated}: not a JSON model file (Expecting value: line 18 column 5 (char 200))"),
    (["decode", "-m", "{good}"], b"3 x\n", 1,
     "<stdin>: line 1: 'x' is not an id of this model (0..260)"),
    (["train", "{empty}", "-o", "{dir}/m.json", "--vocab-size", "300"], b"", 1,
     "the corpus is empty"),
    (["convert", "{good}", "{dir}", "--to", "huggingface"], b"", 1,
     "cannot write {dir}: it is a folder"),
    (["frobnicate"], b"", 2, "No such command 'frobnicate'. (see 'bytepiece --help')"),
])
def test_real_processes(files, args, stdin, status, message):
    """The same through a real process: what a shell pipeline sees."""
    names = {k: str(v) for k, v in files.items()}
    args = [a.format(**names) for a in args]
    got_status, err = run_process(args, stdin)
    _check(got_status, err, status, message.format(**names))


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
