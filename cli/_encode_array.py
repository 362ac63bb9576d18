"""``bytepiece encode --format bin|npy``: a corpus into one flat array of token ids."""

from __future__ import annotations

import itertools
import sys
import time
import unicodedata

import click

from bytepiece.memory import steady_memory

from ._common import (LongLine, decode_text, input_size, long_line_ids, open_output,
                      progress, read_blocks)


def encode_to_array(tokenizer, files: tuple[str, ...], fmt: str, output: str | None,
                    bos: bool, eos: bool, alpha: float, threads: int, errors: str,
                    documents=None, quiet: bool = False) -> None:
    """Encode FILEs (or the ``documents`` of a JSON Lines Corpus) into ``output`` as a
    token array and, unless ``quiet``, print a summary on stderr."""
    import numpy as np

    from bytepiece.normalize import nfc
    from bytepiece.token_array import encode_blocks, token_dtype

    _check_array_output(fmt, output)

    def prepare(item: tuple[str, int, bytes]) -> bytes:
        """Valid NFC UTF-8 bytes of a block; most blocks are already, and pass as they are."""
        name, offset, block = item
        if block.isascii():
            return block
        text = decode_text(block, name, offset, errors)
        if unicodedata.is_normalized("NFC", text):
            return block if errors == "strict" else text.encode()
        return nfc(text).encode()

    steady_memory()  # the run may be gigabytes long
    dtype = token_dtype(tokenizer.vocab_size)
    started = time.perf_counter()
    total_bytes = 0
    size = documents.size_bytes if documents is not None else input_size(files)
    with open_output(output) as out, progress(size, "encode") as bar:
        writer = _writer(out, dtype, fmt)
        with writer:
            if documents is not None:
                from .encode import document_batches

                for (data, _), ids in encode_blocks(
                        tokenizer, document_batches(documents), lambda batch: batch,
                        num_threads=threads, bos_id=1 if bos else None,
                        eos_id=2 if eos else None, alpha=alpha, dtype=dtype):
                    writer.write(ids)
                    total_bytes += len(data)
                    bar.update(documents.bytes_read - bar.n)
            blocks = iter(()) if documents is not None else read_blocks(files, long_lines=True)
            for long, group in itertools.groupby(blocks, lambda b: isinstance(b[2], LongLine)):
                if long:  # lines too long to hold: streamed, same ids
                    for _, _, line in group:
                        head = [np.array([1], dtype)] if bos else []
                        tail = [np.array([2], dtype)] if eos else []
                        for ids in itertools.chain(head, long_line_ids(
                                tokenizer, line, errors, alpha), tail):
                            writer.write(ids)
                        total_bytes += line.length
                        bar.update(line.length)
                    continue
                for (_, _, block), ids in encode_blocks(
                        tokenizer, group, prepare, num_threads=threads,
                        bos_id=1 if bos else None, eos_id=2 if eos else None, alpha=alpha,
                        dtype=dtype):
                    writer.write(ids)
                    total_bytes += len(block)
                    bar.update(len(block))
    if not quiet:
        _summary(total_bytes, writer.length, dtype, output, started)


def encode_texts_to_array(tokenizer, batches, fmt: str, output: str | None, bos: bool,
                          eos: bool, alpha: float, threads: int, allowed_special,
                          size: int | None, quiet: bool) -> None:
    """``encode --special`` into a token array: ``batches(bar)`` gives lists of texts,
    each encoded with ``Tokenizer.encode_batch(..., allowed_special=...)``."""
    import numpy as np

    from bytepiece.token_array import token_dtype

    _check_array_output(fmt, output)
    dtype = token_dtype(tokenizer.vocab_size)
    started = time.perf_counter()
    total_bytes = 0
    with open_output(output) as out, progress(size, "encode") as bar:
        writer = _writer(out, dtype, fmt)
        with writer:
            for texts in batches(bar):
                results = tokenizer.encode_batch(texts, num_threads=threads, add_bos=bos,
                                                 add_eos=eos, alpha=alpha,
                                                 allowed_special=allowed_special)
                flat = [i for ids in results for i in ids]
                writer.write(np.array(flat, dtype))
                total_bytes += sum(len(t.encode()) for t in texts)
    if not quiet:
        _summary(total_bytes, writer.length, dtype, output, started)


def _check_array_output(fmt: str, output: str | None) -> None:
    if output is None or output == "-":
        if fmt == "npy":
            raise click.UsageError("--format npy needs -o FILE (its header is written last)")
        if sys.stdout.isatty():
            raise click.UsageError(f"--format {fmt} writes binary data: use -o FILE or a pipe")


def _summary(total_bytes: int, tokens: int, dtype, output: str | None, started: float) -> None:
    seconds = time.perf_counter() - started
    where = "" if output in (None, "-") else f" to {output}"
    sys.stderr.write(
        f"bytepiece: encoded {_size(total_bytes)} into {tokens:,} tokens{where} "
        f"({dtype.name}, {total_bytes / max(tokens, 1):.3f} bytes/token) in {seconds:.2f} s: "
        f"{total_bytes / 1e6 / max(seconds, 1e-9):.1f} MB/s\n")


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _writer(out, dtype, fmt: str):
    """A TokenArrayWriter of ``fmt`` on ``out``; what it refuses is a one-line error."""
    from bytepiece.errors import InputError
    from bytepiece.token_array import TokenArrayWriter

    try:
        return TokenArrayWriter(out, dtype, fmt)
    except InputError as e:
        raise click.ClickException(str(e)) from None
