"""Sorted count runs: the files that training's phases, spills and machines exchange.

A run is a table of (key, count) sorted by key, each key once. Two kinds:

- ``NGRAMS``: the key is a byte slice of at most 7 bytes packed big-endian
  (first byte in the top 8 bits, length in the lowest 8), so that key order is
  the slices' lexicographic order and the slices that begin with an n-gram are
  contiguous;
- ``PIECES``: the key is ``piece_key(bytes)``, a 64-bit mix of the piece's
  bytes, and each entry also holds the bytes; order is (key, bytes), so that
  key ranges split the pieces evenly and a merge never compares bytes unless
  two keys are equal.

The file is a header, blocks of at most ``BLOCK_ENTRIES`` entries, and a
footer with every block's offset and first and last key: a reader seeks to the
blocks of a key range and reads a block at a time, so merging any number of
runs takes a few blocks of memory each.

    header   magic "BPRUN1\\n\\0", kind u64
    block    n u64, data bytes u64, keys u64[n], counts i64[n],
             (PIECES) lengths u32[n], data u8[...]
    footer   per block (offset, n, first key, last key) u64[4]
    trailer  blocks u64, entries u64, footer offset u64, magic

A run is written to ``NAME.tmp`` and renamed when complete (after fsync), so a
run file that exists is whole: resuming training relies on this.

Runs that travel between machines (``run_bytes``) are compressed: the kind has
the ``COMPRESSED`` bit, and a block is ``n u64, data bytes u64, payload bytes
u64`` and a zstd frame of its arrays, integers with their bytes transposed (byte
0 of every value, then byte 1...), so that small counts become runs of zero
bytes. N-gram keys that are slices (a length of 1..7, zero bytes after it) are
front-coded: per key the bytes it shares with the one before (u8), its length
(u8), then the bytes that follow the shared ones, all keys' back to back
("data bytes" is their number). Sorted slices share most of their bytes, and a
set of kept n-grams holds every prefix of each: one new byte a key, 1.8 bytes an
entry in all instead of 2.3 (other keys, "data bytes" 0: differences from the
one before). Pieces are sent without their keys (hashes, which do not
compress), in blocks of up to ``PIECE_BLOCK_ENTRIES`` (a key range holds a
random sample of the pieces: the more of them a block holds, the more bytes
neighbours share), sorted by their first 16 bytes and front-coded: per piece
the bytes it shares with the one before (u8, at most 255), its length (u32),
its count, then the bytes after the shared ones, all pieces' back to back (6.5
bytes a piece of the count tasks' runs instead of 9.6). The reader computes the
keys again and puts the entries back in key order.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

MAGIC = b"BPRUN1\n\0"
NGRAMS, PIECES = 1, 2
#: The bit of the header's kind that marks compressed blocks.
COMPRESSED = 1 << 8
#: Entries per block: 1 MB of n-gram keys and counts.
BLOCK_ENTRIES = 1 << 16
#: Entries per block of a compressed run of pieces (see the module docstring).
PIECE_BLOCK_ENTRIES = 1 << 20
_TRAILER = 32


@dataclass
class Block:
    """A slice of a run: keys uint64[n], counts int64[n], and for pieces their
    bytes, ``data`` uint8 back to back with ``ends`` int64[n] cumulative."""

    keys: np.ndarray
    counts: np.ndarray
    ends: np.ndarray | None = None
    data: np.ndarray | None = None

    def __len__(self) -> int:
        return self.keys.shape[0]

    @property
    def nbytes(self) -> int:
        extra = 0 if self.data is None else self.data.nbytes + self.ends.nbytes
        return self.keys.nbytes + self.counts.nbytes + extra

    def take(self, lo: int, hi: int) -> "Block":
        """Entries lo..hi-1 (views where possible)."""
        if self.data is None:
            return Block(self.keys[lo:hi], self.counts[lo:hi])
        d0 = int(self.ends[lo - 1]) if lo else 0
        d1 = int(self.ends[hi - 1]) if hi > lo else d0
        return Block(self.keys[lo:hi], self.counts[lo:hi], self.ends[lo:hi] - d0,
                     self.data[d0:d1])

    def select(self, mask: np.ndarray) -> "Block":
        """The entries where ``mask`` is true, in order."""
        which = np.flatnonzero(mask)
        if self.data is None:
            return Block(self.keys[which], self.counts[which])
        from .._kernels import read_only
        from .._kernels.lm import gather

        lengths = np.diff(self.ends, prepend=0)
        data, ends = gather(read_only(self.data), self.ends - lengths, lengths, which)
        return Block(self.keys[which], self.counts[which], ends, data)

    def piece(self, i: int) -> bytes:
        """The bytes of entry ``i`` (PIECES runs)."""
        d0 = int(self.ends[i - 1]) if i else 0
        return self.data[d0:int(self.ends[i])].tobytes()


def empty_block(kind: int) -> Block:
    if kind == NGRAMS:
        return Block(np.empty(0, np.uint64), np.empty(0, np.int64))
    return Block(np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int64),
                 np.empty(0, np.uint8))


def concat(blocks: list[Block], kind: int) -> Block:
    """The entries of ``blocks`` one after the other (not merged)."""
    if not blocks:
        return empty_block(kind)
    if len(blocks) == 1:
        return blocks[0]
    keys = np.concatenate([b.keys for b in blocks])
    counts = np.concatenate([b.counts for b in blocks])
    if kind == NGRAMS:
        return Block(keys, counts)
    data = np.concatenate([b.data for b in blocks])
    lengths = np.concatenate([np.diff(b.ends, prepend=0) for b in blocks])
    return Block(keys, counts, np.cumsum(lengths), data)


class RunWriter:
    """Write a run block by block; ``close()`` commits it under its name.

    ``path`` may instead be a binary file object (``run_bytes``), written as is.
    ``compress``: blocks are zstd-compressed (see the module docstring). The entries
    written go to the file in blocks of ``block_entries`` however they were handed in,
    the last block shorter.
    """

    def __init__(self, path, kind: int, compress: bool = False):
        self.kind = kind
        self.compress = compress
        if hasattr(path, "write"):
            self.path, self._tmp, self._f = None, None, path
        else:
            self.path = os.fspath(path)
            self._tmp = self.path + ".tmp"
            self._f = open(self._tmp, "wb")
        self._f.write(MAGIC + np.uint64(kind | (COMPRESSED if compress else 0)).tobytes())
        self._offset = 16
        self._index: list[tuple[int, int, int, int]] = []
        self.entries = 0
        self.block_entries = PIECE_BLOCK_ENTRIES if compress and kind == PIECES \
            else BLOCK_ENTRIES
        self._pending: list[Block] = []  # entries not yet a whole block
        self._pending_entries = 0

    def write(self, block: Block) -> None:
        """Append ``block``'s entries, which sort after those written so far."""
        size, lo = self.block_entries, 0
        if self._pending:  # first make the pending entries a whole block
            lo = min(size - self._pending_entries, len(block))
            self._hold(block.take(0, lo))
            if self._pending_entries == size:
                self._flush()
        while len(block) - lo >= size:
            self._write_one(block.take(lo, lo + size))
            lo += size
        if lo < len(block):
            self._hold(block.take(lo, len(block)))

    def _hold(self, part: Block) -> None:
        """Keep ``part`` for the next block, in arrays of its own (the caller's may change)."""
        self._pending.append(Block(*(None if a is None else a.copy()
                                     for a in (part.keys, part.counts, part.ends, part.data))))
        self._pending_entries += len(part)

    def _flush(self) -> None:
        """Write the pending entries as one block."""
        self._write_one(concat(self._pending, self.kind))
        self._pending, self._pending_entries = [], 0

    def _write_one(self, b: Block) -> None:
        n = len(b)
        parts = [b.keys.astype(np.uint64, copy=False), b.counts.astype(np.int64, copy=False)]
        data_bytes = 0
        if self.kind == PIECES:
            lengths = np.diff(b.ends, prepend=0).astype(np.uint32)
            parts += [lengths, b.data]
            data_bytes = b.data.shape[0]
        if self.compress:
            payload, suffix_bytes = _compress(parts)
            if self.kind == NGRAMS:
                data_bytes = suffix_bytes
        head = np.array([n, data_bytes], np.uint64)
        if self.compress:
            parts = [np.array([len(payload)], np.uint64), np.frombuffer(payload, np.uint8)]
        self._index.append((self._offset, n, int(b.keys[0]), int(b.keys[-1])))
        for part in [head, *parts]:
            self._f.write(np.ascontiguousarray(part).data)
            self._offset += part.nbytes
        self.entries += n

    def close(self) -> str | None:
        """Write the footer, fsync and rename: the run exists only once complete."""
        if self._pending:
            self._flush()
        index = np.array(self._index, np.uint64).reshape(-1, 4)
        self._f.write(index.tobytes())
        trailer = np.array([len(self._index), self.entries, self._offset], np.uint64)
        self._f.write(trailer.tobytes() + MAGIC)
        if self.path is None:
            return None
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self.path is None:
            return
        self._f.close()
        try:
            os.unlink(self._tmp)
        except OSError:
            pass


