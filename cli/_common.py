"""Helpers shared by the commands: models, input blocks, atomic output, progress."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import BinaryIO, Iterator

import click

from bytepiece.blocks import LongLine, split_blocks

#: Input is read in blocks of about this many bytes, cut at a newline.
BLOCK_BYTES = 1 << 22

#: Signals received (appended by the handlers ``main`` installs).
INTERRUPTED: list[int] = []


class ReaderGone(Exception):
    """The reader of stdout went away (``bytepiece encode ... | head``): ``main`` stops
    quietly with status 141, as ``cat`` does (click would turn a BrokenPipeError into 1)."""


#: Environment variable naming a file to which ``announce`` appends the stages a run
#: reaches (for tests that signal a run at a given stage rather than after a sleep).
READY_FILE_VARIABLE = "BYTEPIECE_READY_FILE"


def announce(stage: str) -> None:
    """Append ``stage`` as a line to the file named by $BYTEPIECE_READY_FILE, if set:
    "handlers" once Ctrl-C and SIGTERM are handled, "training" as training starts."""
    path = os.environ.get(READY_FILE_VARIABLE)
    if path:
        with open(path, "a") as f:
            f.write(stage + "\n")


def check_interrupted() -> None:
    """Raise KeyboardInterrupt if a signal arrived, even one whose exception was swallowed."""
    if INTERRUPTED:
        raise KeyboardInterrupt()


class FiniteFloat(click.ParamType):
    """A float option that refuses nan and inf with a usage error (status 2)."""

    name = "float"

    def convert(self, value, param, ctx):
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


FINITE_FLOAT = FiniteFloat()


def compile_ahead(kernels: list[str], model: str | None = None, first: str | None = None):
    """A context in which a child process compiles those of ``kernels`` that numba's
    cache lacks (``bytepiece._kernels.prefetch``): a first run compiles on two cores."""
    from bytepiece._kernels import prefetch

    return prefetch.ahead(kernels, model, first) or contextlib.nullcontext()


def load_tokenizer(path: str, seed: int | None = None, command: str = "this command"):
    """The Tokenizer of a model file; library errors become one-line CLI errors, and a
    SentencePiece or Hugging Face model file is named as such (``not_bytepiece``)."""
    from bytepiece import BytePieceError, Tokenizer

    try:
        return Tokenizer(path, seed=seed)
    except BytePieceError as e:
        raise not_bytepiece(path, command) or click.ClickException(str(e)) from None


_KIND_NAMES = {"sentencepiece": "SentencePiece", "huggingface": "Hugging Face tokenizer.json"}


def not_bytepiece(path: str, command: str) -> click.ClickException | None:
    """The error for a model file of another library given where a bytepiece model is
    read, with the way to convert it; None when the file is not recognized as one.
    Called once loading failed, so a good model costs nothing."""
    from bytepiece.errors import BytePieceError
    from bytepiece.evaluate_models import model_kind

    try:
        kind = model_kind(path)
    except BytePieceError:
        return None
    if kind == "bytepiece":
        return None
    how = ": convert it with `bytepiece convert --from sentencepiece`" \
        if kind == "sentencepiece" else ""
    return click.ClickException(f"model {path} is a {_KIND_NAMES[kind]} model, and "
                                f"{command} reads bytepiece models{how}")


def check_output(path: str | None, inputs=()) -> None:
    """Before the work starts: refuse an output that cannot be written or that is one
    of ``inputs`` (``bytepiece.atomic.check_writable``); stdout (None, '-') passes."""
    from bytepiece.atomic import check_writable
    from bytepiece.errors import InputError

    if path is None or path == "-":
        return
    try:
        check_writable(path, inputs)
    except InputError as e:
        raise click.ClickException(str(e)) from None


def input_size(paths: tuple[str, ...]) -> int | None:
    """Total size of the inputs when they are all regular uncompressed files (for the
    progress bar)."""
    from bytepiece.corpus import is_compressed

    total = 0
    for path in paths:
        if path == "-" or is_compressed(path):
            return None
        try:
            total += os.path.getsize(path)
        except OSError:
            return None
    return total


#: Bytes of stdin read ahead and given back (``unread_stdin``), by stdin stream: read
#: before the rest of that stream.
_STDIN_HEAD: dict = {}


def unread_stdin(data: bytes) -> None:
    """Give back bytes read from stdin: the next read of stdin ("-") starts with them."""
    stream = sys.stdin.buffer
    _STDIN_HEAD[id(stream)] = (stream, _STDIN_HEAD.get(id(stream), (stream, b""))[1] + data)


class _HeadFirst:
    """stdin, with the bytes given back first."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(size)
        if size is None or size < 0:
            data, self.head = self.head + self.rest.read(), b""
            return data
        data, self.head = self.head[:size], self.head[size:]
        return data


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        stream, head = _STDIN_HEAD.pop(id(sys.stdin.buffer), (sys.stdin.buffer, b""))
        yield _HeadFirst(head, stream) if head else stream
        return
    try:
        f = open(path, "rb")
    except OSError as e:
        raise click.ClickException(f"cannot read {path}: {e.strerror}") from None
    with f:
        yield f


