"""``bytepiece encode`` of a few lines as ids, without numpy (``bytepiece.light``).

Taken when the whole input is at most ``small.SMALL_INPUT`` bytes (the size the
Tokenizer also segments in Python) and the model is in the model cache; otherwise
nothing is consumed (stdin's first bytes are handed back) and the usual path runs.
"""

from __future__ import annotations

import os
import sys

from ._common import decode_text, open_output, unread_stdin


def encode_small(model: str, files: tuple[str, ...], output: str | None, bos: bool,
                 eos: bool, errors: str) -> bool:
    """Write the ids lines of ``files`` (or stdin); False when this path does not apply."""
    from bytepiece.corpus import is_compressed
    from bytepiece.light import trie_tables
    from bytepiece.normalize import nfc
    from bytepiece.small import SMALL_INPUT

    paths = files or ("-",)
    if paths.count("-") > 1 or any(p != "-" and is_compressed(p) for p in paths):
        return False
    try:
        if sum(os.path.getsize(p) for p in paths if p != "-") > SMALL_INPUT:
            return False
    except OSError:
        return False  # the usual path says which file cannot be read
    inputs = _read_all(paths, SMALL_INPUT)  # first: a longer stdin costs no model read
    if inputs is None:
        return False
    tables = trie_tables(model)
    if tables is None:
        _give_back(inputs)
        return False
    head = [str(1)] if bos else []
    tail = [str(2)] if eos else []
    lines = []
    try:
        for path, raw in inputs:
            name = "<stdin>" if path == "-" else path
            data = nfc(decode_text(raw, name, 0, errors)).encode()
            for ids in tables.encode_lines(data, _line_ends(data)):
                lines.append(" ".join(head + [str(i) for i in ids] + tail) + "\n")
    except IndexError:  # a damaged cache entry: the usual path rebuilds it
        _give_back(inputs)
        return False
    with open_output(output) as out:
        out.write("".join(lines).encode())
    return True


def _read_all(paths: tuple[str, ...], limit: int) -> list[tuple[str, bytes]] | None:
    """``(path, bytes)`` of each input; None (stdin given back) when they exceed ``limit``."""
    inputs = []
    total = 0
    for path in paths:
        if path == "-":
            raw = sys.stdin.buffer.read(limit - total + 1)
            inputs.append((path, raw))
        else:
            try:
                with open(path, "rb") as f:
                    raw = f.read(limit - total + 1)
            except OSError:
                raw = None
            if raw is None:
                _give_back(inputs)
                return None
            inputs.append((path, raw))
        total += len(raw)
        if total > limit:  # stdin was longer than it could be, or a file grew
            _give_back(inputs)
            return None
    return inputs


def _give_back(inputs: list[tuple[str, bytes]]) -> None:
    """Hand what was read of stdin back, for the usual path to read first."""
    for path, raw in inputs:
        if path == "-":
            unread_stdin(raw)


def _line_ends(data: bytes) -> list[int]:
    """Ends of the lines of ``data``, each with its newline (``token_array.line_ends``)."""
    ends = []
    i = data.find(b"\n")
    while i >= 0:
        ends.append(i + 1)
        i = data.find(b"\n", i + 1)
    if data and data[-1] != 10:
        ends.append(len(data))
    return ends
