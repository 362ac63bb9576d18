"""The documents of a training corpus, read as many times as training needs.

Inputs are files, folders or glob patterns; text, JSON Lines or Parquet, plain or
compressed (.gz, .zst). Nothing is held in memory beyond a block (or a batch of
Parquet rows), so a corpus can be far larger than memory.
"""

from __future__ import annotations

import glob
import json
import os
import zlib
from typing import BinaryIO, Iterable, Iterator, NamedTuple

from .blocks import LongLine, line_count, split_blocks, texts_of
from .errors import InputError

#: Files are read in blocks of about this many bytes, cut at a newline.
BLOCK_BYTES = 1 << 22

#: Parquet rows are read this many at a time (documents may be large).
PARQUET_ROWS = 1024

COMPRESSED = (".gz", ".zst")

_AGAIN = " on the second pass (training reads the corpus twice)"


class Shard(NamedTuple):
    """Bytes ``start``..``end`` of the file ``path`` (``end`` None: to its end), cut
    where a document ends, so that the shards of a corpus hold its documents exactly;
    ``size`` and ``mtime_ns`` are the file's when the shard was cut."""

    path: str
    start: int
    end: int | None
    size: int
    mtime_ns: int

    @property
    def nbytes(self) -> int:
        return (self.size if self.end is None else self.end) - self.start


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The files that ``paths`` name, in order: a file as given, a folder's files
    (recursively, sorted by path, hidden files and folders skipped), a glob pattern's
    matching files (``*``, ``**``, ``?``, ``[...]``; sorted). A missing path, a pattern
    that matches no file or a folder without files is an InputError naming it."""
    files: list[str] = []
    for path in map(os.fspath, paths):
        if is_url(path):
            files += _url_files(path)
        elif os.path.isfile(path):
            files.append(path)
        elif os.path.isdir(path):
            found = _folder_files(path)
            if not found:
                raise InputError(f"corpus folder {path} holds no files")
            files += found
        elif os.path.exists(path):
            raise InputError(f"corpus {path} is not a file or a folder")
        elif any(c in path for c in "*?["):
            found = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
            if not found:
                raise InputError(f"no corpus file matches {path}")
            files += found
        else:
            raise InputError(f"corpus file {path} does not exist")
    return files


def is_url(path: str) -> bool:
    """Whether ``path`` is an fsspec URL (``s3://``, ``gs://``, ``hf://``, ``https://``,
    ``file://``...) rather than a local path."""
    return "://" in path


def _filesystem(url: str):
    """(fsspec file system, path within it) of ``url``; an InputError without fsspec."""
    try:
        import fsspec.core
    except ImportError:
        raise InputError(f"reading {url} needs fsspec: pip install 'bytepiece-numba[remote]'") \
            from None
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise InputError(f"cannot read {url}: {_message(e)}") from None


def _url_files(url: str) -> list[str]:
    """The files an fsspec URL names: itself, a folder's files or a pattern's matches
    (as local paths are expanded), as URLs."""
    fs, path = _filesystem(url)
    try:
        if any(c in path for c in "*?["):
            found = sorted(fs.glob(path))
        elif fs.isdir(path):
            found = sorted(p for p in fs.find(path)
                           if not any(part.startswith(".") for part in
                                      p[len(path.rstrip("/")):].split("/")))
        elif fs.isfile(path):
            return [url]
        else:
            raise InputError(f"corpus file {url} does not exist")
    except OSError as e:
        raise InputError(f"cannot read {url}: {_message(e)}") from None
    found = [fs.unstrip_protocol(p) for p in found if fs.isfile(p)]
    if not found:
        raise InputError(f"no corpus file matches {url}")
    return found


def _folder_files(folder: str) -> list[str]:
    def fail(e: OSError):
        raise InputError(f"cannot read folder {e.filename}: {e.strerror}")

    found = []
    for root, dirs, names in os.walk(folder, onerror=fail):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [path for path in (os.path.join(root, n) for n in names
                                    if not n.startswith("."))
                  if os.path.isfile(path)]
    return sorted(found)


class Corpus:
    """The documents of some inputs (see ``expand_inputs``), re-iterable: training
    reads them twice, and a summary may read them a third time.

    ``docs='lines'``: every line is a document, its newline kept; ``'file'``:
    every file is one. ``jsonl_field``: every line is a JSON object and the
    document is that field. ``.gz`` and ``.zst`` files are decompressed as they
    are read. ``.parquet`` files need ``text_column``: every row's value in it is
    a document (nulls skipped). Bad bytes raise an InputError naming the file and
    the byte offset (in the decompressed stream for compressed files).

    A document longer than a block (a whole file, a very long line) comes in
    parts cut where the trainer's chunks end (``_chunked``): training cuts every
    document into chunks and learns from the chunks only, so the parts train
    exactly as the document would.

    Progress: ``size_bytes`` is the size on disk of all inputs, ``bytes_read``
    what the current pass has consumed of it (compressed bytes for compressed
    files, a Parquet file's bytes in proportion to its row groups read).
    """

    def __init__(self, paths: Iterable[str | os.PathLike], docs: str = "lines",
                 jsonl_field: str | None = None, errors: str = "strict",
                 isolate_digits: bool = False, text_column: str | None = None):
        if docs not in ("lines", "file"):
            raise InputError(f"docs must be 'lines' or 'file', not {docs!r}")
        self.paths = expand_inputs(paths)
        self.docs = docs
        self.jsonl_field = jsonl_field
        self.errors = errors
        self.isolate_digits = isolate_digits
        self.text_column = text_column
        self.size_bytes = sum(size for _, size, _ in self.fingerprint())
        self.bytes_read = 0
        self.passes = 0
        #: per file, (size, modification time) when first opened and bytes read then
        self._first_seen: dict[str, tuple[int, int]] = {}
        self._first_bytes: dict[str, int] = {}
        for path in self.paths:
            if _is_parquet(path):
                self._check_parquet(path)

    def fingerprint(self) -> list[tuple[str, int, int]]:
        """``(path, size, mtime_ns)`` of every input as it is now (for a resume manifest)."""
        return [(path, *_stat(path)) for path in self.paths]

    def __iter__(self) -> Iterator[str]:
        return texts_of(self.runs())

    def runs(self) -> Iterator[tuple[str, int]]:
        """The texts of one pass, in runs ``(text, count)``: ``count`` whole lines back to
        back (a block of a text file), or one text as it is (count 1). The trainer packs
        runs of lines in bulk (``chunking.pack_runs``)."""
        self.bytes_read = 0
        self.passes += 1
        for path in self.paths:
            yield from self._runs(path)

    # -- shards: the corpus cut for tasks on a cluster ----------------------------------

    def shards(self, target_bytes: int) -> list[Shard]:
        """The corpus as shards of about ``target_bytes``: plain text and JSON Lines files
        cut after a newline (every line is a document), other files whole. In order,
        the shards' texts are the corpus's texts."""
        out = []
        for path, size, mtime in self.fingerprint():
            if not is_url(path):  # workers elsewhere have other working folders
                path = os.path.abspath(path)
            if not self._splittable(path):
                out.append(Shard(path, 0, None, size, mtime))
                continue
            start = 0
            while size - start > target_bytes + target_bytes // 2:
                cut = _line_start_after(self._open(path)[0], start + target_bytes, size)
                if cut >= size:
                    break
                out.append(Shard(path, start, cut, size, mtime))
                start = cut
            out.append(Shard(path, start, None, size, mtime))
        return out

    def shard_texts(self, shard: Shard) -> "ShardTexts":
        """The texts of one shard, re-iterable and in runs as ``runs()`` gives them (a file
        changed since the shard was cut is an error)."""
        return ShardTexts(self, shard)

    def _splittable(self, path: str) -> bool:
        return not (_is_parquet(path) or path.lower().endswith(COMPRESSED) or
                    (self.docs == "file" and self.jsonl_field is None))

    def _runs(self, path: str, start: int = 0, end: int | None = None
              ) -> Iterator[tuple[str, int]]:
        """The texts of one file, or of its bytes start..end (a shard), in runs."""
        if _is_parquet(path):
            yield from ((text, 1) for text in self._rows(path))
        elif self.docs == "file" and self.jsonl_field is None:
            yield from ((text, 1) for text in self._chunked(self._reads(path), path, 0))
        else:
            long_lines = self.jsonl_field is None
            for offset, block in split_blocks(self._reads(path, start, end), path,
                                              BLOCK_BYTES, long_lines):
                offset += start
                if isinstance(block, LongLine):
                    yield from ((text, 1) for text in
                                self._chunked(block.pieces(), path, offset))
                    continue
                text = self._decode(block, path, offset)
                if self.jsonl_field is not None:
                    yield from ((field, 1) for field in self._fields(text, path, offset))
                elif text:
                    yield text, line_count(text)

    def _chunked(self, pieces, path: str, offset: int):
        """One document given in byte pieces, as texts that end where training chunks
        end: decoded and normalized where the result cannot depend on what follows
        (``bytepiece.streaming``), then cut after the last complete chunk (a chunk
        is decided by at most ~10100 characters after its start)."""
        from .chunking import TRAIN_CHUNK, TRAIN_CHUNK_DIGITS
        from .streaming import iter_nfc, iter_utf8

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

    def _check_unchanged(self, path: str, n_bytes: int, stat: tuple | None = None) -> None:
        """Training reads the corpus twice: a file that changed in between is an error
        (the counts of the two passes would not describe the same text). Checked
        when a file is opened (size, modification time) and read (bytes); the third
        pass, the summary's, comes after the model is written."""
        if self.passes > 2:
            return
        if stat is not None:
            now = stat
            first = self._first_seen.setdefault(path, now)
        else:
            now = (n_bytes, 0)
            first = (self._first_bytes.setdefault(path, n_bytes), 0)
        if first != now:
            sizes = f"{first[0]} bytes, now {now[0]}" if first[0] != now[0] else \
                "modified"
            raise InputError(
                f"{path} changed while training ({sizes}): training reads the corpus "
                f"twice, leave it alone until the model is written")

    def _open(self, path: str):
        """``path`` opened for reading, and its size (checked against the first pass's)."""
        try:
            if is_url(path):
                fs, inner = _filesystem(path)
                raw = fs.open(inner, "rb")
                now = _stat(path)
            else:
                raw = open(path, "rb")
                st = os.fstat(raw.fileno())
                now = (st.st_size, st.st_mtime_ns)
        except OSError as e:
            again = _AGAIN if self.passes > 1 else ""
            raise InputError(f"cannot read {path}{again}: {_message(e)}") from None
        try:
            self._check_unchanged(path, 0, now)
        except InputError:
            raw.close()
            raise
        return raw, now[0]

    def _reads(self, path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes of ``path`` (of its bytes start..end) in reads of about BLOCK_BYTES
        (decompressed for .gz and .zst), advancing ``bytes_read`` by the bytes consumed
        on disk."""
        raw, size = self._open(path)
        with raw:
            if start:
                raw.seek(start)
            stop = size if end is None else end
            base = self.bytes_read
            n = 0
            for data in decompressed_reads(raw, path, limit=None if end is None else stop - start):
                n += len(data)
                self.bytes_read = base + min(raw.tell(), stop) - start
                yield data
            if start == 0 and end is None:
                self._check_unchanged(path, n)
            self.bytes_read = base + stop - start

    def _decode(self, data: bytes, path: str, offset: int) -> str:
        try:
            return data.decode("utf-8", errors=self.errors)
        except UnicodeDecodeError as e:
            where = " (decompressed)" if is_compressed(path) else ""
            raise InputError(
                f"{path}: invalid UTF-8 at byte {offset + e.start}{where} "
                f"(use --errors replace or --errors ignore to go on)") from None

    def _fields(self, text: str, path: str, offset: int):
        for number, line in enumerate(text.split("\n")):
            if not line.strip():
                continue
            try:
                value = json.loads(line)[self.jsonl_field]
            except (ValueError, KeyError, TypeError, IndexError):
                raise InputError(
                    f"{path}: line {number + 1} of the block at byte {offset} is not a JSON "
                    f"object with a string field {self.jsonl_field!r}") from None
            if not isinstance(value, str):
                raise InputError(
                    f"{path}: field {self.jsonl_field!r} is not a string "
                    f"(line {number + 1} of the block at byte {offset})")
            yield value

    # -- Parquet ---------------------------------------------------------------------

    def _check_parquet(self, path: str) -> None:
        """Fail before training starts if ``path`` cannot give texts: no pyarrow, no
        ``text_column`` or no such column of text."""
        pa, pq = _pyarrow(path)
        try:
            if is_url(path):
                with self._open(path)[0] as raw:
                    schema = pq.read_schema(raw)
            else:
                schema = pq.read_schema(path)
        except (OSError, pa.ArrowException) as e:
            raise InputError(f"cannot read {path}: {_message(e)}") from None
        columns = ", ".join(schema.names) or "none"
        if self.text_column is None:
            raise InputError(f"{path} is a Parquet file: name the column of its texts with "
                             f"--text-column (columns: {columns})")
        if self.text_column not in schema.names:
            raise InputError(f"{path} has no column {self.text_column!r} "
                             f"(columns: {columns})")
        kind = schema.field(self.text_column).type
        if not _is_text(pa, kind):
            raise InputError(f"{path}: column {self.text_column!r} holds {kind}, not text")

    def _rows(self, path: str) -> Iterator[str]:
        """The texts of ``path``'s column ``text_column``, row group by row group."""
        pa, pq = _pyarrow(path)
        raw, size = self._open(path)
        with raw:
            base = self.bytes_read
            try:
                parquet = pq.ParquetFile(raw)
                groups = parquet.num_row_groups
            except (OSError, pa.ArrowException) as e:
                raise InputError(f"cannot read {path}: {_message(e)}") from None
            row = 0
            for group in range(groups):
                batches = parquet.iter_batches(batch_size=PARQUET_ROWS, row_groups=[group],
                                               columns=[self.text_column])
                while True:
                    try:
                        batch = next(batches, None)
                    except (OSError, pa.ArrowException) as e:
                        raise InputError(f"cannot read {path}: {_message(e)}") from None
                    if batch is None:
                        break
                    for value in batch.column(0).to_pylist():
                        row += 1
                        if isinstance(value, bytes):
                            value = self._decode_row(value, path, row)
                        if value is not None:
                            yield value
                self.bytes_read = base + size * (group + 1) // groups
            self.bytes_read = base + size

    def _decode_row(self, data: bytes, path: str, row: int) -> str:
        try:
            return data.decode("utf-8", errors=self.errors)
        except UnicodeDecodeError as e:
            raise InputError(
                f"{path}: invalid UTF-8 at byte {e.start} of row {row} "
                f"(use --errors replace or --errors ignore to go on)") from None


def _stat(path: str) -> tuple[int, int]:
    """(size, modification time in ns) of a file or URL (0 where the store has none)."""
    try:
        if is_url(path):
            fs, inner = _filesystem(path)
            info = fs.info(inner)
            mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
            if hasattr(mtime, "timestamp"):
                mtime = mtime.timestamp()
            return int(info.get("size") or 0), int(float(mtime) * 1e9)
        st = os.stat(path)
    except OSError as e:
        raise InputError(f"cannot read {path}: {_message(e)}") from None
    return st.st_size, st.st_mtime_ns


class ShardTexts:
    """The texts of one shard of a Corpus (``Corpus.shard_texts``): iterable any number
    of times, and in runs (``runs``) as the corpus's are."""

    def __init__(self, corpus: Corpus, shard: Shard):
        self.corpus = corpus
        self.shard = shard

    def __iter__(self) -> Iterator[str]:
        return texts_of(self.runs())

    def runs(self) -> Iterator[tuple[str, int]]:
        shard = self.shard
        now = _stat(shard.path)
        if now != (shard.size, shard.mtime_ns):
            raise InputError(f"{shard.path} changed while training ({shard.size} bytes, now "
                             f"{now[0]}): leave the corpus alone until the model is written")
        yield from self.corpus._runs(shard.path, shard.start, shard.end)


def _line_start_after(raw, offset: int, size: int) -> int:
    """The offset just after the first newline at or after ``offset`` in the open file
    ``raw`` (closed here), or ``size`` when there is none."""
    with raw:
        raw.seek(offset)
        at = offset
        while at < size:
            data = raw.read(1 << 16)
            if not data:
                break
            nl = data.find(b"\n")
            if nl >= 0:
                return at + nl + 1
            at += len(data)
    return size


def is_compressed(path: str) -> bool:
    """Whether ``path`` names a compressed file (``.gz``, ``.zst``), read decompressed."""
    return path.lower().endswith(COMPRESSED)


def decompressed_reads(raw: BinaryIO, path: str, block_bytes: int | None = None,
                       limit: int | None = None) -> Iterator[bytes]:
    """The bytes of the open file ``raw`` in reads of about ``block_bytes`` (default
    BLOCK_BYTES), decompressed when ``path`` ends in ``.gz`` or ``.zst``, at most
    ``limit`` of them (None: to the end); a read that fails (bad compressed data, an
    I/O error) is an InputError naming ``path``."""
    f, read_errors = _decompressing(raw, path)
    size = block_bytes or BLOCK_BYTES
    left = limit
    with f:
        while left is None or left > 0:
            try:
                data = f.read(size if left is None else min(size, left))
            except read_errors as e:  # BadGzipFile is an OSError
                raise InputError(f"cannot read {path}: {_message(e)}") from None
            if not data:
                return
            if left is not None:
                left -= len(data)
            yield data


def _is_parquet(path: str) -> bool:
    return path.lower().endswith(".parquet")


def _decompressing(raw, path: str):
    """A reader of ``raw``'s decompressed bytes (``raw`` itself for plain files), and
    the exceptions its reads raise on bad data."""
    name = path.lower()
    if name.endswith(".gz"):
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb"), (OSError, EOFError, zlib.error)
    if name.endswith(".zst"):
        try:
            import zstandard
        except ImportError:
            raise InputError(f"reading {path} needs zstandard: pip install zstandard") \
                from None
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True,
                                                            closefd=False)
        return reader, (OSError, zstandard.ZstdError)
    return raw, (OSError,)


def _pyarrow(path: str):
    """pyarrow and pyarrow.parquet, or an InputError saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InputError(f"reading {path} needs pyarrow: "
                         f"pip install 'bytepiece-numba[parquet]'") from None
    return pyarrow, pyarrow.parquet


def _is_text(pa, kind) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    checks = ("is_string", "is_large_string", "is_string_view", "is_binary",
              "is_large_binary", "is_binary_view")
    return any(getattr(pa.types, name, lambda _: False)(kind) for name in checks)


def _message(e: BaseException) -> str:
    """An exception's message on one line."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(text.split())
