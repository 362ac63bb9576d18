"""Helpers shared by the commands: models, input blocks, atomic output, progress."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import BinaryIO, Iterator

import click

#: Input is read in blocks of about this many bytes, cut at a newline.
BLOCK_BYTES = 1 << 22

#: Signals received (appended by the handlers ``main`` installs).
INTERRUPTED: list[int] = []


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if a signal arrived, even one whose exception was swallowed."""
    if INTERRUPTED:
        raise KeyboardInterrupt()


def load_tokenizer(path: str, seed: int | None = None):
    """The Tokenizer of a model file; library errors become one-line CLI errors."""
    from bytepiece import BytePieceError, Tokenizer

    try:
        return Tokenizer(path, seed=seed)
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None


def input_size(paths: tuple[str, ...]) -> int | None:
    """Total size of the inputs when they are all regular files (for the progress bar)."""
    total = 0
    for path in paths:
        if path == "-":
            return None
        try:
            total += os.path.getsize(path)
        except OSError:
            return None
    return total


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        f = open(path, "rb")
    except OSError as e:
        raise click.ClickException(f"cannot read {path}: {e.strerror}") from None
    with f:
        yield f


def read_blocks(paths: tuple[str, ...], block_bytes: int = BLOCK_BYTES
                ) -> Iterator[tuple[str, int, bytes]]:
    """Yield ``(name, offset, block)``: each input in blocks of whole lines.

    A block ends at a newline, except the last of a file when the file does not
    end with one; ``offset`` is the block's byte offset in its file. Memory
    stays at a few blocks whatever the input size (a single line longer than a
    block is read whole).
    """
    for path in paths or ("-",):
        name = "<stdin>" if path == "-" else path
        with _open_input(path) as f:
            offset = 0
            carry = b""
            while True:
                try:
                    data = f.read(block_bytes)
                except OSError as e:
                    raise click.ClickException(f"cannot read {name}: {e.strerror}") from None
                if not data:
                    break
                data = carry + data if carry else data
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    carry = data
                    continue
                yield name, offset, data[:cut]
                offset += cut
                carry = data[cut:]
            if carry:
                yield name, offset, carry


def decode_text(block: bytes, name: str, offset: int, errors: str) -> str:
    """UTF-8 text of a block; with errors='strict' a bad byte is a one-line error."""
    try:
        return block.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        raise click.ClickException(
            f"{name}: invalid UTF-8 at byte {offset + e.start} "
            f"(use --errors replace or --errors ignore to go on)") from None


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[BinaryIO]:
    """stdout, or a file written atomically: it appears complete or not at all."""
    from bytepiece.atomic import atomic_output

    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        with atomic_output(path) as f:
            yield f
            check_interrupted()  # never commit the output of an interrupted run
    except OSError as e:
        raise click.ClickException(f"cannot write {path}: {e.strerror or e}") from None


def progress(total: int | None, desc: str):
    """A bytes/s progress bar on stderr, shown only when stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)
