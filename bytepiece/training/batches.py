"""Texts into the batches the counting kernels take, with a progress bar over the corpus."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator

import numpy as np

from ..chunking import pack_chunks


def batches(texts: Iterable[str], isolate_digits: bool, batch_chars: int, skip: int = 0,
            progress: "Progress | None" = None) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(buf, ends, texts so far) for the training chunks of ~batch_chars characters at a
    time, after skipping the first ``skip`` texts (those counted by a resumed run)."""
    batch: list[str] = []
    size = 0
    seen = 0
    for text in texts:
        seen += 1
        if seen <= skip:
            if progress is not None and seen % 1024 == 0:
                progress.update(0)
            continue
        batch.append(text)
        size += len(text)
        if size >= batch_chars:
            buf, ends, _ = pack_chunks(batch, isolate_digits)
            yield buf, ends, seen
            if progress is not None:
                progress.update(len(buf))
            batch, size = [], 0
    if batch:
        buf, ends, _ = pack_chunks(batch, isolate_digits)
        yield buf, ends, seen
        if progress is not None:
            progress.update(len(buf))


class Progress:
    """A bar in bytes over the whole corpus when ``texts`` knows its size (a Corpus:
    ``size_bytes`` and ``bytes_read``, bytes on disk), else in bytes of text; shown
    only on a terminal. tqdm gives the throughput and the time left."""

    def __init__(self, desc: str, texts, unit: str = "B"):
        from tqdm import tqdm

        self.texts = texts
        self.on_disk = hasattr(texts, "size_bytes") and hasattr(texts, "bytes_read")
        total = int(texts.size_bytes) if self.on_disk else None
        self.bar = tqdm(desc=desc, total=total, unit=unit, unit_scale=unit == "B",
                        disable=not _interactive(),
                        file=sys.stderr, leave=False, dynamic_ncols=True)

    def update(self, text_bytes: int) -> None:
        if self.on_disk:
            self.bar.update(max(0, int(self.texts.bytes_read) - self.bar.n))
        else:
            self.bar.update(text_bytes)

    def close(self) -> None:
        self.bar.close()


def _interactive() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
