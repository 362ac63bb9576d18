"""Text too long to hold: segmented exactly, in memory that does not grow with it.

A line of hundreds of megabytes (no newline in a whole file, say) is one chunk:
segmenting it whole needs ~35 bytes of memory per byte. ``LongChunkSegmenter``
takes it in pieces instead and returns the ids as soon as they are decided.

Why the ids are the same as segmenting the chunk whole: the forward pass is the
kernel's, step for step, on the same absolute float64 scores; only the
back-pointers and scores of a window are kept. Every piece is at most
``max_piece`` bytes long, so the final path goes through one of the last
``max_piece`` positions whose pointers are final, whatever follows. When the
paths back from all of those positions meet at a position, the final path goes
through it too, and the ids up to it can no longer change: they are returned
and the window moves there. Paths meet within a few pieces in text; a stretch
where they never do (``"aaaa..."`` when ``"aa"`` is a piece: the parity of the
end decides where the odd ``"a"`` goes, at the very start) is the one case a
bounded window cannot follow: past ``window`` bytes the window is cut on the
current best path (``forced_cuts`` counts it; the ids stay a segmentation of
the text, possibly not the best one).

``iter_nfc`` and ``iter_utf8`` cut decoding and NFC the same way, at places
where the result provably cannot depend on what follows.
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Callable, Iterable, Iterator

import numpy as np

#: Undecided bytes a segmenter holds at most before it forces a cut (~25 bytes each).
WINDOW_BYTES = 1 << 22
#: Bytes added to the window at a time.
FEED_BYTES = 1 << 20
#: Characters the NFC step holds at most while it waits for a place to cut.
NFC_CARRY_CHARS = 1 << 20


class LongChunkSegmenter:
    """The ids of one chunk (text with no newline but at its end) fed in pieces.

    ``feed`` returns the ids decided so far, ``finish`` the rest: together, the
    ids ``Tokenizer.encode_buffer`` gives for the whole chunk with the same
    ``alpha`` and ``seed`` (``offset``: the chunk's position, for sampling).
    Memory: the bytes fed and not yet segmented, plus ~25 bytes per undecided
    position, at most ``window`` of them.
    """

    def __init__(self, trie, max_piece: int, alpha: float = -1.0, seed: int = 0,
                 offset: int = 0, window: int = WINDOW_BYTES) -> None:
        self.trie = trie
        self.max_piece = max(1, int(max_piece))
        self.alpha = float(alpha)
        self.seed = np.uint64(seed)
        self.offset = np.uint64(offset)
        self.window = max(int(window), 4 * self.max_piece)
        #: cuts forced because the paths did not meet within ``window`` bytes
        self.forced_cuts = 0
        self.base = 0        # absolute position of window index 0: on every final path
        self.done = 0        # absolute position up to which starts are processed
        self.buf = np.empty(0, np.uint8)  # bytes from ``base`` on
        self.scores = np.zeros(1, np.float64)
        self.routes = np.zeros(1, np.uint64)
        self.route_nodes = np.zeros(1, np.uint64)
        self._finished = False

    @classmethod
    def of(cls, tokenizer, alpha: float = -1.0, window: int = WINDOW_BYTES
           ) -> "LongChunkSegmenter":
        """A segmenter with a tokenizer's pieces, drawing a seed from it when sampling."""
        longest = max(map(len, tokenizer._id_to_bytes))
        return cls(tokenizer._trie, longest, alpha, tokenizer._draw_seed(float(alpha)),
                   window=window)

    def feed(self, data: bytes) -> np.ndarray:
        """Append bytes of the chunk; the int32 ids decided by them (maybe none)."""
        if self._finished:
            raise ValueError("finish() was called already")
        parts = []
        for start in range(0, len(data), FEED_BYTES):  # a bounded window per step
            self._append(np.frombuffer(data[start:start + FEED_BYTES], np.uint8))
            end = self.base + self.buf.shape[0]
            self._forward(max(self.done, end - self.max_piece))
            parts.append(self._commit(final=False))
        return np.concatenate(parts) if parts else np.empty(0, np.int32)

    def finish(self) -> np.ndarray:
        """The remaining ids: the chunk ends here."""
        if self._finished:
            return np.empty(0, np.int32)
        self._finished = True
        self._forward(self.base + self.buf.shape[0])
        return self._commit(final=True)

    # -- internals -------------------------------------------------------------

    def _append(self, new: np.ndarray) -> None:
        """Add bytes to the window; their positions start with no path (-inf)."""
        self.buf = np.concatenate([self.buf, new])
        grow = new.shape[0]
        self.scores = np.concatenate([self.scores, np.full(grow, -np.inf)])
        self.routes = np.concatenate([self.routes, np.zeros(grow, np.uint64)])
        self.route_nodes = np.concatenate([self.route_nodes, np.zeros(grow, np.uint64)])

    def _forward(self, until: int) -> None:
        """Process every start position below ``until`` (absolute)."""
        from ._kernels.stream import forward_best, forward_sample

        if until <= self.done:
            return
        trie = self.trie
        s0, s1, base = np.uint64(self.done - self.base), np.uint64(until - self.base), \
            np.uint64(self.base)
        if self.alpha < 0:
            forward_best(self.buf, s0, s1, trie.nodes, trie.logp, trie.pair, self.scores,
                         self.routes, self.route_nodes, base)
        else:
            forward_sample(self.buf, s0, s1, trie.nodes, trie.logp, self.alpha, self.seed,
                           self.offset, self.scores, self.routes, self.route_nodes, base)
        self.done = until

    def _commit(self, final: bool) -> np.ndarray:
        """Return the ids that are decided, and move the window past them."""
        from ._kernels.stream import backtrack, common_ancestor, path_through

        base, done = self.base, self.done
        if final:
            meet = done  # the end of the chunk: its path is the answer
        else:
            lo = max(base, done - self.max_piece + 1) - base
            meet = int(common_ancestor(self.routes, np.int64(lo), np.int64(done - base),
                                       np.int64(base))) if done > base else base
            if done - meet > self.window:
                # no meeting point in a whole window: cut on the best path to `done`
                meet = int(path_through(self.routes, np.int64(base), np.int64(base),
                                        np.int64(done), np.int64(done - self.window // 2)))
                self.forced_cuts += 1
                self._restart_at(meet)
        if meet == base:
            return np.empty(0, np.int32)
        ids = backtrack(self.routes, self.route_nodes, self.trie.value, np.int64(base),
                        np.int64(base), np.int64(meet))
        self._move(meet)
        return ids

    def _restart_at(self, cut: int) -> None:
        """Make ``cut`` a boundary of every path: redo the forward pass from it."""
        k = cut - self.base
        self.scores[k + 1:] = -np.inf
        self.done, end = cut, self.done
        self._forward(end)

    def _move(self, new_base: int) -> None:
        k = new_base - self.base
        self.buf = self.buf[k:].copy()
        self.scores = self.scores[k:].copy()
        self.routes = self.routes[k:].copy()
        self.route_nodes = self.route_nodes[k:].copy()
        self.base = new_base


def iter_utf8(blocks: Iterable[bytes], decode: Callable[[bytes, int], str]) -> Iterator[str]:
    """Decode a stream of byte blocks with ``decode(data, offset)``, cut between
    characters: a block ends before its last lead byte, whose sequence may go on
    in the next block. No sequence, valid or not, reaches past a byte that is not
    a continuation byte, so each error mode gives what it gives on the whole."""
    carry = b""
    offset = 0
    for block in blocks:
        data = carry + block if carry else block
        cut = len(data)
        for k in range(len(data) - 1, max(-1, len(data) - 5), -1):
            if not 0x80 <= data[k] < 0xC0:  # ASCII or a lead byte: a sequence starts here
                cut = k if data[k] >= 0x80 else k + 1
                break
        if cut:
            yield decode(data[:cut], offset)
            offset += cut
        carry = data[cut:]
    if carry:
        yield decode(carry, offset)


def iter_nfc(texts: Iterable[str], max_carry: int = NFC_CARRY_CHARS) -> Iterator[str]:
    """NFC of the concatenation of ``texts``, in pieces: each piece ends before a
    character that nothing before it can combine with (``stable_before``), so
    NFC of the pieces joined is NFC of the whole. A run of ``max_carry``
    characters with no such place (combining marks only) is normalized as it is."""
    carry = ""
    for text in texts:
        data = carry + text if carry else text
        cut = _last_stable(data)
        if cut <= 0 and len(data) > max_carry:
            cut = len(data)
        if cut > 0:
            yield unicodedata.normalize("NFC", data[:cut])
        carry = data[max(cut, 0):]
    if carry:
        yield unicodedata.normalize("NFC", carry)


def _last_stable(text: str) -> int:
    """Index of the last character of ``text`` that ``stable_before`` holds for, or -1."""
    for k in range(len(text) - 1, -1, -1):
        if stable_before(text[k]):
            return k
    return -1


@functools.lru_cache(maxsize=4096)
def stable_before(char: str) -> bool:
    """True when NFC never joins ``char`` to what precedes it: NFC(a + b) is
    NFC(a) + NFC(b) for any a when b starts with it.

    It must be a starter (combining class 0, so canonical reordering stops at
    it and it blocks composition across it), without a canonical decomposition
    (whose first character could join what precedes), and never the second
    character of a canonical composition (as U+0301 or the Hangul vowel and
    final jamo are). ASCII and Hangul syllables are, and most other letters.
    """
    if char < "\x80" or "\uac00" <= char <= "\ud7a3":  # Hangul syllables: composed, and
        return True  # only vowel and final jamo join what precedes them
    return (unicodedata.combining(char) == 0
            and unicodedata.normalize("NFC", char) == char
            and unicodedata.normalize("NFD", char)[0] == char
            and char not in _second_of_composition())


@functools.lru_cache(maxsize=1)
def _second_of_composition() -> frozenset[str]:
    """Characters that canonical composition can join to a preceding character."""
    seconds = {chr(c) for c in range(0x1161, 0x1176)} | {chr(c) for c in range(0x11A8, 0x11C3)}
    for code in range(0x80, 0x110000):
        decomposition = unicodedata.decomposition(chr(code))
        if decomposition and not decomposition.startswith("<"):
            parts = decomposition.split()
            if len(parts) == 2:
                seconds.add(chr(int(parts[1], 16)))
    return frozenset(seconds)


def long_line_ids(tokenizer, line, decode: Callable[[bytes, int], str], alpha: float = -1.0,
                  window: int | None = None):
    """The int32 ids of a ``blocks.LongLine`` in parts, as encoding the line whole gives
    them, in bounded memory; ``decode(data, offset in the line)`` makes its text. The
    segmenter comes last, so a caller can read its ``forced_cuts`` (the window was cut
    where the segmentation was still undecided)."""
    segmenter = LongChunkSegmenter.of(tokenizer, alpha, window or WINDOW_BYTES)
    for text in iter_nfc(iter_utf8(line.pieces(), decode)):
        ids = segmenter.feed(text.encode())
        if ids.shape[0]:
            yield ids
    yield segmenter.finish()
    yield segmenter