def read_blocks(paths: tuple[str, ...], block_bytes: int | None = None,
                long_lines: bool = False) -> Iterator[tuple[str, int, bytes | LongLine]]:
    """Yield ``(name, offset, block)``: each input in blocks of whole lines.

    A block ends at a newline, except the last of a file when the file does not
    end with one; ``offset`` is the block's byte offset in its file. Memory
    stays at a few blocks whatever the input size. A line longer than a block
    is read whole, or with ``long_lines`` comes as a ``LongLine`` whose bytes
    are read as the caller goes through ``LongLine.pieces()`` (before asking
    for the next block).
    """
    from bytepiece.corpus import decompressed_reads, is_compressed

    block_bytes = block_bytes or BLOCK_BYTES
    for path in paths or ("-",):
        name = "<stdin>" if path == "-" else path
        with _open_input(path) as f:
            if path != "-" and is_compressed(path):  # .gz, .zst: as training reads them
                reads = decompressed_reads(f, path, block_bytes)
            else:
                reads = iter(lambda: _read(f, name, block_bytes), b"")
            for offset, block in split_blocks(reads, name, block_bytes, long_lines):
                yield name, offset, block


def long_line_ids(tokenizer, line: LongLine, errors: str, alpha: float = -1.0,
                  window: int | None = None):
    """The int32 ids of a LongLine in parts, as encoding the line whole gives them,
    in bounded memory (see ``bytepiece.streaming``); a warning on stderr if the
    window had to be cut where the segmentation was still undecided."""
    from bytepiece.streaming import long_line_ids as ids_of

    def decode(data: bytes, offset: int) -> str:
        return decode_text(data, line.name, line.offset + offset, errors)

    segmenter = None
    for item in ids_of(tokenizer, line, decode, alpha, window):  # lazily: bounded memory
        if hasattr(item, "forced_cuts"):
            segmenter = item
        else:
            yield item
    if segmenter.forced_cuts:
        sys.stderr.write(
            f"bytepiece: warning: {line.name}: the {line.length}-byte line at byte "
            f"{line.offset} repeats itself so that its best segmentation stays undecided "
            f"over {segmenter.window} bytes: segmented in windows, {segmenter.forced_cuts} "
            f"cuts (the ids may differ a little from encoding the line whole)\n")


def _read(f, name: str, size: int) -> bytes:
    try:
        return f.read(size)
    except OSError as e:
        raise click.ClickException(f"cannot read {name}: {e.strerror}") from None


def decode_text(block: bytes, name: str, offset: int, errors: str) -> str:
    """UTF-8 text of a block; with errors='strict' a bad byte is a one-line error."""
    from bytepiece.corpus import is_compressed

    try:
        return block.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        where = " (decompressed)" if is_compressed(name) else ""
        raise click.ClickException(
            f"{name}: invalid UTF-8 at byte {offset + e.start}{where} "
            f"(use --errors replace or --errors ignore to go on)") from None


@contextlib.contextmanager
def open_output(path: str | None) -> Iterator[BinaryIO]:
    """stdout, or a file written atomically: it appears complete or not at all."""
    from bytepiece.atomic import atomic_output

    if path is None or path == "-":
        try:
            yield sys.stdout.buffer
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            raise ReaderGone() from None
        except OSError as e:  # e.g. a full disk behind a redirection
            raise click.ClickException(f"cannot write to stdout: {e.strerror or e}") from None
        return
    try:
        with atomic_output(path) as f:
            yield f
            check_interrupted()  # never commit the output of an interrupted run
    except OSError as e:
        raise click.ClickException(f"cannot write {path}: {e.strerror or e}") from None


class _NoBar:
    """What ``progress`` gives when stderr is not a terminal: counts, shows nothing."""

    def __init__(self) -> None:
        self.n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc) -> None:
        return None


def progress(total: int | None, desc: str):
    """A bytes/s progress bar on stderr, shown only when stderr is a terminal (tqdm is
    imported only then: it costs ~15 ms of start-up)."""
    if not sys.stderr.isatty():
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                file=sys.stderr, leave=False)
