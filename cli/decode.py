"""``bytepiece decode``: what ``bytepiece encode`` writes (lines of ids, ``{"ids": [...]}``,
escaped pieces, token arrays) back into text, streaming."""

from __future__ import annotations

import collections
import itertools
import json

import click

from ._common import (LongLine, check_output, input_size, load_tokenizer, open_output,
                      progress, read_blocks)

#: Token arrays are read this many bytes at a time.
ARRAY_READ_BYTES = 1 << 22

#: The error handlers of ``--errors``: those of ``bytes.decode`` that decode (what
#: ``Tokenizer.decode(ids, errors=...)`` accepts, less the encode-only xmlcharrefreplace
#: and namereplace). The text is written as UTF-8, with the lone surrogates of the
#: surrogate handlers written back as the bytes they stand for.
ERRORS = ["replace", "strict", "ignore", "backslashreplace", "surrogateescape",
          "surrogatepass"]
_WRITE_BACK = {"surrogateescape": "surrogateescape", "surrogatepass": "surrogatepass"}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", required=True, metavar="MODEL", help="BytePiece model file (JSON).")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--format", "fmt", type=click.Choice(["ids", "jsonl", "pieces", "bin", "npy"]),
              default="ids", show_default=True,
              help="What FILEs hold, as `bytepiece encode --format` writes it: ids or jsonl "
                   "(either is read, line by line), pieces (escaped), or a token array: bin "
                   "(raw little-endian uint16 ids, uint32 past 65536 ids) or npy.")
@click.option("--errors", type=click.Choice(ERRORS), default="replace", show_default=True,
              help="Bytes the ids spell that are not UTF-8, as Python's bytes.decode and "
                   "Tokenizer.decode(ids, errors=...) treat them: replace (U+FFFD, as "
                   "tiktoken), strict (an error naming the line and token), ignore (dropped), "
                   "backslashreplace (written \\xHH), surrogateescape (written as they are: "
                   "the bytes of Tokenizer.decode_bytes), surrogatepass (UTF-8 surrogates "
                   "written as they are, other bytes an error as with strict).")
@click.option("-o", "--output", metavar="FILE", default=None,
              help="Write here (atomically) instead of stdout.")
