"""``bytepiece decode --errors``: bytes that are not UTF-8, in every input format.

The default replaces them with U+FFFD, as ``Tokenizer.decode``, Python's ``bytes.decode``
and tiktoken do; ``ignore`` drops them; ``strict`` is a one-line error naming the line
and token (or the token of an array), with status 1 and no output file.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bytepiece import Tokenizer
from bytepiece.model import Model
from conftest import invoke_cli, make_model

RAW = b"raw \xff bytes"
FORMATS = ["ids", "jsonl", "pieces", "bin", "npy"]
MESSAGE_TAIL = "is not UTF-8 (use --errors replace or --errors ignore to go on)"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "m.json"
    Model.from_dict(make_model({b"raw": 5, b" bytes": 4, b"hello": 3})).save(path)
    return str(path)


@pytest.fixture(scope="module")
def tokenizer(model):
    return Tokenizer(model)


def _lines(tokenizer) -> list[list[int]]:
    """The ids of two lines: "hello\\n" and RAW + "\\n"."""
    return [tokenizer.encode_bytes(b"hello\n"), tokenizer.encode_bytes(RAW + b"\n")]


def _write(path, fmt: str, lines: list[list[int]]) -> None:
    """``lines`` as ``bytepiece encode --format fmt`` writes them."""
    if fmt == "ids":
        path.write_text("".join(" ".join(map(str, ids)) + "\n" for ids in lines))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps({"ids": ids}) + "\n" for ids in lines))
    elif fmt == "pieces":  # written by hand, escaped as the README says
        path.write_bytes(b"hello \\n\nraw \\s \\xff \\sbytes \\n\n")
    elif fmt == "bin":
        np.array(sum(lines, []), "<u2").tofile(path)
    else:
        np.save(path, np.array(sum(lines, []), np.uint16))


def _bad_byte_at(tokenizer, lines) -> tuple[int, int]:
    """(index in line 2, id) of the token that spells 0xff."""
    bad_id = tokenizer.encode_bytes(b"\xff")[0]
    return lines[1].index(bad_id), bad_id


def test_the_input_is_what_the_tests_assume(tokenizer):
    """RAW's ids are raw, space, the byte 0xff, " bytes" (as the pieces file spells them)."""
    ids = tokenizer.encode_bytes(RAW + b"\n")
    assert [tokenizer.id_to_piece(i) for i in ids] == [b"raw", b" ", b"\xff", b" bytes", b"\n"]
    assert tokenizer.decode_bytes(ids) == RAW + b"\n"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("errors, want", [
    (None, "hello\nraw \ufffd bytes\n"),
    ("replace", "hello\nraw \ufffd bytes\n"),
    ("ignore", "hello\nraw  bytes\n"),
    ("backslashreplace", "hello\nraw \\xff bytes\n"),
])
def test_each_format_follows_errors(model, tokenizer, tmp_path, fmt, errors, want):
    lines = _lines(tokenizer)
    path = tmp_path / f"in.{fmt}"
    _write(path, fmt, lines)
    option = [] if errors is None else ["--errors", errors]
    result = invoke_cli(["decode", "-m", model, "--format", fmt, *option, path])
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout_bytes == want.encode()
    # the same text as the library gives, line by line
    assert want == "".join(tokenizer.decode(ids, **({} if errors is None else
                                                     {"errors": errors})) for ids in lines)
    # from stdin too
    result = invoke_cli(["decode", "-m", model, "--format", fmt, *option],
                        input=path.read_bytes())
    assert (result.exit_code, result.stdout_bytes) == (0, want.encode()), result.stderr


@pytest.mark.parametrize("fmt", FORMATS)
def test_surrogateescape_writes_the_bytes_themselves(model, tokenizer, tmp_path, fmt):
    lines = _lines(tokenizer)
    path = tmp_path / f"in.{fmt}"
    _write(path, fmt, lines)
    result = invoke_cli(["decode", "-m", model, "--format", fmt, "--errors",
                         "surrogateescape", path])
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout_bytes == b"hello\n" + RAW + b"\n"


