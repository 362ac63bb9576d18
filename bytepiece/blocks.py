"""Input read in blocks of whole lines, in bounded memory whatever the line lengths.

Used by the corpus reader (``bytepiece.corpus``) and the commands that stream text.
"""

from __future__ import annotations

from typing import Iterable, Iterator


def split_blocks(reads: Iterator[bytes], name: str, block_bytes: int, long_lines: bool
                 ) -> Iterator[tuple[int, bytes | LongLine]]:
    """``(offset, block)``: the blocks of whole lines of one input read in ``reads``.

    A block ends at a newline, except the last one when the input does not end
    with one; ``offset`` is its byte offset in the input. A line longer than a
    block is given whole, or with ``long_lines`` as a ``LongLine`` whose bytes
    are read as the caller goes through ``LongLine.pieces()`` (before asking for
    the next block).
    """
    offset = 0
    carry = b""  # the start of a line: bytes after the last newline
    pending: list[bytes] = []  # reads that go on with that line
    pending_bytes = 0
    for data in reads:
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            if long_lines and len(carry) + pending_bytes + len(data) >= block_bytes:
                line = LongLine(reads, name, offset, b"".join([carry, *pending, data]))
                pending, pending_bytes = [], 0
                yield offset, line
                if not line.done:
                    raise RuntimeError("a LongLine must be read to its end")
                offset += line.length
                data, carry = line.rest, b""
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
            else:
                pending.append(data)  # the line goes on: no copy until it ends
                pending_bytes += len(data)
                continue
        if carry or pending:
            last = len(data)
            data = b"".join([carry, *pending, data])
            cut += len(data) - last
            pending, pending_bytes = [], 0
        yield offset, data[:cut]
        offset += cut
        carry = data[cut:]
    if carry or pending:
        yield offset, b"".join([carry, *pending])


class LongLine:
    """A line longer than a block: ``pieces()`` reads and yields its bytes, newline
    included, as they come; then ``length`` is its size and ``rest`` the bytes
    read past its end."""

    def __init__(self, reads: Iterator[bytes], name: str, offset: int, head: bytes) -> None:
        self.name, self.offset = name, offset
        self.length = 0
        self.rest = b""
        self.done = False
        self._reads, self._head = reads, head

    def pieces(self) -> Iterator[bytes]:
        data, self._head = self._head, b""
        while data:
            newline = data.find(b"\n") + 1
            if newline:
                data, self.rest = data[:newline], data[newline:]
            self.length += len(data)
            yield data
            if newline:
                break
            data = next(self._reads, b"")
        self.done = True


def split_lines(text: str) -> list[str]:
    """Lines with their newline ('\\r' is not a line break)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def line_count(text: str) -> int:
    """How many lines ``split_lines`` gives of ``text``."""
    return text.count("\n") + (not text.endswith("\n") and bool(text))


def texts_of(runs: Iterable[tuple[str, int]]) -> Iterator[str]:
    """The texts of runs ``(text, count)`` (``Corpus.runs``) one by one: a run of several
    lines split into its lines, a single text as it is."""
    for text, count in runs:
        if count == 1:
            yield text
        else:
            yield from split_lines(text)