def command(model, files, fmt, errors, output):
    """Decode FILEs (or stdin) of ids, as `bytepiece encode` writes them, into text.

    Each line is decoded on its own (special ids 0-2 are skipped) and the texts
    are written back to back: the newlines are inside the ids, so encode | decode
    gives the text back exactly, whatever --format encode wrote (give decode the
    same --format). A token array is decoded as one text.

    Bytes that do not form UTF-8 (ids of single bytes, or ids cut from their
    neighbours) become U+FFFD by default, as in Python and tiktoken; --errors
    ignore drops them, and --errors strict stops with an error naming the line
    and token, writing no -o file.

    \b
    Examples:
      echo "Hello world" | bytepiece encode -m model.json | bytepiece decode -m model.json
      bytepiece decode -m model.json ids.txt -o text.txt
      bytepiece decode -m model.json --format npy tokens.npy
      bytepiece decode -m model.json --errors strict ids.txt   # fail on bytes not UTF-8
      bytepiece decode -m model.json --errors ignore ids.txt   # drop them, as BytePiece
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
                _decode_array(out, tokenizer, path, fmt, bar, errors)
        return
    piece_ids = _piece_ids(tokenizer) if fmt == "pieces" else None
    pieces = _Pieces(tokenizer)
    with open_output(output) as out, progress(input_size(files), "decode") as bar:
        line_no = {}
        for name, offset, block in read_blocks(files, long_lines=True):
            first_line = line_no.get(name, 1)
            if isinstance(block, LongLine):  # too long to hold: streamed, same text
                _decode_long_line(out, tokenizer, block, first_line, errors)
                line_no[name] = first_line + 1
                bar.update(block.length)
                continue
            line_no[name] = first_line + block.count(b"\n")
            if piece_ids is not None:
                ids, line_ends = _parse_piece_lines(block, piece_ids, name, first_line)
                raw = gather_pieces(ids, data, offsets).tobytes()
                out.write(_lines_text(raw, ids, line_ends, pieces, errors, name, first_line))
                bar.update(len(block))
                continue
            if block.lstrip()[:1] == b"{":
                text = _decode_jsonl(tokenizer, block, name, first_line, errors)
                out.write(text)
                bar.update(len(block))
                continue
            ids, line_ends, bad = parse_id_lines(np.frombuffer(block, np.uint8), max_id)
            if bad >= 0:
                line = first_line + block.count(b"\n", 0, bad)
                raise click.ClickException(f"{name}: line {line}: {_token_at(block, bad)!r} "
                                           f"is not an id of this model (0..{max_id})")
            raw = gather_pieces(ids, data, offsets).tobytes()
            out.write(_lines_text(raw, ids, line_ends, pieces, errors, name, first_line))
            bar.update(len(block))


def _token_at(data: bytes, start: int) -> str:
    """The token at ``start`` (up to the next space, tab, CR or newline, the separators
    of lines of ids), as text of at most 30 characters, for an error message."""
    end = start
    while end < len(data) and end - start < 120 and data[end] not in b" \t\r\n":
        end += 1
    return data[start:end].decode(errors="replace")[:30]


def _text(raw: bytes, errors: str) -> bytes:
    """The text of ``raw`` as UTF-8 to write: ``raw.decode("utf-8", errors)`` as
    ``Tokenizer.decode`` does it (valid UTF-8 comes back as it is). With "strict",
    bytes that are not UTF-8 raise the UnicodeDecodeError, for the caller to say where."""
    try:
        raw.decode("utf-8")
        return raw
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors).encode("utf-8", _WRITE_BACK.get(errors, "strict"))


def _token_of_byte(ids, offsets, byte: int) -> int:
    """The index in ``ids`` of the token that spells byte ``byte`` of their bytes."""
    import numpy as np

    ids = np.asarray(ids, np.int64)
    ends = np.cumsum(offsets[ids + 1] - offsets[ids])
    return int(np.searchsorted(ends, byte, side="right"))


def _not_utf8(where: str, token_id: int, byte: int, of_line: int | None = None):
    """The --errors strict error: at ``where`` ("NAME: line N" with ``of_line``, the
    token's index on the line; "NAME: token I" in a token array, as for a bad id)."""
    which = "" if of_line is None else f" (the {_ordinal(of_line + 1)} id of the line)"
    return click.ClickException(f"{where}: byte 0x{byte:02x} of id {token_id}{which} is not "
                                f"UTF-8 (use --errors replace or --errors ignore to go on)")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _lines_text(raw: bytes, ids, line_ends, pieces: _Pieces, errors: str, name: str,
                first_line: int) -> bytes:
    """The text of lines of ids, each line decoded on its own (``_text``): ``raw`` is
    their bytes, ``line_ends`` the cumulative id counts per line (all the ids)."""
    import numpy as np

    try:
        raw.decode("utf-8")
        if not pieces.cut_between_lines(raw, ids, line_ends):
            return raw  # then each line on its own is the same text
    except UnicodeDecodeError:
        pass
    offsets = pieces.offsets
    byte_ends = np.zeros(ids.shape[0] + 1, np.int64)
    np.cumsum(offsets[ids + 1] - offsets[ids], out=byte_ends[1:])
    parts = []
    start = first_id = 0
    for k, end_id in enumerate(line_ends.tolist()):
        end = int(byte_ends[end_id])
        try:
            parts.append(_text(raw[start:end], errors))
        except UnicodeDecodeError as e:
            token = _token_of_byte(ids[first_id:end_id], offsets, e.start)
            raise _not_utf8(f"{name}: line {first_line + k}", int(ids[first_id + token]),
                            raw[start + e.start], token) from None
        start, first_id = end, end_id
    return b"".join(parts)


class _Pieces:
    """The model's pieces as kernels read them (``Tokenizer.piece_table``), and which
    are empty (the special ids) or start with a UTF-8 continuation byte."""

    #: Steps over empty ids at the start of lines before counting the bytes instead.
    EMPTY_STEPS = 4

    def __init__(self, tokenizer):
        import numpy as np

        self.data, self.offsets = tokenizer.piece_table()
        self.empty = self.offsets[1:] == self.offsets[:-1]
        first = np.zeros(self.empty.shape[0], np.uint8)
        first[~self.empty] = self.data[self.offsets[:-1][~self.empty]]
        self.continues = ~self.empty & ((first & 0xC0) == 0x80)

    def cut_between_lines(self, raw: bytes, ids, line_ends) -> bool:
        """Whether the bytes of a line (after the first) start with a continuation byte:
        a character cut between lines, so that decoding the lines one by one differs
        from decoding ``raw``, their bytes, at once. Looks at the first ids of the
        lines, stepping over empty ones (``<bos>``); counts the bytes if that is long."""
        import numpy as np

        pos, ends = line_ends[:-1], line_ends[1:]  # the lines after the first
        for _ in range(self.EMPTY_STEPS):
            live = pos < ends
            pos, ends = pos[live], ends[live]
            if not pos.shape[0]:
                return False
            first = ids[pos]
            if self.continues[first].any():
                return True
            empty = self.empty[first]
            if not empty.any():
                return False
            pos, ends = pos[empty] + 1, ends[empty]
        byte_ends = np.zeros(ids.shape[0] + 1, np.int64)
        np.cumsum(self.offsets[ids + 1] - self.offsets[ids], out=byte_ends[1:])
        starts = byte_ends[line_ends[:-1]]
        starts = starts[starts < len(raw)]
        return bool(((np.frombuffer(raw, np.uint8)[starts] & 0xC0) == 0x80).any())


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


class _Spelled:
    """Turns a stream of id arrays into their bytes, and remembers where the last bytes
    came from: the token (index in the stream) and id of a byte offset, for the bytes
    ``iter_utf8`` may still hold (the last array and up to 4 bytes before it)."""

    def __init__(self, tokenizer):
        self.data, self.offsets = tokenizer.piece_table()
        self.recent = collections.deque()  # (first byte, byte count, first token, ids)
        self.bytes = self.tokens = 0

    def __call__(self, ids) -> bytes:
        from bytepiece._kernels.text_io import gather_pieces

        raw = gather_pieces(ids, self.data, self.offsets).tobytes()
        self.recent.append((self.bytes, len(raw), self.tokens, ids))
        self.bytes += len(raw)
        self.tokens += ids.shape[0]
        last = self.recent[-1][0]
        while len(self.recent) > 1 and self.recent[1][0] <= last - 4:
            self.recent.popleft()
        return raw

    def token_at(self, byte: int) -> tuple[int, int]:
        """``(token, id)`` of the token that spells byte ``byte`` of the stream."""
        for start, size, first, ids in reversed(self.recent):
            if start <= byte < start + size:
                k = _token_of_byte(ids, self.offsets, byte - start)
                return first + k, int(ids[k])
        raise AssertionError(f"byte {byte} is no longer held")

    def decoder(self, errors: str, line: str | None, name: str):
        """A ``decode(raw, offset)`` for ``iter_utf8``: ``_text``, with "strict" an error
        naming ``line`` ("NAME: line N") and the token's index on it, or with no
        ``line`` the token's index in the array of file ``name``."""
        def decode(raw: bytes, offset: int) -> bytes:
            try:
                return _text(raw, errors)
            except UnicodeDecodeError as e:
                token, token_id = self.token_at(offset + e.start)
                if line is None:
                    raise _not_utf8(f"{name}: token {token}", token_id, raw[e.start]) from None
                raise _not_utf8(line, token_id, raw[e.start], token) from None
        return decode


def _decode_array(out, tokenizer, path: str, fmt: str, bar, errors: str) -> None:
    """Decode the token array (``fmt`` bin or npy) in ``path`` ('-': stdin) as one text,
    a few MB at a time; the newlines are inside the ids."""
    import numpy as np

    from bytepiece.streaming import iter_utf8
    from bytepiece.token_array import token_dtype

    from ._common import _open_input

    name = "<stdin>" if path == "-" else path
    spelled = _Spelled(tokenizer)
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
                    yield spelled(ids.astype(np.int64))
                bar.update(len(chunk))
            if carry:
                raise click.ClickException(
                    f"{name}: {len(carry)} bytes left over after {done} ids: not an array "
                    f"of {dtype.name} ids (--format bin needs the model the array was "
                    f"encoded with)")
            if count is not None and done < count:
                raise click.ClickException(
                    f"{name}: ends after {done} of the {count} ids its .npy header says")

        decode = spelled.decoder(errors, None, name)
        for text in iter_utf8(id_arrays(), decode):
            out.write(text)


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


def _decode_long_line(out, tokenizer, line: LongLine, number: int, errors: str) -> None:
    """Decode a line of ids too long to hold, as it is read: the same text as whole
    (ids are cut at blanks, the bytes between UTF-8 characters)."""
    import numpy as np

    from bytepiece._kernels.text_io import parse_id_lines
    from bytepiece.streaming import iter_utf8

    spelled = _Spelled(tokenizer)
    max_id = tokenizer.vocab_size - 1
    pieces = line.pieces()
    head = next(pieces)
    if head.lstrip()[:1] == b"{":  # a JSON line: read whole
        out.write(_decode_jsonl(tokenizer, b"".join([head, *pieces]), line.name, number,
                                errors))
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
            yield spelled(ids)

    decode = spelled.decoder(errors, f"{line.name}: line {number}", line.name)
    for text in iter_utf8(piece_bytes(), decode):
        out.write(text)


def _decode_jsonl(tokenizer, block: bytes, name: str, first_line: int, errors: str) -> bytes:
    """The text of JSON Lines of ``{"ids": [...]}``, each line decoded on its own:
    ``Tokenizer.decode_bytes`` (which checks the ids), then ``_text``."""
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
            raw = tokenizer.decode_bytes(ids)
        except (ValueError, KeyError, InputError) as e:
            raise click.ClickException(f"{name}: line {first_line + k}: {e}") from None
        try:
            parts.append(_text(raw, errors))
        except UnicodeDecodeError as e:
            token = _token_of_byte(ids, tokenizer.piece_table()[1], e.start)
            raise _not_utf8(f"{name}: line {first_line + k}", ids[token], raw[e.start],
                            token) from None
    return b"".join(parts)
