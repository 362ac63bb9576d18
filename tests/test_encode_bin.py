"""Token arrays: ``bytepiece encode --format bin|npy`` and ``bytepiece.token_array``."""

from __future__ import annotations

import io
import sys

import click
import numpy as np
import pytest
from click.testing import CliRunner

from bytepiece import InputError, Tokenizer
from bytepiece.model import Model
from bytepiece.token_array import (NPY_HEADER_BYTES, TokenArrayWriter, add_special_ids,
                                   encode_blocks, line_ends, npy_header, token_dtype)
from bytepiece_cli.main import main
from conftest import CORPORA, FIXTURES, make_model

MODEL = str(FIXTURES / "train" / "mixed-o4-mc2-unlimited.json")
TEXTS = [str(p) for p in sorted((CORPORA / "tiny").iterdir()) if p.suffix != ".bin"]


def run(args, input=None):
    """Run the CLI in-process: (status, stdout bytes, stderr text)."""
    @click.command()
    def entry():
        try:
            main(args)
        except SystemExit as e:
            sys.exit(e.code)

    result = CliRunner().invoke(entry, [], input=input, catch_exceptions=False)
    return result.exit_code, result.stdout_bytes, result.stderr


def ids_format(args) -> list[int]:
    """The ids of ``bytepiece encode`` (ids format) as one flat list."""
    status, out, err = run(["encode", "-m", MODEL, *args])
    assert status == 0, err
    return [int(x) for x in out.split()]


@pytest.mark.parametrize("specials", [[], ["--eos"], ["--bos", "--eos"], ["--bos"]])
def test_bin_is_the_ids_format_flattened(tmp_path, specials):
    out = tmp_path / "tokens.bin"
    status, _, err = run(["encode", "-m", MODEL, "--format", "bin", "-o", str(out),
                          *specials, *TEXTS])
    assert status == 0, err
    tokens = np.fromfile(out, np.uint16)
    assert tokens.tolist() == ids_format([*specials, *TEXTS])
    assert f"into {tokens.shape[0]:,} tokens" in err and "bytes/token" in err
    assert "MB/s" in err


def test_npy_loads_and_memory_maps(tmp_path):
    out = tmp_path / "tokens.npy"
    status, _, err = run(["encode", "-m", MODEL, "--format", "npy", "--eos", "-o", str(out),
                          *TEXTS])
    assert status == 0, err
    mapped = np.load(out, mmap_mode="r")
    assert isinstance(mapped, np.memmap) and mapped.dtype == np.uint16
    assert mapped.tolist() == ids_format(["--eos", *TEXTS])
    assert out.stat().st_size == NPY_HEADER_BYTES + 2 * mapped.shape[0]
    assert (mapped == 2).sum() == sum(len(open(p, "rb").read().splitlines()) for p in TEXTS)


def test_bin_to_stdout_and_npy_needs_a_file():
    status, out, _ = run(["encode", "-m", MODEL, "--format", "bin"], input="hello world\n")
    assert status == 0
    assert np.frombuffer(out, np.uint16).tolist() == Tokenizer(MODEL).encode("hello world\n")
    status, out, err = run(["encode", "-m", MODEL, "--format", "npy"], input="hello\n")
    assert status == 2 and out == b""
    assert err.startswith("bytepiece: error: --format npy needs -o FILE")


def test_uint32_when_the_vocabulary_does_not_fit_in_uint16(tmp_path):
    counts = {bytes([a, b]): 2 for a in range(256) for b in range(256)}  # 65536 + 256
    counts.update({b" he": 10**6, b"llo": 10**6})           # ids come after the 2-byte ones
    path = tmp_path / "big.json"
    Model.from_dict(make_model(counts)).save(path)
    out = tmp_path / "tokens.npy"
    status, _, err = run(["encode", "-m", str(path), "--format", "npy", "-o", str(out)],
                         input="\xff\xfe hello")
    assert status == 0, err
    tokens = np.load(out)
    assert tokens.dtype == np.uint32
    assert tokens.tolist() == Tokenizer(path).encode("\xff\xfe hello")
    assert tokens.max() > 65535 and "uint32" in err