@pytest.mark.parametrize("fmt", FORMATS)
def test_strict_is_one_line_naming_the_token_and_writes_nothing(model, tokenizer, tmp_path,
                                                                 fmt):
    lines = _lines(tokenizer)
    path = tmp_path / f"in.{fmt}"
    _write(path, fmt, lines)
    k, bad_id = _bad_byte_at(tokenizer, lines)
    assert k == 2  # "the 3rd id of the line" below
    if fmt in ("bin", "npy"):  # the token's index in the array, as for an id out of range
        where = f"{path}: token {len(lines[0]) + k}: byte 0xff of id {bad_id}"
    else:
        where = f"{path}: line 2: byte 0xff of id {bad_id} (the 3rd id of the line)"
    out = tmp_path / "out.txt"
    result = invoke_cli(["decode", "-m", model, "--format", fmt, "--errors", "strict", path,
                         "-o", out])
    assert result.stderr == f"bytepiece: error: {where} {MESSAGE_TAIL}\n"
    assert result.exit_code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no output, no temp
    # a good file alone decodes with strict
    good = tmp_path / f"good.{fmt}"
    _write(good, fmt, lines[:1])
    if fmt != "pieces":
        result = invoke_cli(["decode", "-m", model, "--format", fmt, "--errors", "strict",
                             good])
        assert (result.exit_code, result.stdout_bytes) == (0, b"hello\n"), result.stderr


def test_errors_are_those_of_the_library(model, tokenizer):
    """Every --errors choice is an error handler Tokenizer.decode takes; others are refused
    with status 2 (xmlcharrefreplace only encodes)."""
    import bytepiece_cli.decode

    ids = tokenizer.encode_bytes(RAW)
    for errors in bytepiece_cli.decode.ERRORS:
        if errors not in ("strict", "surrogatepass"):
            assert tokenizer.decode(ids, errors=errors)
    assert set(bytepiece_cli.decode.ERRORS) >= {"replace", "strict", "ignore"}
    assert bytepiece_cli.decode.ERRORS[0] == "replace"
    result = invoke_cli(["decode", "-m", model, "--errors", "xmlcharrefreplace"], input=b"3\n")
    assert result.exit_code == 2
    assert "'xmlcharrefreplace' is not one of 'replace', 'strict', 'ignore'" in result.stderr


@pytest.mark.parametrize("bos", [0, 1, 6])
@pytest.mark.parametrize("fmt", ["ids", "pieces", "jsonl"])
def test_each_line_is_decoded_on_its_own(model, tokenizer, fmt, bos):
    """A character cut between two lines of ids is two errors, as decoding each line,
    also after <bos> ids (which spell nothing)."""
    first = [1] * bos + tokenizer.encode_bytes("中".encode()[:2])
    second = [1] * bos + tokenizer.encode_bytes("中".encode()[2:] + b"\n")
    assert tokenizer.decode_bytes(first + second) == "中\n".encode()
    if fmt == "ids":
        text = f"{' '.join(map(str, first))}\n{' '.join(map(str, second))}\n".encode()
    elif fmt == "jsonl":
        text = f'{{"ids": {first}}}\n{{"ids": {second}}}\n'.encode()
    else:
        text = b"<bos> " * bos + b"\\xe4 \\xb8\n" + b"<bos> " * bos + b"\\xad \\n\n"
    result = invoke_cli(["decode", "-m", model, "--format", fmt], input=text)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout_bytes == "\ufffd\ufffd\n".encode()
    assert result.stdout_bytes.decode() == tokenizer.decode(first) + tokenizer.decode(second)
    result = invoke_cli(["decode", "-m", model, "--format", fmt, "--errors", "strict"],
                        input=text)
    nth = {0: "1st", 1: "2nd", 6: "7th"}[bos]
    assert result.stderr == (f"bytepiece: error: <stdin>: line 1: byte 0xe4 of id "
                             f"{first[bos]} (the {nth} id of the line) {MESSAGE_TAIL}\n")
    # a token array is one text: the character comes back
    result = invoke_cli(["decode", "-m", model, "--format", "bin", "--errors", "strict"],
                        input=np.array(first + second, "<u2").tobytes())
    assert (result.exit_code, result.stdout_bytes) == (0, "中\n".encode()), result.stderr


