"""Encoding a corpus on a cluster: one token array per shard, written by the workers, and
an index of the shards.

The corpus is cut into shards at line boundaries (``Corpus.shards``); a task
encodes one shard as ``bytepiece encode --format bin|npy`` encodes a file (every
line a text, ``<bos>``/``<eos>`` around each when asked), so the shards' arrays
one after the other are the array of ``bytepiece encode`` over the same inputs.
Workers write their arrays into the output folder themselves (it must be on a
file system they share), each atomically; only counts come back.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import NamedTuple

import numpy as np

from .errors import InputError

#: Shards of about this many bytes: enough tasks to share the work, few files.
SHARD_BYTES = 64 << 20
INDEX = "index.tsv"


class ShardResult(NamedTuple):
    """What one shard gave: its array's file name, its input, and its counts."""

    file: str
    path: str
    start: int
    end: int
    documents: int
    tokens: int
    bytes: int


def encode_on_cluster(model, corpus, out_dir: str, fmt: str, engine, bos: bool = False,
                      eos: bool = False, shard_bytes: int | None = None,
                      progress=None) -> list[ShardResult]:
    """Encode ``corpus`` (a ``Corpus`` of text files) with ``model`` (a ``Model``) on
    ``engine``'s workers into ``out_dir``: ``shard-NNNNN.<fmt>`` per shard and
    ``index.tsv``. Returns the shards' results, in order."""
    if fmt not in ("bin", "npy"):
        raise InputError(f"encoding on a cluster writes token arrays: --format bin or npy, "
                         f"not {fmt}")
    os.makedirs(out_dir, exist_ok=True)
    shards = corpus.shards(shard_bytes or SHARD_BYTES)
    shared = engine.share((uuid.uuid4().hex, json.dumps(model.to_dict()).encode()))
    names = [f"shard-{i:05d}.{fmt}" for i in range(len(shards))]
    handles = [engine.submit(encode_shard_task, shared, corpus, shard,
                             os.path.join(os.path.abspath(out_dir), name), fmt, bos, eos)
               for shard, name in zip(shards, names)]
    for i in engine.each_done(handles):
        if progress is not None:
            progress(shards[i].nbytes)
    counts = engine.gather(handles)
    results = [ShardResult(name, shard.path, shard.start,
                           shard.size if shard.end is None else shard.end, *c)
               for name, shard, c in zip(names, shards, counts)]
    _write_index(os.path.join(out_dir, INDEX), results)
    return results


def _write_index(path: str, results: list[ShardResult]) -> None:
    from .atomic import write_atomic

    lines = ["\t".join(ShardResult._fields)]
    lines += ["\t".join(map(str, r)) for r in results]
    write_atomic(path, ("\n".join(lines) + "\n").encode())


def read_index(out_dir: str) -> list[ShardResult]:
    """The shards listed in ``out_dir``'s index, in order."""
    with open(os.path.join(out_dir, INDEX), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f][1:]
    return [ShardResult(r[0], r[1], *map(int, r[2:])) for r in rows]


def encode_shard_task(model: tuple, corpus, shard, out_path: str, fmt: str, bos: bool,
                      eos: bool) -> tuple[int, int, int]:
    """Encode one shard into ``out_path``: (documents, tokens, bytes of text)."""
    from .atomic import atomic_output
    from .blocks import LongLine, split_blocks
    from .corpus import BLOCK_BYTES
    from .streaming import long_line_ids
    from .token_array import TokenArrayWriter, encode_blocks, token_dtype

    tokenizer = _tokenizer(model)
    dtype = token_dtype(tokenizer.vocab_size)
    documents = n_bytes = 0

    def text_of(block: bytes, offset: int) -> bytes:
        if block.isascii():
            return block
        from .normalize import nfc

        return nfc(corpus._decode(block, shard.path, offset)).encode()

    def decode(line: LongLine):
        return lambda data, at: corpus._decode(data, shard.path, line.offset + at)

    with atomic_output(out_path) as out, TokenArrayWriter(out, dtype, fmt) as writer:
        reads = corpus._reads(shard.path, shard.start, shard.end)
        pending: list = []

        def flush():
            for (offset, block), ids in encode_blocks(
                    tokenizer, pending, lambda item: text_of(item[1], item[0]),
                    bos_id=1 if bos else None, eos_id=2 if eos else None, dtype=dtype):
                writer.write(ids)
            pending.clear()

        for offset, block in split_blocks(reads, shard.path, BLOCK_BYTES, True):
            offset += shard.start
            if isinstance(block, LongLine):
                flush()
                block.offset = offset
                if bos:
                    writer.write(np.array([1], dtype))
                for ids in long_line_ids(tokenizer, block, decode(block)):
                    if isinstance(ids, np.ndarray):
                        writer.write(ids)
                if eos:
                    writer.write(np.array([2], dtype))
                documents += 1
                n_bytes += block.length
                continue
            documents += block.count(b"\n") + (not block.endswith(b"\n"))
            n_bytes += len(block)
            pending.append((offset, block))
            flush()
    return documents, writer.length, n_bytes


_TOKENIZER: dict = {}


def _tokenizer(model: tuple):
    """The tokenizer of a shared model, built once per worker process."""
    from .tokenizer import Tokenizer

    token, raw = model
    if token not in _TOKENIZER:
        _TOKENIZER.clear()
        _TOKENIZER[token] = Tokenizer(json.loads(raw))
    return _TOKENIZER[token]
