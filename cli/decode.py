"""``bytepiece decode``: what ``bytepiece encode`` writes (lines of ids, ``{"ids": [...]}``,
escaped pieces, token arrays) back into text, streaming."""

from __future__ import annotations

import itertools
import json
import sys

import click

from ._common import (LongLine, check_output, input_size, load_tokenizer, open_output,
                      progress, read_blocks)

#: Token arrays are read this many bytes at a time.
ARRAY_READ_BYTES = 1 << 22


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", required=True, metavar="MODEL", help="BytePiece model file (JSON).")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--format", "fmt", type=click.Choice(["ids", "jsonl", "pieces", "bin", "npy"]),
              default="ids", show_default=True,
              help="What FILEs hold, as `bytepiece encode --format` writes it: ids or jsonl "
                   "(either is read, line by line), pieces (escaped), or a token array: bin "
                   "(raw little-endian uint16 ids, uint32 past 65536 ids) or npy.")
@click.option("-o", "--output", metavar="FILE", default=None,
              help="Write here (atomically) instead of stdout.")
def command(model, files, fmt, output):
    """Decode FILEs (or stdin) of ids, as `bytepiece encode` writes them, into text.

    Each line is decoded on its own (special ids 0-2 are skipped, bytes that do
    not form UTF-8 are dropped) and the texts are written back to back: the
    newlines are inside the ids, so encode | decode gives the text back exactly,
    whatever --format encode wrote (give decode the same --format).

    \b
    Examples:
      echo "Hello world" | bytepiece encode -m model.json | bytepiece decode -m model.json
      bytepiece decode -m model.json ids.txt -o text.txt
      bytepiece decode -m model.json --format npy tokens.npy
    """
    import numpy as np

    from bytepiece._kernels.text_io import gather_pieces, parse_id_lines

    check_output(output, [model, *files])
    tokenizer = load_tokenizer(model, command="decode")
    data, offsets = tokenizer.piece_table()
    max_id = tokenizer.vocab_size - 1
    if fmt in ("bin", "npy"):
        with open_output(output) as out, progress(input_size(files), "decode") as bar:
            for path in files or ("-",):
                _decode_array(out, tokenizer, path, fmt, bar)
        return
    piece_ids = _piece_ids(tokenizer) if fmt == "pieces" else None
    with open_output(output) as out, progress(input_size(files), "decode") as bar:
        line_no = {}
        for name, offset, block in read_blocks(files, long_lines=True):
            first_line = line_no.get(name, 1)
            if isinstance(block, LongLine):  # too long to hold: streamed, same text
                _decode_long_line(out, tokenizer, block, first_line)
                line_no[name] = first_line + 1
                bar.update(block.length)
                continue
            line_no[name] = first_line + block.count(b"\n")
            if piece_ids is not None:
                ids, line_ends = _parse_piece_lines(block, piece_ids, name, first_line)
                raw = gather_pieces(ids, data, offsets).tobytes()
                out.write(_lossy(raw, ids, line_ends, offsets))
                bar.update(len(block))
                continue
            if block.lstrip()[:1] == b"{":
                text = _decode_jsonl(tokenizer, block, name, first_line)
                out.write(text)
                bar.update(len(block))
                continue
            ids, line_ends, bad = parse_id_lines(np.frombuffer(block, np.uint8), max_id)
            if bad >= 0:
                line = first_line + block.count(b"\n", 0, bad)
                raise click.ClickException(f"{name}: line {line}: {_token_at(block, bad)!r} "
                                           f"is not an id of this model (0..{max_id})")
            raw = gather_pieces(ids, data, offsets).tobytes()
            out.write(_lossy(raw, ids, line_ends, offsets))
            bar.update(len(block))


def _token_at(data: bytes, start: int) -> str:
    """The token at ``start`` (up to the next space, tab, CR or newline, the separators
    of lines of ids), as text of at most 30 characters, for an error message."""
    end = start
    while end < len(data) and end - start < 120 and data[end] not in b" \t\r\n":
        end += 1
    return data[start:end].decode(errors="replace")[:30]


