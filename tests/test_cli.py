"""The command line: encode and decode, formats, errors, and a real pipeline."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata

import pytest
from click.testing import CliRunner

from bytepiece import Tokenizer
from bytepiece.model import Model
from bytepiece_cli.main import main
from conftest import CORPORA, make_model

PIECES = {b"hello": 50, b" world": 40, b"\n\n": 9, "é".encode(): 7, b" the": 60, b"\\": 3}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.json"
    Model.from_dict(make_model(PIECES)).save(path)
    return str(path)


def run(args, input=None):
    """Run the CLI in-process; returns (exit status, stdout bytes, stderr text)."""
    runner = CliRunner()
    result = runner.invoke(_entry, args, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout_bytes, result.stderr


def _entry_main(args):
    try:
        main(args)
    except SystemExit as e:
        return e.code


import click  # noqa: E402


@click.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def _entry(args):
    sys.exit(_entry_main(list(args)))


def test_encode_ids_and_round_trip(model_path):
    tokenizer = Tokenizer(model_path)
    text = "hello world\n\n\nthe é\nlast line"
    status, out, err = run(["encode", "-m", model_path], input=text.encode())
    assert status == 0, err
    lines = out.decode().split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(text.split("\n"))
    assert [int(x) for x in lines[0].split()] == tokenizer.encode("hello world\n")
    assert lines[1] == lines[2] == str(tokenizer.piece_to_id(b"\n"))
    status, back, err = run(["decode", "-m", model_path], input=out)
    assert status == 0, err
    assert back.decode() == text


def test_formats_and_special_tokens(model_path):
    tokenizer = Tokenizer(model_path)
    _, out, _ = run(["encode", "-m", model_path, "--format", "pieces"], input="hello \\ x\n")
    assert out == b"hello \\s \\\\ \\s x \\n\n"
    _, out, _ = run(["encode", "-m", model_path, "--format", "jsonl", "--bos", "--eos"],
                    input="hello")
    assert json.loads(out) == {"ids": [1] + tokenizer.encode("hello") + [2]}
    status, back, _ = run(["decode", "-m", model_path], input=out)
    assert status == 0 and back == b"hello"
    _, out, _ = run(["encode", "-m", model_path, "--bos", "--eos"], input="")
    assert out == b""


def test_sampling_is_seeded(model_path):
    text = ("hello world the " * 50 + "\n") * 20
    args = ["encode", "-m", model_path, "--alpha", "0.1", "--seed", "3"]
    _, a, _ = run(args, input=text)
    _, b, _ = run(args + ["--threads", "1"], input=text)
    _, c, _ = run(["encode", "-m", model_path, "--alpha", "0.1", "--seed", "4"], input=text)
    assert a == b and a != c
    _, back, _ = run(["decode", "-m", model_path], input=a)
    assert back.decode() == text


def test_files_and_output(model_path, tmp_path):
    source = CORPORA / "tiny" / "unicode-edge.txt"
    ids_path = tmp_path / "ids.txt"
    status, out, err = run(["encode", "-m", model_path, str(source), "-o", str(ids_path)])
    assert status == 0 and out == b"", err
    status, _, err = run(["decode", "-m", model_path, str(ids_path), "-o",
                          str(tmp_path / "back.txt")])
    assert status == 0, err
    nfc = unicodedata.normalize("NFC", source.read_bytes().decode())
    assert (tmp_path / "back.txt").read_bytes() == nfc.encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.txt", "ids.txt"]


ERRORS = [
    (["encode", "-m", "/nonexistent/model.json"], None, 1, "cannot read"),
    (["encode", "-m", "{model}", "/nonexistent.txt"], None, 1, "cannot read /nonexistent.txt"),
    (["encode", "-m", "{model}", str(CORPORA / "tiny" / "invalid-utf8.bin")], None, 1,
     "invalid UTF-8 at byte 141"),
    (["encode", "-m", "{model}", "--threads", "0"], "", 2, "--threads"),
    (["encode", "-m", "{model}", "--format", "xml"], "", 2, "--format"),
    (["encode"], "", 2, "Missing option '-m'"),
    (["decode", "-m", "{model}"], "3 4 999999\n", 1, "line 1: '999999' is not an id"),
    (["decode", "-m", "{model}"], "3 4\n5 x7\n", 1, "line 2: 'x7' is not an id"),
    (["decode", "-m", "{model}"], '{"ids": [3, -1]}\n', 1, "line 1: id -1 is out of range"),
    (["nosuchcommand"], None, 2, "No such command"),
    (["encode", "-m", "{model}", "-o", "/nonexistent/dir/out.txt"], "hello", 1,
     "cannot write /nonexistent/dir/out.txt"),
]


@pytest.mark.parametrize("args,stdin,status,message", ERRORS)
def test_errors_are_one_line(model_path, args, stdin, status, message):
    args = [a.replace("{model}", model_path) for a in args]
    code, out, err = run(args, input=stdin)
    assert code == status
    assert message in err
    assert err.count("\n") == 1 and err.startswith("bytepiece: error: ")
    assert "Traceback" not in err


def test_invalid_utf8_can_be_replaced(model_path):
    source = CORPORA / "tiny" / "invalid-utf8.bin"
    status, out, err = run(["encode", "-m", model_path, "--errors", "replace", str(source)])
    assert status == 0, err
    _, back, _ = run(["decode", "-m", model_path], input=out)
    assert back.decode() == source.read_bytes().decode(errors="replace")


def test_help_and_version():
    status, out, _ = run(["--version"])
    assert status == 0 and out.startswith(b"bytepiece, version ")
    for command in ["encode", "decode"]:
        status, out, _ = run([command, "--help"])
        assert status == 0 and b"Examples:" in out


def test_real_pipeline(model_path, tmp_path):
    """encode | decode through real processes reproduces the NFC text exactly."""
    source = CORPORA / "tiny" / "zh.txt"
    encode = subprocess.Popen([sys.executable, "-m", "bytepiece", "encode", "-m", model_path,
                               str(source)], stdout=subprocess.PIPE)
    decoded = subprocess.run([sys.executable, "-m", "bytepiece", "decode", "-m", model_path],
                             stdin=encode.stdout, capture_output=True, check=True)
    assert encode.wait() == 0
    assert decoded.stdout == unicodedata.normalize("NFC", source.read_text()).encode()
    assert decoded.stderr == b""


def test_failed_encode_leaves_an_existing_output_untouched(model_path, tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("precious")
    status, _, err = run(["encode", "-m", model_path, "-o", str(target),
                          str(CORPORA / "tiny" / "en.txt"), str(CORPORA / "tiny" / "invalid-utf8.bin")])
    assert status == 1 and "invalid UTF-8" in err
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize("signame, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_interrupt_exits_quietly(model_path, tmp_path, signame, status):
    """Ctrl-C or SIGTERM while encoding: status 130 / 143, no traceback, no partial output."""
    import signal
    import time

    out = tmp_path / "ids.txt"
    proc = subprocess.Popen([sys.executable, "-m", "bytepiece", "encode", "-m", model_path,
                             "-", "-o", str(out)], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdin.write(b"hello world\n" * 1000)
    proc.stdin.flush()
    deadline = time.monotonic() + 120
    while not list(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the output is open, the model loaded
    assert [p.name.startswith(".bytepiece-") for p in tmp_path.iterdir()] == [True]
    time.sleep(0.2)
    proc.send_signal(getattr(signal, signame))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == status
    assert b"Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_small_blocks_format_ids_like_the_kernel():
    """Small blocks are formatted in Python (no numba at start-up): same bytes as the kernel."""
    import numpy as np

    from bytepiece._kernels.text_io import format_id_lines
    from bytepiece_cli.encode import _format_id_lines

    rng = np.random.default_rng(5)
    ids = rng.integers(0, 70000, 500).astype(np.int32)
    token_ends = np.sort(rng.integers(0, 501, 40)).astype(np.int64)
    for bos, eos in [(-1, -1), (1, -1), (-1, 2), (1, 2)]:
        assert _format_id_lines(ids, token_ends, bos, eos).tobytes() == \
            format_id_lines(ids, token_ends, bos, eos).tobytes()


@pytest.mark.parametrize("signame, status", [("SIGINT", 130), ("SIGTERM", 143)])
def test_signals_wait_until_numba_code_returns(tmp_path, signame, status):
    """A signal that arrives while numba's (or llvmlite's) Python code runs is held back
    and raised once that code has returned, so it cannot leave the compiler half-built;
    the process then ends with 130 / 143 and nothing else on stderr."""
    fake = tmp_path / "numba"
    fake.mkdir()
    (fake / "compiler.py").write_text(
        "import os, signal, time\n"
        "def compile_for_a_while(log):\n"
        "    os.kill(os.getpid(), signal." + signame + ")\n"
        "    end = time.monotonic() + 0.5\n"
        "    while time.monotonic() < end:\n"
        "        pass\n"
        "    log.append('compiled')\n")
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, click\n"
        f"sys.path.insert(0, {str(fake)!r})\n"
        "import compiler\n"
        "from bytepiece_cli import main as m\n"
        "log = []\n"
        "@m.cli.command('fake')\n"
        "def fake():\n"
        "    try:\n"
        "        compiler.compile_for_a_while(log)\n"
        "        while True:\n"
        "            pass\n"
        "    finally:\n"
        "        sys.stderr.write(','.join(log) + '|')\n"
        "m._COMMANDS['fake'] = ('bytepiece_cli.main', '')\n"
        "m.LazyGroup.get_command = lambda self, ctx, name: fake\n"
        "sys.argv = ['bytepiece', 'fake']\n"
        "m.main()\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == status, err
    # the compiler finished its work before the signal took effect
    assert err.startswith("compiled|"), err
    assert "Traceback" not in err


# -- every output of encode decodes; encode reads what train reads -------------------

#: A text with what pieces must escape: backslash, spaces, tabs, CR, NUL, a C1 control
#: and no-break space (unprintable characters above 0x7f), "<bos>" as text, é in NFD.
AWKWARD = ("hello world\n\n\tthe \\ back\\slash\r\n<bos> <eos>\x00\x85\xa0 e\u0301\n"
           "last line without a newline")


@pytest.fixture(scope="module")
def awkward_model(tmp_path_factory):
    """A model with pieces that need escaping, among them the text "<bos>"."""
    path = tmp_path_factory.mktemp("awkward") / "model.json"
    pieces = dict(PIECES)
    pieces.update({b"<bos>": 5, b" <": 4, "\x85".encode(): 3, b"\\s": 3, b"\xc3": 2,
                   b"\r\n": 4, b"\t": 3})
    Model.from_dict(make_model(pieces)).save(path)
    return str(path)


@pytest.mark.parametrize("fmt", ["ids", "pieces", "jsonl", "bin", "npy"])
@pytest.mark.parametrize("special", [[], ["--bos", "--eos"]])
def test_every_encode_format_decodes(awkward_model, tmp_path, fmt, special):
    source = tmp_path / "in.txt"
    source.write_text(AWKWARD)
    encoded = tmp_path / f"out.{fmt}"
    status, _, err = run(["encode", "-m", awkward_model, "--format", fmt, *special, "-q",
                          "-o", str(encoded), str(source)])
    assert status == 0 and err == ""
    status, back, err = run(["decode", "-m", awkward_model, "--format", fmt, str(encoded)])
    assert status == 0, err
    assert back.decode() == unicodedata.normalize("NFC", AWKWARD)
    if fmt in ("bin", "npy"):  # also from stdin
        status, back, err = run(["decode", "-m", awkward_model, "--format", fmt],
                                input=encoded.read_bytes())
        assert status == 0 and back.decode() == unicodedata.normalize("NFC", AWKWARD), err


def test_pieces_that_look_special_stay_pieces(awkward_model):
    """The text "<bos>" is a piece of this model: written so that decode keeps it."""
    _, out, _ = run(["encode", "-m", awkward_model, "--format", "pieces", "--bos"],
                    input="<bos>\n")
    assert out == b"<bos> \\x3cbos> \\n\n"
    _, back, _ = run(["decode", "-m", awkward_model, "--format", "pieces"], input=out)
    assert back == b"<bos>\n"


def test_token_arrays_decode_in_small_reads(awkward_model, tmp_path, monkeypatch):
    """Reads that cut ids and UTF-8 characters in two give the same text."""
    import bytepiece_cli.decode

    text = ("é 中文 hello world\n" * 50)
    encoded = tmp_path / "t.npy"
    run(["encode", "-m", awkward_model, "--format", "npy", "-q", "-o", str(encoded)],
        input=text)
    monkeypatch.setattr(bytepiece_cli.decode, "ARRAY_READ_BYTES", 3)
    status, back, err = run(["decode", "-m", awkward_model, "--format", "npy", str(encoded)])
    assert status == 0 and back.decode() == text, err


def test_encode_reads_compressed_files_and_json_lines(model_path, tmp_path):
    import gzip

    import zstandard

    text = (CORPORA / "tiny" / "en.txt").read_text()
    plain = tmp_path / "c.txt"
    plain.write_text(text)
    (tmp_path / "c.txt.gz").write_bytes(gzip.compress(text.encode()))
    (tmp_path / "c.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    _, want, _ = run(["encode", "-m", model_path, str(plain)])
    for name in ("c.txt.gz", "c.txt.zst"):
        status, out, err = run(["encode", "-m", model_path, str(tmp_path / name)])
        assert status == 0 and out == want, err
    docs = ["first document\nwith two lines\n", "second", "", "é\r\n"]
    jsonl = tmp_path / "c.jsonl.gz"
    jsonl.write_bytes(gzip.compress("".join(json.dumps({"text": d, "n": 1}) + "\n"
                                            for d in docs).encode()))
    tokenizer = Tokenizer(model_path)
    status, out, err = run(["encode", "-m", model_path, "--jsonl-field", "text", str(jsonl)])
    assert status == 0, err
    assert out.decode().splitlines() == [" ".join(map(str, tokenizer.encode(d))) for d in docs]
    npy = tmp_path / "docs.npy"
    status, _, err = run(["encode", "-m", model_path, "--jsonl-field", "text", "--eos",
                          "--format", "npy", "-o", str(npy), str(jsonl)])
    assert status == 0 and err.startswith("bytepiece: encoded 40 bytes into "), err
    import numpy as np

    assert np.load(npy).tolist() == [i for d in docs for i in tokenizer.encode(d, add_eos=True)]


def test_quiet_encode_prints_nothing(model_path, tmp_path):
    status, _, err = run(["encode", "-m", model_path, "--format", "bin", "-q", "-o",
                          str(tmp_path / "t.bin")], input="hello world\n")
    assert status == 0 and err == ""
    status, _, err = run(["encode", "-m", model_path, "--format", "bin", "-o",
                          str(tmp_path / "t.bin")], input="hello world\n")
    assert status == 0 and err.startswith("bytepiece: encoded 12 bytes into 3 tokens to ")


def test_output_checked_before_the_work(model_path, tmp_path):
    """A folder that takes no new file: refused at once, the input never read."""
    import os

    if os.geteuid() == 0:
        target = "/sys/out.txt"  # root writes anywhere else
    else:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
        target = str(folder / "out.txt")
    never = tmp_path / "fifo"
    os.mkfifo(never)  # reading it would block: the check must come first
    status, _, err = run(["encode", "-m", model_path, str(never), "-o", target])
    assert status == 1
    assert err == f"bytepiece: error: cannot write {target}: Permission denied\n"


def test_an_interrupt_says_so_on_one_line(model_path):
    """Ctrl-C: status 130 and the line "bytepiece: interrupted" (no blank line)."""
    code = ("import os, signal, sys\n"
            "from bytepiece_cli import main as m\n"
            "import bytepiece_cli._common as c\n"
            "def boom(*a, **k):\n    os.kill(os.getpid(), signal.SIGINT)\n"
            "    while True: pass\n"
            "c.check_output = boom\n"
            "import bytepiece_cli.encode as e\ne.check_output = boom\n"
            f"sys.argv = ['bytepiece', 'encode', '-m', {model_path!r}]\n"
            "m.main()\n")
    proc = subprocess.run([sys.executable, "-c", code], input=b"x\n", capture_output=True,
                          timeout=60)
    assert proc.returncode == 130 and proc.stderr == b"bytepiece: interrupted\n"
