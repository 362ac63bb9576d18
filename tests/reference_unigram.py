"""Slow, obviously-correct versions of the unigram training steps, for the tests.

Each works on Python bytes and dicts by brute force: every substring counted,
every segmentation enumerated. Only for inputs of a few dozen bytes.
"""

from __future__ import annotations

import math
from collections import Counter


def _starts_char(text: bytes, i: int) -> bool:
    return i == len(text) or (text[i] & 0xC0) != 0x80


def repeated_substrings(texts: list[bytes], depth: int, ensure_unicode: bool
                        ) -> dict[bytes, int]:
    """{substring: occurrences} of the substrings of 2..``depth`` bytes (at character
    boundaries with ``ensure_unicode``) that occur twice or more and are right-maximal:
    followed by two different next characters, or ending a text once, or unable to
    grow by one character within ``depth`` bytes."""
    counts: Counter = Counter()
    follows: dict[bytes, set] = {}
    for text in texts:
        for i in range(len(text)):
            if ensure_unicode and not _starts_char(text, i):
                continue
            for j in range(i + 2, min(len(text), i + depth) + 1):
                if ensure_unicode and not _starts_char(text, j):
                    continue
                sub = text[i:j]
                counts[sub] += 1
                k = j + 1
                while ensure_unicode and k < len(text) and not _starts_char(text, k):
                    k += 1
                follows.setdefault(sub, set()).add(text[j:k] if j < len(text) else None)
    out = {}
    for sub, n in counts.items():
        nxt = follows[sub]
        if n >= 2 and (len(nxt) >= 2 or None in nxt or
                       any(len(sub) + len(x) > depth for x in nxt)):
            out[sub] = n
    return out


def segmentations(text: bytes, pieces: set[bytes]):
    """Every segmentation of ``text`` into ``pieces``, as lists of pieces."""
    if not text:
        yield []
        return
    for j in range(1, len(text) + 1):
        if text[:j] in pieces:
            for rest in segmentations(text[j:], pieces):
                yield [text[:j], *rest]


def expected_counts(texts: list[bytes], prob: dict[bytes, float]
                    ) -> tuple[dict[bytes, float], float]:
    """({piece: expected uses}, log-likelihood) of ``texts`` under the unigram model
    ``prob``: each segmentation weighted by the product of its pieces' probabilities."""
    live = {p for p, q in prob.items() if q > 0}
    totals: Counter = Counter()
    likelihood = 0.0
    for text in texts:
        weighted = [(math.prod(prob[p] for p in seg), seg)
                    for seg in segmentations(text, live)]
        z = sum(w for w, _ in weighted)
        likelihood += math.log(z)
        for w, seg in weighted:
            for p in seg:
                totals[p] += w / z
    return dict(totals), likelihood


def best_without_itself(piece: bytes, logp: dict[bytes, float]) -> float:
    """The log-probability of the best segmentation of ``piece`` into other live pieces;
    -inf for a single byte."""
    if len(piece) < 2:
        return -math.inf
    live = {p for p in logp if p != piece}
    return max((sum(logp[p] for p in seg) for seg in segmentations(piece, live)),
               default=-math.inf)


def em_step(texts: list[bytes], counts: dict[bytes, float], floor: int
            ) -> dict[bytes, float]:
    """One EM iteration as ``training.unigram.reestimate`` does it: expected counts under
    the model of ``counts``; pieces expected under half a time dropped unless fewer than
    ``floor`` would remain (the most expected of them kept, ties by their order in
    ``counts``); single bytes always kept; counts at least 0.5."""
    total = sum(counts.values())
    expected, _ = expected_counts(texts, {p: c / total for p, c in counts.items()})
    order = list(counts)
    new = {p: expected.get(p, 0.0) for p in order}
    keep = {p for p in order if new[p] >= 0.5 or len(p) == 1}
    rest = sorted((p for p in order if p not in keep), key=lambda p: (-new[p], order.index(p)))
    keep |= set(rest[:max(0, floor - len(keep))])
    return {p: max(new[p], 0.5) for p in order if p in keep}


def prune(counts: dict[bytes, float], keep: int, by: str) -> dict[bytes, float]:
    """The ``keep`` pieces of ``counts`` ranked first by probability or by the
    log-likelihood lost without them (single bytes first), ties by order."""
    order = list(counts)
    total = sum(counts.values())
    logp = {p: math.log(c / total) for p, c in counts.items()}

    def score(p):
        if len(p) == 1:
            return math.inf
        if by == "probability":
            return counts[p]
        return counts[p] * (logp[p] - best_without_itself(p, logp))

    ranked = sorted(order, key=lambda p: (-score(p), order.index(p)))[:keep]
    return {p: counts[p] for p in order if p in set(ranked)}