def _lossy(raw: bytes, ids, line_ends, offsets) -> bytes:
    """``raw``, the bytes of lines of ids, with invalid UTF-8 dropped line by line."""
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError:
        return _decode_lines_lossy(raw, ids, line_ends, offsets)


def _piece_ids(tokenizer) -> dict[bytes, int]:
    """Each piece as `encode --format pieces` writes it (UTF-8), to its id."""
    from .encode import _escaped_pieces

    return {text.encode(): i for i, text in enumerate(_escaped_pieces(tokenizer))}


def _parse_piece_lines(block: bytes, piece_ids: dict[bytes, int], name: str, first_line: int):
    """int64 ids and cumulative id counts per line of a block of escaped pieces."""
    import numpy as np

    ids: list[int] = []
    line_ends: list[int] = []
    for k, line in enumerate(block.split(b"\n")[:-1] if block.endswith(b"\n")
                             else block.split(b"\n")):
        for token in line.split(b" "):
            if token:
                i = piece_ids.get(token)
                if i is None:
                    shown = token.decode(errors="replace")[:30]
                    raise click.ClickException(
                        f"{name}: line {first_line + k}: {shown!r} is not a piece of this "
                        f"model as `bytepiece encode --format pieces` writes it")
                ids.append(i)
        line_ends.append(len(ids))
    return np.array(ids, np.int64), np.array(line_ends, np.int64)


def _decode_array(out, tokenizer, path: str, fmt: str, bar) -> None:
    """Decode the token array (``fmt`` bin or npy) in ``path`` ('-': stdin) as one text,
    a few MB at a time; the newlines are inside the ids."""
    import numpy as np

    from bytepiece._kernels.text_io import gather_pieces
    from bytepiece.streaming import iter_utf8
    from bytepiece.token_array import token_dtype

    from ._common import _open_input

    name = "<stdin>" if path == "-" else path
    data, offsets = tokenizer.piece_table()
    max_id = tokenizer.vocab_size - 1
    with _open_input(path) as f:
        reads = iter(lambda: _read_array(f, name), b"")
        if fmt == "npy":
            dtype, count, head = _npy_header(reads, name)
        else:
            dtype, count, head = token_dtype(tokenizer.vocab_size).newbyteorder("<"), None, b""

        def id_arrays():
            carry = head
            done = 0  # ids read so far
            for chunk in itertools.chain([b""], reads):
                buf = carry + chunk
                whole = len(buf) - len(buf) % dtype.itemsize
                ids = np.frombuffer(buf[:whole], dtype)
                carry = buf[whole:]
                if ids.shape[0]:
                    bad = np.flatnonzero((ids < 0) | (ids > max_id)) if \
                        dtype.kind == "i" else np.flatnonzero(ids > max_id)
                    if bad.shape[0]:
                        raise click.ClickException(
                            f"{name}: token {done + int(bad[0])}: {ids[bad[0]]} is not an id "
                            f"of this model (0..{max_id})")
                    done += ids.shape[0]
                    if count is not None and done > count:
                        raise click.ClickException(
                            f"{name}: more ids than the {count} its .npy header says")
                    yield gather_pieces(ids.astype(np.int64), data, offsets).tobytes()
                bar.update(len(chunk))
            if carry:
                raise click.ClickException(
                    f"{name}: {len(carry)} bytes left over after {done} ids: not an array "
                    f"of {dtype.name} ids (--format bin needs the model the array was "
                    f"encoded with)")
            if count is not None and done < count:
                raise click.ClickException(
                    f"{name}: ends after {done} of the {count} ids its .npy header says")

        for text in iter_utf8(id_arrays(), lambda raw, _: raw.decode("utf-8", "ignore")):
            out.write(text.encode())


def _read_array(f, name: str) -> bytes:
    try:
        return f.read(ARRAY_READ_BYTES)
    except OSError as e:
        raise click.ClickException(f"cannot read {name}: {e.strerror}") from None


