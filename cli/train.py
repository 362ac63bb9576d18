"""``bytepiece train``: train a BytePiece model on text files, streaming them twice."""

from __future__ import annotations

import gzip
import json
import os
import sys
import time
import zlib

import click

#: Files are read in blocks of about this many bytes, cut at a newline.
BLOCK_BYTES = 1 << 22


class Corpus:
    """The documents of some files, re-iterable (training reads them twice).

    ``docs='lines'``: every line is a document, its newline kept; ``'file'``:
    every file is one. ``jsonl_field``: every line is a JSON object and the
    document is that field. Files ending in ``.gz`` are decompressed. Nothing is
    held in memory beyond a block; bad bytes raise a one-line error naming the
    file and the byte offset (in the decompressed stream for gzip files).

    A document longer than a block (a whole file, a very long line) comes in
    parts cut where the trainer's chunks end (``_chunked``): training cuts every
    document into chunks and learns from the chunks only, so the parts train
    exactly as the document would.
    """

    def __init__(self, paths, docs="lines", jsonl_field=None, errors="strict",
                 isolate_digits=False):
        self.paths = list(paths)
        self.docs = docs
        self.jsonl_field = jsonl_field
        self.errors = errors
        self.isolate_digits = isolate_digits
        self.bytes_read = 0
        self.passes = 0
        #: per file, (size, modification time) when first opened and bytes read then
        self._first_seen: dict[str, tuple[int, int]] = {}
        self._first_bytes: dict[str, int] = {}

    def __iter__(self):
        from ._common import LongLine, split_blocks

        self.bytes_read = 0
        self.passes += 1
        for path in self.paths:
            start = self.bytes_read
            if self.docs == "file" and self.jsonl_field is None:
                yield from self._chunked(self._reads(path), path, 0)
            else:
                long_lines = self.jsonl_field is None
                for offset, block in split_blocks(self._reads(path), path, BLOCK_BYTES,
                                                  long_lines):
                    if isinstance(block, LongLine):
                        yield from self._chunked(block.pieces(), path, offset)
                        continue
                    text = self._decode(block, path, offset)
                    if self.jsonl_field is not None:
                        yield from self._fields(text, path, offset)
                    else:
                        yield from _split_lines(text)
            self._check_unchanged(path, self.bytes_read - start)

    def _chunked(self, pieces, path: str, offset: int):
        """One document given in byte pieces, as texts that end where training chunks
        end: decoded and normalized where the result cannot depend on what follows
        (``bytepiece.streaming``), then cut after the last complete chunk (a chunk
        is decided by at most ~10100 characters after its start)."""
        from bytepiece.chunking import TRAIN_CHUNK, TRAIN_CHUNK_DIGITS
        from bytepiece.streaming import iter_nfc, iter_utf8

        regex = TRAIN_CHUNK_DIGITS if self.isolate_digits else TRAIN_CHUNK
        carry = ""
        texts = iter_utf8(pieces, lambda data, at: self._decode(data, path, offset + at))
        for text in iter_nfc(texts):
            chunks = regex.findall(carry + text)  # they tile the text
            carry = chunks.pop() if chunks else ""
            if chunks:
                yield "".join(chunks)
        if carry:
            yield carry

    def _check_unchanged(self, path, n_bytes, stat=None):
        """Training reads the corpus twice: a file that changed in between is an error
        (the counts of the two passes would not describe the same text). Checked
        when a file is opened (size, modification time) and read (bytes); the third
        pass, the summary's, comes after the model is written."""
        if self.passes > 2:
            return
        if stat is not None:
            now = (stat.st_size, stat.st_mtime_ns)
            first = self._first_seen.setdefault(path, now)
        else:
            now = (n_bytes, 0)
            first = (self._first_bytes.setdefault(path, n_bytes), 0)
        if first != now:
            sizes = f"{first[0]} bytes, now {now[0]}" if first[0] != now[0] else \
                "modified"
            raise click.ClickException(
                f"{path} changed while training ({sizes}): training reads the corpus "
                f"twice, leave it alone until the model is written")

    def _reads(self, path):
        """The bytes of ``path`` in reads of BLOCK_BYTES (decompressed for .gz)."""
        try:
            f = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
        except OSError as e:
            again = " on the second pass (training reads the corpus twice)" \
                if self.passes > 1 else ""
            raise click.ClickException(f"cannot read {path}{again}: {e.strerror}") from None
        with f:
            self._check_unchanged(path, 0, os.fstat(f.fileno()))
            while True:
                try:
                    data = f.read(BLOCK_BYTES)
                except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
                    raise click.ClickException(
                        f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
                if not data:
                    return
                self.bytes_read += len(data)
                yield data

    def _decode(self, data: bytes, path: str, offset: int) -> str:
        try:
            return data.decode("utf-8", errors=self.errors)
        except UnicodeDecodeError as e:
            where = " (decompressed)" if path.endswith(".gz") else ""
            raise click.ClickException(
                f"{path}: invalid UTF-8 at byte {offset + e.start}{where} "
                f"(use --errors replace or --errors ignore to go on)") from None

    def _fields(self, text: str, path: str, offset: int):
        for number, line in enumerate(text.split("\n")):
            if not line.strip():
                continue
            try:
                value = json.loads(line)[self.jsonl_field]
            except (ValueError, KeyError, TypeError, IndexError):
                raise click.ClickException(
                    f"{path}: line {number + 1} of the block at byte {offset} is not a JSON "
                    f"object with a string field {self.jsonl_field!r}") from None
            if not isinstance(value, str):
                raise click.ClickException(
                    f"{path}: field {self.jsonl_field!r} is not a string "
                    f"(line {number + 1} of the block at byte {offset})")
            yield value


def _split_lines(text: str) -> list[str]:
    """Lines with their newline ('\\r' is not a line break)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _vocab_sizes(ctx, param, value: str) -> list[int]:
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of integers like 8000,16000") from None
    if not sizes:
        raise click.BadParameter("give at least one size")
    small = [s for s in sizes if s < 259]
    if small:
        raise click.BadParameter(f"{small[0]} is too small: a vocabulary holds the 3 special "
                                 f"tokens and the 256 bytes, so at least 259")
    if len(set(sizes)) != len(sizes):
        raise click.BadParameter(f"{value!r} repeats a size")
    return sizes


def _memory_size(ctx, param, value: str | None) -> int | None:
    from bytepiece.errors import InputError
    from bytepiece.memory import parse_size

    if value is None:
        return None
    try:
        size = parse_size(value)
    except InputError as e:
        raise click.BadParameter(str(e)) from None
    if size <= 0:
        raise click.BadParameter("give a size above 0, like 500M or 2G")
    return size


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("corpus", nargs=-1, required=True, metavar="CORPUS...")
@click.option("-o", "--output", required=True, metavar="MODEL",
              help="Model file to write; with several sizes, MODEL.<size> for each.")
@click.option("--vocab-size", required=True, callback=_vocab_sizes, metavar="N[,N...]",
              help="Vocabulary size(s), special tokens included (at least 259).")
@click.option("--order", type=click.IntRange(1, 7), default=6, show_default=True,
              help="Order of the byte n-gram model that proposes pieces.")
@click.option("--min-count", type=click.IntRange(min=1), default=2, show_default=True,
              help="Least count of an n-gram (order >= 2) and of a piece to be kept.")
@click.option("--max-piece-length", type=click.IntRange(min=1), default=36, show_default=True,
              help="Longest piece, in bytes.")
@click.option("--isolate-digits", is_flag=True,
              help="Cut the text around every digit: no piece holds a digit and anything else.")
@click.option("--ensure-unicode/--no-ensure-unicode", default=True, show_default=True,
              help="Never start a piece inside a UTF-8 character.")
@click.option("--docs", type=click.Choice(["lines", "file"]), default="lines", show_default=True,
              help="A document per line (newline kept) or per file.")
@click.option("--jsonl-field", metavar="NAME", default=None,
              help="Read JSON Lines; every line's field NAME is a document.")
@click.option("--errors", type=click.Choice(["strict", "replace", "ignore"]), default="strict",
              show_default=True, help="What to do with bytes that are not UTF-8.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Threads [default: every core]; the model does not depend on it.")
@click.option("--max-memory", metavar="SIZE", default=None, callback=_memory_size,
              help="Stop with an error rather than use more memory than SIZE "
                   "(like 500M or 2G; K, M, G are powers of 1024).")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def command(corpus, output, vocab_size, order, min_count, max_piece_length, isolate_digits,
            ensure_unicode, docs, jsonl_field, errors, workers, max_memory, quiet):
    """Train a BytePiece model on the CORPUS files (plain text, .gz, or JSON Lines).

    Same algorithm and same models as BytePiece 0.6.3's Trainer; the files are
    read twice, never held in memory.

    \b
    Examples:
      bytepiece train corpora/en.txt -o en.model --vocab-size 8000
      bytepiece train a.txt b.txt.gz -o m.json --vocab-size 16000,32000 --workers 2
      bytepiece train docs.jsonl --jsonl-field text -o m.json --vocab-size 32000
    """
    from bytepiece import BytePieceError, Trainer

    for path in corpus:
        if path == "-":
            raise click.ClickException("training reads the corpus twice: give files, not stdin")
        if not os.path.isfile(path):
            raise click.ClickException(f"corpus file {path} does not exist"
                                       if not os.path.exists(path) else
                                       f"corpus {path} is not a file")
    if all(os.path.getsize(p) == 0 for p in corpus):
        raise click.ClickException("the corpus is empty")
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise click.ClickException(f"cannot write {output}: no folder {folder}")

    texts = Corpus(corpus, docs, jsonl_field, errors, isolate_digits)
    sizes = vocab_size if len(vocab_size) > 1 else vocab_size[0]
    trainer = Trainer(order=order, max_vocab_size=sizes, max_piece_length=max_piece_length,
                      min_count=min_count, isolate_digits=isolate_digits,
                      ensure_unicode=ensure_unicode)
    start = time.perf_counter()
    try:
        trainer.train(texts, workers=workers or os.cpu_count() or 1, max_memory=max_memory)
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None
    if trainer.total_bytes == 0:
        raise click.ClickException("the corpus is empty: no text in " + ", ".join(corpus))
    from ._common import check_interrupted

    check_interrupted()  # a signal whose exception was swallowed still stops the run
    try:
        paths = trainer.save(output)
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from None
    if not quiet:
        _summary(trainer, paths, texts, time.perf_counter() - start, workers)


def _summary(trainer, paths, texts, elapsed, workers):
    """Time per phase, peak memory, vocabulary size and compression, on stderr."""
    import resource

    import numpy as np

    from bytepiece import Tokenizer
    from bytepiece.normalize import nfc

    t = time.perf_counter()
    tokenizers = [Tokenizer(p) for p in paths]
    tokens = [0] * len(paths)
    n_bytes = 0
    for docs in _batches_of(texts):
        data = [nfc(d).encode() for d in docs]
        buf = np.frombuffer(b"".join(data), np.uint8)
        ends = np.cumsum([len(d) for d in data], dtype=np.int64)
        n_bytes += buf.shape[0]
        for k, tok in enumerate(tokenizers):
            ids, _ = tok.encode_buffer(buf, ends, num_threads=workers or os.cpu_count() or 1)
            tokens[k] += ids.shape[0]
    measure = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    phases = ", ".join(f"{name} {secs:.1f}s" for name, secs in trainer.timings.items())
    err = sys.stderr
    err.write(f"trained on {trainer.total_bytes / 1e6:.1f} MB in {elapsed:.1f}s ({phases}); "
              f"peak memory {peak:.0f} MB\n")
    for path, pieces, n in zip(paths, trainer.pieces, tokens):
        ratio = n_bytes / n if n else float("nan")
        err.write(f"{path}: vocabulary of {len(pieces) + 3} (3 special tokens and "
                  f"{len(pieces)} pieces), {ratio:.3f} bytes/token on the training text\n")
    err.write(f"(compression measured in {measure:.1f}s)\n")


def _batches_of(texts, size=1 << 22):
    """The documents in lists of about ``size`` characters."""
    batch, n = [], 0
    for text in texts:
        batch.append(text)
        n += len(text)
        if n >= size:
            yield batch
            batch, n = [], 0
    if batch:
        yield batch