def run_bytes(blocks, kind: int) -> bytes:
    """A compressed run of sorted ``blocks`` as bytes: what a task sends another."""
    out = io.BytesIO()
    writer = RunWriter(out, kind, compress=True)
    for block in blocks:
        writer.write(block)
    writer.close()
    return out.getvalue()


def _compress(parts: list[np.ndarray]) -> tuple[bytes, int]:
    """One zstd frame of a block's arrays (see the module docstring), and for n-grams the
    number of front-coded key bytes (0: the keys are differences)."""
    import zstandard

    keys = parts[0]
    suffix_bytes = 0
    if len(parts) > 2:  # pieces: no keys, by their first bytes, front-coded
        raw, _ = _front_coded_pieces(parts[1], parts[2], parts[3], keys)
    else:
        coded = _front_coded(keys)
        if coded is not None:
            raw = coded + _transposed(parts[1])
            suffix_bytes = len(coded) - 2 * len(keys)
        else:
            delta = np.diff(keys, prepend=keys[:1]) if len(keys) else keys
            if len(keys):
                delta[0] = keys[0]
            raw = _transposed(delta) + _transposed(parts[1])
    return zstandard.ZstdCompressor(level=3).compress(raw), suffix_bytes


def _front_coded(keys: np.ndarray) -> bytes | None:
    """Sorted slice keys front-coded: shared bytes u8[n], lengths u8[n], then the bytes
    after the shared ones; None unless every key is a slice (see the module docstring)."""
    n = len(keys)
    rows = keys.byteswap().view(np.uint8).reshape(n, 8)  # the bytes in order, length last
    lengths = rows[:, 7]
    column = np.arange(7)
    padding = column[None, :] >= lengths[:, None]
    if n == 0 or lengths.min() < 1 or lengths.max() > 7 or rows[:, :7][padding].any():
        return None
    same = np.zeros((n, 8), bool)
    same[1:, :7] = rows[1:, :7] == rows[:-1, :7]
    lcp = np.minimum(np.argmin(same, axis=1), lengths).astype(np.uint8)
    suffix = rows[:, :7][(column[None, :] >= lcp[:, None]) & ~padding]
    return lcp.tobytes() + lengths.tobytes() + suffix.tobytes()