def _npy_header(reads, name: str):
    """``(dtype, count, rest)`` from the start of a .npy stream: the ids' dtype, how many
    the header says, and the bytes read past the header."""
    import io

    import numpy as np

    buf = b""

    def read_to(size: int) -> bytes:
        nonlocal buf
        while len(buf) < size:
            chunk = next(reads, b"")
            if not chunk:
                break
            buf += chunk
        return buf

    def refuse(why: str):
        return click.ClickException(f"{name}: not a .npy token array ({why})")

    if not read_to(12).startswith(b"\x93NUMPY") or len(buf) < 10:
        raise refuse("no .npy header")
    size_bytes = 2 if buf[6] == 1 else 4
    header_end = 8 + size_bytes + int.from_bytes(buf[8:8 + size_bytes], "little")
    if len(read_to(header_end)) < header_end:
        raise refuse("the header is cut short")
    try:
        f = io.BytesIO(buf[:header_end])
        version = np.lib.format.read_magic(f)
        read = {(1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read is None:
            raise refuse(f".npy version {version[0]}.{version[1]}, where 1.0 or 2.0 is read")
        shape, fortran, dtype = read(f)
    except (ValueError, SyntaxError, TypeError) as e:
        raise refuse(" ".join(str(e).split())[:80]) from None
    if dtype.kind not in "ui" or dtype.hasobject or len(shape) != 1:
        raise refuse(f"an array of {dtype} of shape {shape}, where 1-d integer ids are "
                     f"expected")
    return dtype, shape[0], buf[header_end:]


def _decode_long_line(out, tokenizer, line: LongLine, number: int) -> None:
    """Decode a line of ids too long to hold, as it is read: the same text as whole
    (ids are cut at blanks, the bytes between UTF-8 characters)."""
    import numpy as np

    from bytepiece._kernels.text_io import gather_pieces, parse_id_lines
    from bytepiece.streaming import iter_utf8

    data, offsets = tokenizer.piece_table()
    max_id = tokenizer.vocab_size - 1
    pieces = line.pieces()
    head = next(pieces)
    if head.lstrip()[:1] == b"{":  # a JSON line: read whole
        out.write(_decode_jsonl(tokenizer, b"".join([head, *pieces]), line.name, number))
        return

    def piece_bytes():
        carry = b""
        for piece in itertools.chain([head], pieces, [None]):
            text = carry + piece if piece is not None else carry
            cut = len(text) if piece is None else \
                max(text.rfind(b" "), text.rfind(b"\t"), text.rfind(b"\r"),
                    text.rfind(b"\n")) + 1
            text, carry = text[:cut], text[cut:]
            ids, _, bad = parse_id_lines(np.frombuffer(text, np.uint8), max_id)
            if bad >= 0:
                raise click.ClickException(f"{line.name}: line {number}: "
                                           f"{_token_at(text, bad)!r} is not an id of this "
                                           f"model (0..{max_id})")
            yield gather_pieces(ids, data, offsets).tobytes()

    for text in iter_utf8(piece_bytes(), lambda raw, _: raw.decode("utf-8", errors="ignore")):
        out.write(text.encode())


def _decode_lines_lossy(raw: bytes, ids, line_ends, offsets) -> bytes:
    """Decode line by line, dropping invalid UTF-8 within each line as decode() does."""
    lengths = offsets[ids + 1] - offsets[ids]
    byte_ends = lengths.cumsum()
    parts = []
    start = 0
    for end_id in line_ends.tolist():
        end = int(byte_ends[end_id - 1]) if end_id > 0 else 0
        end = max(end, start)
        parts.append(raw[start:end].decode("utf-8", errors="ignore").encode())
        start = end
    parts.append(raw[start:].decode("utf-8", errors="ignore").encode())
    return b"".join(parts)


def _decode_jsonl(tokenizer, block: bytes, name: str, first_line: int) -> bytes:
    from bytepiece import InputError

    parts = []
    for k, line in enumerate(block.splitlines()):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            ids = record.get("ids") if isinstance(record, dict) else None
            if not isinstance(ids, list):
                raise ValueError('no "ids" list')
            parts.append(tokenizer.decode(ids).encode())
        except (ValueError, KeyError, InputError) as e:
            raise click.ClickException(f"{name}: line {first_line + k}: {e}") from None
    return b"".join(parts)
