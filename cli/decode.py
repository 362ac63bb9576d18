"""``bytepiece decode``: lines of ids (or ``{"ids": [...]}``) back into text, streaming."""

from __future__ import annotations

import itertools
import json

import click

from ._common import LongLine, input_size, load_tokenizer, open_output, progress, read_blocks


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", required=True, metavar="MODEL", help="BytePiece model file (JSON).")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("-o", "--output", metavar="FILE", default=None,
              help="Write here (atomically) instead of stdout.")
def command(model, files, output):
    """Decode FILEs (or stdin) of ids, as `bytepiece encode` writes them, into text.

    Each line is decoded on its own (special ids 0-2 are skipped, bytes that do
    not form UTF-8 are dropped) and the texts are written back to back: the
    newlines are inside the ids, so encode | decode gives the text back exactly.

    \b
    Examples:
      echo "Hello world" | bytepiece encode -m model.json | bytepiece decode -m model.json
      bytepiece decode -m model.json ids.txt -o text.txt
    """
    import numpy as np

    from bytepiece._kernels.text_io import gather_pieces, parse_id_lines

    tokenizer = load_tokenizer(model)
    data, offsets = tokenizer.piece_table()
    max_id = tokenizer.vocab_size - 1
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
            if block.lstrip()[:1] == b"{":
                text = _decode_jsonl(tokenizer, block, name, first_line)
                out.write(text)
                bar.update(len(block))
                continue
            ids, line_ends, bad = parse_id_lines(np.frombuffer(block, np.uint8), max_id)
            if bad >= 0:
                line = first_line + block.count(b"\n", 0, bad)
                token = block[bad:].split(None, 1)[0].decode(errors="replace")[:30]
                raise click.ClickException(
                    f"{name}: line {line}: {token!r} is not an id of this model (0..{max_id})")
            raw = gather_pieces(ids, data, offsets).tobytes()
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                raw = _decode_lines_lossy(raw, ids, line_ends, offsets)
            out.write(raw)
            bar.update(len(block))


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
                token = text[bad:].split(None, 1)[0].decode(errors="replace")[:30]
                raise click.ClickException(f"{line.name}: line {number}: {token!r} is not an "
                                           f"id of this model (0..{max_id})")
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