def _front_coded_pieces(counts: np.ndarray, lengths: np.ndarray, data: np.ndarray,
                        tie: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Pieces (their counts, lengths, and bytes back to back) sorted by their first 16
    bytes, then ``tie``, and front-coded (see the module docstring): (the bytes, the order)."""
    from .._kernels import read_only
    from .._kernels.runs import front_coded_pieces

    lengths = lengths.astype(np.int64)
    starts = np.cumsum(lengths) - lengths
    order = np.lexsort((tie, _prefixes(data, starts + 8, lengths - 8),
                        _prefixes(data, starts, lengths)))
    lcp, suffix = front_coded_pieces(read_only(data), starts, lengths, order)
    raw = (lcp.tobytes() + _transposed(lengths[order].astype(np.uint32))
           + _transposed(counts[order].astype(np.int64)) + suffix.tobytes())
    return raw, order


def _front_decoded_pieces(raw, n: int, data_bytes: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(data, ends, counts) of ``_front_coded_pieces``' n pieces, in its order."""
    from .._kernels.runs import front_decoded_pieces

    lcp = np.frombuffer(raw, np.uint8, n)
    lengths = _untransposed(raw, n, n, np.uint32)
    counts = _untransposed(raw, 5 * n, n, np.int64)
    suffix = np.frombuffer(raw, np.uint8, data_bytes - int(lcp.sum(dtype=np.int64)), 13 * n)
    data, ends = front_decoded_pieces(lcp, lengths, suffix)
    return data, ends, counts


def pack_pieces(pieces: list[bytes], counts: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Pieces and their counts as one compressed buffer, front-coded as in a run, and
    the order they are in there (indices into ``pieces``): what a task shares."""
    import zstandard

    lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
    data = np.frombuffer(b"".join(pieces), np.uint8)
    raw, order = _front_coded_pieces(counts, lengths, data, np.arange(len(pieces)))
    head = np.array([len(pieces), data.shape[0]], np.uint64).tobytes()
    return zstandard.ZstdCompressor(level=3).compress(head + raw), order


def unpack_pieces(packed: bytes) -> tuple[list[bytes], np.ndarray]:
    """The pieces and counts of ``pack_pieces``, in its order."""
    import zstandard

    raw = zstandard.ZstdDecompressor().decompress(packed)
    n, data_bytes = (int(v) for v in np.frombuffer(raw, np.uint64, 2))
    data, ends, counts = _front_decoded_pieces(memoryview(raw)[16:], n, data_bytes)
    return split_pieces(data, ends), counts


def split_pieces(data: np.ndarray, ends: np.ndarray) -> list[bytes]:
    """The pieces data[ends[i-1]:ends[i]] as bytes, in order."""
    blob = data.tobytes()
    starts = ends - np.diff(ends, prepend=0)
    return [blob[a:b] for a, b in zip(starts.tolist(), ends.tolist())]


def _prefixes(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The first 8 bytes of each piece as a big-endian uint64 (zeros past its end)."""
    prefix = np.zeros(len(starts), np.uint64)
    for j in range(8):
        byte = np.zeros(len(starts), np.uint64)
        has = lengths > j
        byte[has] = data[starts[has] + j]
        prefix = (prefix << np.uint64(8)) | byte
    return prefix


def _key_order(data: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(keys, order): the pieces' keys, and the order that sorts them by key, then bytes."""
    from .._kernels import read_only
    from .._kernels.runs import piece_keys

    keys = piece_keys(read_only(data), ends)
    order = np.argsort(keys, kind="stable")
    tied = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    if len(tied):  # a 64-bit collision: those pieces by their bytes
        starts = ends - np.diff(ends, prepend=0)
        piece = lambda i: data[starts[i]:ends[i]].tobytes()  # noqa: E731
        for t in tied:
            a = b = t
            while a > 0 and keys[order[a - 1]] == keys[order[t]]:
                a -= 1
            while b + 1 < len(order) and keys[order[b + 1]] == keys[order[t]]:
                b += 1
            order[a:b + 1] = sorted(order[a:b + 1], key=piece)
    return keys, order


def _transposed(a: np.ndarray) -> bytes:
    return a.view(np.uint8).reshape(-1, a.itemsize).T.tobytes()


def _untransposed(raw, at: int, n: int, dtype) -> np.ndarray:
    size = np.dtype(dtype).itemsize
    t = np.frombuffer(raw, np.uint8, n * size, at).reshape(size, n)
    return np.ascontiguousarray(t.T).view(dtype).reshape(n)


def write_run(path: str | os.PathLike, kind: int, block: Block) -> str:
    """Write one sorted block as a whole run; returns the path."""
    writer = RunWriter(path, kind)
    try:
        writer.write(block)
        return writer.close()
    except BaseException:
        writer.abort()
        raise


class RunFile:
    """A run on disk, read block by block (never mapped: pages read once stay out
    of the resident memory); or, given bytes (``run_bytes``), a run in memory."""

    def __init__(self, path):
        if isinstance(path, (bytes, bytearray, memoryview)):
            self.path, self._bytes = None, path
        else:
            self.path, self._bytes = os.fspath(path), None
        with self._open() as f:
            head = f.read(16)
            f.seek(-_TRAILER, os.SEEK_END)
            trailer = f.read(_TRAILER)
            if head[:8] != MAGIC or trailer[24:] != MAGIC:
                raise ValueError(f"{self.path or 'data'} is not a complete run file")
            kind = int(np.frombuffer(head[8:], np.uint64)[0])
            self.kind, self.compressed = kind & ~COMPRESSED, bool(kind & COMPRESSED)
            n_blocks, self.entries, footer = np.frombuffer(trailer[:24], np.uint64).tolist()
            f.seek(footer)
            self.index = np.frombuffer(f.read(32 * n_blocks), np.uint64).reshape(-1, 4)

    def _open(self):
        return io.BytesIO(self._bytes) if self.path is None else open(self.path, "rb")

    def __len__(self) -> int:
        return self.entries

    @property
    def size(self) -> int:
        return len(self._bytes) if self.path is None else os.path.getsize(self.path)

    def sample_keys(self) -> np.ndarray:
        """The first key of every block: a sample for choosing key ranges."""
        return self.index[:, 2].copy()

    def blocks(self, lo: int = 0, hi: int | None = None):
        """The blocks of entries with lo <= key < hi (hi None: no upper bound)."""
        index = self.index
        with self._open() as f:
            for b in range(index.shape[0]):
                offset, n, first, last = (int(v) for v in index[b])
                if last < lo or (hi is not None and first >= hi):
                    continue
                block = self._read(f, offset, n)
                a = int(np.searchsorted(block.keys, np.uint64(lo))) if first < lo else 0
                z = n if hi is None or last < hi else \
                    int(np.searchsorted(block.keys, np.uint64(hi)))
                if z > a:
                    yield block.take(a, z) if (a, z) != (0, n) else block

    def _read(self, f, offset: int, n: int) -> Block:
        f.seek(offset)
        head = np.frombuffer(f.read(16), np.uint64)
        data_bytes = int(head[1])
        if self.compressed:
            return self._read_compressed(f, n, data_bytes)
        raw = f.read(16 * n + (4 * n + data_bytes if self.kind == PIECES else 0))
        keys = np.frombuffer(raw, np.uint64, n)
        counts = np.frombuffer(raw, np.int64, n, 8 * n)
        if self.kind == NGRAMS:
            return Block(keys, counts)
        lengths = np.frombuffer(raw, np.uint32, n, 16 * n)
        data = np.frombuffer(raw, np.uint8, data_bytes, 20 * n)
        return Block(keys, counts, np.cumsum(lengths, dtype=np.int64), data)

    def _read_compressed(self, f, n: int, data_bytes: int) -> Block:
        import zstandard

        size = int(np.frombuffer(f.read(8), np.uint64)[0])
        raw = zstandard.ZstdDecompressor().decompress(f.read(size))
        if self.kind == NGRAMS and data_bytes:  # front-coded
            from .._kernels.runs import front_decoded

            lcp = np.frombuffer(raw, np.uint8, n)
            lengths = np.frombuffer(raw, np.uint8, n, n)
            suffix = np.frombuffer(raw, np.uint8, data_bytes, 2 * n)
            return Block(front_decoded(lcp, lengths, suffix),
                         _untransposed(raw, 2 * n + data_bytes, n, np.int64))
        if self.kind == NGRAMS:
            keys = np.cumsum(_untransposed(raw, 0, n, np.uint64), dtype=np.uint64)
            return Block(keys, _untransposed(raw, 8 * n, n, np.int64))
        from .._kernels import read_only
        from .._kernels.lm import gather

        data, ends, counts = _front_decoded_pieces(raw, n, data_bytes)
        keys, order = _key_order(data, ends)
        lengths = np.diff(ends, prepend=0)
        data, ends = gather(read_only(data), ends - lengths, lengths, order)
        return Block(keys[order], counts[order], ends, data)


class MemoryRun:
    """A sorted block held in memory, read like a ``RunFile`` (the run that never spilled)."""

    def __init__(self, block: Block, kind: int):
        self.block = block
        self.kind = kind
        self.entries = len(block)
        self.size = 0

    def __len__(self) -> int:
        return self.entries

    def sample_keys(self) -> np.ndarray:
        return self.block.keys[::BLOCK_ENTRIES].copy()

    def blocks(self, lo: int = 0, hi: int | None = None):
        keys = self.block.keys
        a = int(np.searchsorted(keys, np.uint64(lo)))
        z = len(keys) if hi is None else int(np.searchsorted(keys, np.uint64(hi)))
        for s in range(a, z, BLOCK_ENTRIES):
            yield self.block.take(s, min(s + BLOCK_ENTRIES, z))