def test_a_long_line_is_streamed_with_the_same_text_and_errors(model, tokenizer, monkeypatch):
    """A line of ids longer than a block (here 64 bytes) is decoded as it is read."""
    import bytepiece_cli._common

    line = b"raw bytes " * 20 + b"\xe4\xb8a" + b" bytes" * 5 + b"\xff\n"
    ids = tokenizer.encode_bytes(line)
    text = b"8 9\n" + " ".join(map(str, ids)).encode() + b"\n"
    whole = {e: invoke_cli(["decode", "-m", model, "--errors", e], input=text)
             for e in ("replace", "ignore", "strict")}
    monkeypatch.setattr(bytepiece_cli._common, "BLOCK_BYTES", 64)
    for errors, want in [("replace", line.decode(errors="replace")),
                         ("ignore", line.decode(errors="ignore"))]:
        result = invoke_cli(["decode", "-m", model, "--errors", errors], input=text)
        assert result.exit_code == 0, result.stderr
        assert result.stdout_bytes == tokenizer.decode([8, 9]).encode() + want.encode()
        assert result.stdout_bytes == whole[errors].stdout_bytes
    result = invoke_cli(["decode", "-m", model, "--errors", "strict"], input=text)
    cut = ids.index(tokenizer.encode_bytes(b"\xe4")[0])  # the cut character's first byte
    assert cut == 60  # 20 times raw, " bytes", " "
    assert result.stderr == (f"bytepiece: error: <stdin>: line 2: byte 0xe4 of id {ids[cut]} "
                             f"(the 61st id of the line) {MESSAGE_TAIL}\n")
    assert result.exit_code == 1
    assert whole["strict"].stderr == result.stderr


def test_token_arrays_in_small_reads_name_the_token(model, tokenizer, tmp_path, monkeypatch):
    """Reads of 3 bytes (one id and a half): the bytes of a cut character come from
    several reads, and the error still names the token where it starts."""
    import bytepiece_cli.decode

    data = "中文 hello ".encode() * 3 + b"\xe4\xb8hello\n" + "中".encode()
    ids = tokenizer.encode_bytes(data)
    path = tmp_path / "t.npy"
    np.save(path, np.array(ids, np.uint16))
    monkeypatch.setattr(bytepiece_cli.decode, "ARRAY_READ_BYTES", 3)
    result = invoke_cli(["decode", "-m", model, "--format", "npy", path])
    assert (result.exit_code, result.stdout_bytes) == (0, data.decode(errors="replace")
                                                       .encode()), result.stderr
    result = invoke_cli(["decode", "-m", model, "--format", "npy", "--errors", "strict", path])
    k = len(tokenizer.encode_bytes("中文 hello ".encode() * 3))
    assert tokenizer.decode_bytes(ids[k:k + 2]) == b"\xe4\xb8"
    assert result.stderr == (f"bytepiece: error: {path}: token {k}: byte 0xe4 of id {ids[k]} "
                             f"{MESSAGE_TAIL}\n")
    assert result.exit_code == 1


def test_help_documents_errors(model):
    result = invoke_cli(["decode", "--help"])
    assert result.exit_code == 0
    assert "--errors [replace|strict|ignore|" in result.stdout
    assert "--errors strict ids.txt" in result.stdout
    assert "become U+FFFD by default, as in Python and tiktoken" in " ".join(
        result.stdout.split())
