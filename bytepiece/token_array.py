"""Corpora encoded into one flat array of token ids on disk, as LLM pre-training loaders read.

Two layouts: ``bin``, the raw little-endian ids and nothing else, and ``npy``,
the same after a NumPy ``.npy`` header, so ``np.load(path, mmap_mode="r")``
maps it. Ids are uint16 when the vocabulary fits (at most 65536 ids), else
uint32. Encoding streams: blocks of text are segmented on worker threads
(the kernel releases the GIL) and written in order, a few blocks in flight,
so memory does not grow with the corpus.

>>> import io, numpy as np
>>> f = io.BytesIO()
>>> with TokenArrayWriter(f, np.uint16, "npy") as writer:
...     writer.write(np.array([5, 6, 7]))
>>> np.load(io.BytesIO(f.getvalue())).tolist()
[5, 6, 7]
"""

from __future__ import annotations

import struct
from collections import deque
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator, TypeVar

import numpy as np

from .errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import Future

    from .tokenizer import Tokenizer

FORMATS = ("bin", "npy")
#: Size of the .npy header this module writes: magic, version, length, then the
#: header text padded with spaces, room for any length, a multiple of 64 bytes.
NPY_HEADER_BYTES = 128
_NPY_MAGIC = b"\x93NUMPY\x01\x00"

Block = TypeVar("Block")


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id: uint16 up to 65536 ids.

    >>> token_dtype(32000), token_dtype(65536), token_dtype(65537)
    (dtype('uint16'), dtype('uint16'), dtype('uint32'))
    """
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def npy_header(dtype: np.dtype, length: int) -> bytes:
    """The NPY_HEADER_BYTES-byte header of a 1-d little-endian array of ``length`` items.

    >>> len(npy_header(np.dtype(np.uint16), 10**12))
    128
    """
    descr = np.dtype(dtype).newbyteorder("<").str
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({length},), }}"
    size = NPY_HEADER_BYTES - len(_NPY_MAGIC) - 2
    return _NPY_MAGIC + struct.pack("<H", size) + text.ljust(size - 1).encode("ascii") + b"\n"


class TokenArrayWriter:
    """Appends ids to a binary file as one flat array (``fmt`` "bin" or "npy").

    For "npy" the header goes first with length 0 and is rewritten with the
    final length on ``close``: the file must be seekable (a regular file, not a
    pipe). Ids are cast to ``dtype``; the caller guarantees they fit.
    """

    def __init__(self, f: BinaryIO, dtype: np.dtype | type, fmt: str = "bin") -> None:
        if fmt not in FORMATS:
            raise InputError(f"unknown token array format {fmt!r}: use one of {FORMATS}")
        self._f = f
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.fmt = fmt
        self.length = 0
        if fmt == "npy":
            if not f.seekable():
                raise InputError("an .npy file needs a seekable output (a file, not a pipe)")
            self._start = f.tell()
            f.write(npy_header(self.dtype, 0))

    def write(self, ids: np.ndarray) -> None:
        """Append ids (any integer array; cast to the writer's dtype)."""
        data = ids if ids.dtype == self.dtype else ids.astype(self.dtype)
        self._f.write(memoryview(np.ascontiguousarray(data)).cast("B"))
        self.length += data.shape[0]

    def close(self) -> None:
        """Finish the file: for "npy", write the final length into the header."""
        if self.fmt == "npy":
            end = self._f.tell()
            self._f.seek(self._start)
            self._f.write(npy_header(self.dtype, self.length))
            self._f.seek(end)

    def __enter__(self) -> "TokenArrayWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.close()


def line_ends(buf: np.ndarray) -> np.ndarray:
    """int64 end offsets of the lines of a uint8 buffer (each line keeps its newline).

    >>> line_ends(np.frombuffer(b"a\\n\\nbc", np.uint8)).tolist()
    [2, 3, 5]
    """
    ends = np.flatnonzero(buf == 10) + 1
    if buf.shape[0] and buf[-1] != 10:
        ends = np.append(ends, buf.shape[0])
    return ends.astype(np.int64)


def add_special_ids(ids: np.ndarray, token_ends: np.ndarray, bos_id: int | None,
                    eos_id: int | None) -> np.ndarray:
    """``ids`` with ``bos_id`` before and ``eos_id`` after every text (None: none).

    >>> add_special_ids(np.array([7, 8, 9]), np.array([2, 3]), None, 2).tolist()
    [7, 8, 2, 9, 2]
    """
    if bos_id is None and eos_id is None:
        return ids
    starts = np.concatenate(([0], token_ends[:-1])).astype(np.int64)
    if bos_id is None:
        return np.insert(ids, token_ends, eos_id)
    if eos_id is None:
        return np.insert(ids, starts, bos_id)
    # an end and the next start are the same index: the eos goes in first
    where = np.stack([starts, token_ends.astype(np.int64)], axis=1).ravel()
    values = np.tile(np.array([bos_id, eos_id], ids.dtype), token_ends.shape[0])
    return np.insert(ids, where, values)


def encode_blocks(tokenizer: Tokenizer, blocks: Iterable[Block],
                  prepare: Callable[[Block], bytes | tuple[bytes, np.ndarray]], *,
                  num_threads: int = 1,
                  bos_id: int | None = None, eos_id: int | None = None, alpha: float = -1,
                  dtype: np.dtype | type | None = None) -> Iterator[tuple[Block, np.ndarray]]:
    """Yield ``(block, ids)`` for each block, in order: the ids of its lines back to back.

    ``prepare`` turns a block into the UTF-8 bytes to segment (validating and
    normalizing as the caller wishes; its exceptions come out of this
    generator, in block order), whose texts are its lines, or into the bytes
    and the int64 ends of its texts (documents that hold newlines, say).
    Blocks are prepared and segmented on
    ``num_threads`` worker threads, at most ``2 * num_threads`` in flight.
    Every text (line) is encoded as in ``Tokenizer.encode_batch``, with
    ``bos_id``/``eos_id`` around it when given. Sampling (``alpha >= 0``) draws
    one seed per block here, in order, so results do not depend on threads.
    """
    dtype = np.dtype(dtype or token_dtype(tokenizer.vocab_size))

    def run(block: Block, seed: np.uint64) -> np.ndarray:
        prepared = prepare(block)
        data, ends = prepared if isinstance(prepared, tuple) else (prepared, None)
        buf = np.frombuffer(data, np.uint8)
        ids, token_ends = tokenizer.encode_buffer(
            buf, line_ends(buf) if ends is None else ends, alpha, num_threads=1, seed=seed)
        return add_special_ids(ids, token_ends, bos_id, eos_id).astype(dtype, copy=False)

    from concurrent.futures import ThreadPoolExecutor  # here: the CLI's start-up skips it

    pending: deque[tuple[Block, Future]] = deque()
    pool = ThreadPoolExecutor(max(1, num_threads), "bytepiece-encode")
    try:
        for block in blocks:
            seed = tokenizer._draw_seed(alpha)
            pending.append((block, pool.submit(run, block, seed)))
            if len(pending) >= 2 * num_threads:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    finally:
        for _, future in pending:
            future.cancel()
        pool.shutdown(wait=True)