def test_bad_input_leaves_no_file(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\n" * 1000 + b"bad \xff byte\n")
    out = tmp_path / "tokens.bin"
    status, _, err = run(["encode", "-m", MODEL, "--format", "bin", "-o", str(out), str(bad)])
    assert status == 1
    assert err == f"bytepiece: error: {bad}: invalid UTF-8 at byte 10004 " \
                  f"(use --errors replace or --errors ignore to go on)\n"
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]
    status, _, err = run(["encode", "-m", MODEL, "--format", "bin", "-o", str(out),
                          "--errors", "replace", str(bad)])
    assert status == 0
    assert np.fromfile(out, np.uint16)[-6:].tolist() == \
        Tokenizer(MODEL).encode("fine line\n" * 1000 + "bad \ufffd byte\n")[-6:]


def test_nfc_and_sampling(tmp_path):
    text = "cafe\u0301 e\u0301te\u0301\n" * 50 + "hello world\n" * 100
    status, out, _ = run(["encode", "-m", MODEL, "--format", "bin"], input=text.encode())
    assert np.frombuffer(out, np.uint16).tolist() == \
        [i for line in Tokenizer(MODEL).encode_batch(text.splitlines(keepends=True))
         for i in line]
    sampled = [run(["encode", "-m", MODEL, "--format", "bin", "--alpha", "0.2", "--seed", "7",
                    "--threads", threads], input=text.encode())[1] for threads in "131"]
    assert sampled[0] == sampled[1] == sampled[2] != out


# -- the library -----------------------------------------------------------------

def test_encode_blocks_keeps_order_on_many_threads():
    tokenizer = Tokenizer(MODEL)
    lines = []
    for path in TEXTS:
        lines += open(path, encoding="utf-8").read().splitlines(keepends=True)
    blocks = ["".join(lines[i:i + 7]).encode() for i in range(0, len(lines), 7)]
    seen = []
    for block, ids in encode_blocks(tokenizer, blocks, lambda b: b, num_threads=4, eos_id=2):
        seen.append(block)
        assert ids.dtype == np.uint16
    assert seen == blocks
    flat = np.concatenate([ids for _, ids in encode_blocks(tokenizer, blocks, lambda b: b,
                                                           num_threads=3)])
    assert flat.tolist() == [i for line in lines for i in tokenizer.encode_bytes(line.encode())]


def test_encode_blocks_raises_the_first_error_in_order():
    tokenizer = Tokenizer(MODEL)

    def prepare(block):
        if block.startswith(b"bad"):
            raise InputError(block.decode())
        return block

    blocks = [b"ok\n"] * 5 + [b"bad 1\n", b"ok\n", b"bad 2\n"] + [b"ok\n"] * 20
    done = []
    with pytest.raises(InputError, match="bad 1"):
        for block, _ in encode_blocks(tokenizer, blocks, prepare, num_threads=4):
            done.append(block)
    assert done == [b"ok\n"] * 5


def test_writer_and_helpers():
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32
    assert line_ends(np.frombuffer(b"", np.uint8)).tolist() == []
    assert line_ends(np.frombuffer(b"\n\nx", np.uint8)).tolist() == [1, 2, 3]
    ids, ends = np.array([5, 6, 7, 8]), np.array([1, 1, 4])
    assert add_special_ids(ids, ends, 1, 2).tolist() == [1, 5, 2, 1, 2, 1, 6, 7, 8, 2]
    assert add_special_ids(ids, ends, 1, None).tolist() == [1, 5, 1, 1, 6, 7, 8]
    assert add_special_ids(ids, ends, None, None) is ids
    f = io.BytesIO()
    with TokenArrayWriter(f, np.uint32, "npy") as writer:
        writer.write(np.array([1, 70000], np.int64))
        writer.write(np.array([], np.int32))
        writer.write(np.array([3], np.int32))
    assert writer.length == 3
    loaded = np.load(io.BytesIO(f.getvalue()))
    assert loaded.dtype == np.dtype("<u4") and loaded.tolist() == [1, 70000, 3]
    for length in (0, 7, 10**15):
        header = io.BytesIO(npy_header(np.dtype(np.uint16), length))
        assert np.lib.format.read_magic(header) == (1, 0)
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(header)
        assert (shape, fortran_order, dtype) == ((length,), False, np.dtype("<u2"))
        assert header.tell() == NPY_HEADER_BYTES
    with pytest.raises(InputError, match="seekable"):
        TokenArrayWriter(_Pipe(), np.uint16, "npy")
    with pytest.raises(InputError, match="unknown token array format"):
        TokenArrayWriter(io.BytesIO(), np.uint16, "csv")


class _Pipe(io.RawIOBase):
    def writable(self):
        return True

    def seekable(self):
        return False
