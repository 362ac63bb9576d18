"""Texts into the batches the counting kernels take, with a progress bar over the corpus."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator

import numpy as np

from ..blocks import split_lines
from ..chunking import pack_runs


def batches(texts: Iterable[str], isolate_digits: bool, batch_chars: int, skip: int = 0,
            progress: "Progress | None" = None) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(buf, ends, texts so far) for the training chunks of ~batch_chars characters at a
    time, after skipping the first ``skip`` texts (those counted by a resumed run).

    Texts that come in runs of lines (``runs()``: a Corpus, a shard of one) are cut
    into batches at line ends and packed in bulk (``chunking.pack_runs``)."""
    runs = texts.runs() if hasattr(texts, "runs") else ((text, 1) for text in texts)
    batch: list[str] = []
    counts: list[int] = []
    size = 0
    seen = 0
    for text, count in runs:
        if seen + count <= skip:
            seen += count
            if progress is not None:
                progress.update(0)
            continue
        if seen < skip:  # a run the resumed run counted in part
            lines = split_lines(text)[skip - seen:]
            text, count, seen = "".join(lines), len(lines), skip
        start = 0
        while count > 1 and size + len(text) - start > batch_chars:
            # the run's lines up to about the batch's end go in this batch
            cut = text.rfind("\n", start, start + max(batch_chars - size, 1)) + 1
            if cut == 0:  # its next line is longer than the batch's room
                cut = text.find("\n", start) + 1
            head = text[start:cut]
            lines = head.count("\n")
            batch.append(head)
            counts.append(lines)
            count -= lines
            seen += lines
            start = cut
            yield _pack(batch, counts, isolate_digits, seen, progress)
            batch, counts, size = [], [], 0
        if start:
            text = text[start:]
        if not text:
            continue
        seen += count
        batch.append(text)
        counts.append(count)
        size += len(text)
        if size >= batch_chars:
            yield _pack(batch, counts, isolate_digits, seen, progress)
            batch, counts, size = [], [], 0
    if batch:
        yield _pack(batch, counts, isolate_digits, seen, progress)


def _pack(batch: list[str], counts: list[int], isolate_digits: bool, seen: int,
          progress: "Progress | None") -> tuple[np.ndarray, np.ndarray, int]:
    buf, ends, _ = pack_runs(batch, counts, isolate_digits)
    if progress is not None:
        progress.update(len(buf))
    return buf, ends, seen


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
