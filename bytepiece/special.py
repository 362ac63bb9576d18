"""User-defined special tokens (``<|im_start|>``, ...): checking them, and splitting text
at the ones a call allows.

A special token is a string with an id after the last piece. Its text is never a piece,
so ordinary text is segmented as if it did not exist; only where a caller allows it
(``allowed_special``) is its text matched whole and given its id. Matching happens
here, in Python, before the kernels: the text between tokens is encoded as ordinary
text, so none of the fast paths changes, and nothing is done when no token is allowed.

In the model file (format 2) a special token is the entry
``base64(utf8(token) + b"\\xff"): [id, token, 0]`` (see ``docs/llm.md``).
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np

from .errors import InputError

#: The names of ids 0..2, which are not text and cannot be user special tokens.
RESERVED = ("<pad>", "<bos>", "<eos>")
#: Appended to a special token's bytes in its model-file key: no UTF-8 text holds 0xFF,
#: so the key is never a piece, and BytePiece 0.6.3 (which loads the entry as a piece
#: of count 0) never matches it in text.
KEY_MARK = b"\xff"
#: The model-file format that holds special tokens (format 1 is BytePiece 0.6.3's).
FORMAT_WITH_SPECIAL = 2


def special_token_problem(token, pieces: set[bytes], taken: Iterable[str]) -> str | None:
    """Why ``token`` cannot be a new special token of a model with ``pieces`` and the
    special tokens ``taken`` (a sentence), or None when it can."""
    if isinstance(token, (bytes, bytearray)):
        try:
            token = bytes(token).decode("utf-8")
        except UnicodeDecodeError:
            return f"special token {bytes(token)!r} is not UTF-8"
    if not isinstance(token, str):
        return f"a special token must be a str, got {type(token).__name__}"
    if not token:
        return "a special token cannot be empty"
    try:
        data = token.encode("utf-8")
    except UnicodeEncodeError:
        return f"special token {token!r} is not UTF-8 (it holds a lone surrogate)"
    if token in RESERVED:
        return f"special token {token!r} is already the name of id {RESERVED.index(token)}"
    if token in taken:
        return f"special token {token!r} is given twice (or is already one)"
    if len(data) == 1:
        return (f"special token {token!r} is a single byte, which every model has as a "
                f"piece; choose a longer text")
    if data in pieces:
        return f"special token {token!r} is a piece of the model; choose a text that is not"
    return None


def check_special_tokens(tokens, pieces: set[bytes], taken: Sequence[str] = ()
                         ) -> tuple[str, ...]:
    """``tokens`` as a tuple of str, or InputError naming the first bad one."""
    if isinstance(tokens, (str, bytes)):
        raise InputError(f"special tokens must be a list of str, got a single "
                         f"{type(tokens).__name__} {tokens!r} (wrap it in a list)")
    try:
        tokens = list(tokens)
    except TypeError:
        raise InputError(f"special tokens must be a list of str, got "
                         f"{type(tokens).__name__}") from None
    out: list[str] = []
    for token in tokens:
        problem = special_token_problem(token, pieces, [*taken, *out])
        if problem is not None:
            raise InputError(problem)
        out.append(token.decode() if isinstance(token, (bytes, bytearray)) else token)
    return tuple(out)


def pattern_of(tokens: Iterable[str]) -> re.Pattern | None:
    """A regular expression matching any of ``tokens``, the longest first at a position
    (an alternation tries its branches in order); None for no tokens."""
    tokens = sorted(set(tokens), key=lambda t: (-len(t), t))
    if not tokens:
        return None
    return re.compile("|".join(map(re.escape, tokens)))


def split_text(text: str, pattern: re.Pattern) -> list[tuple[int, int, str | None]]:
    """``(start, end, token)`` spans covering ``text``: the allowed special tokens
    (``token`` is their text) and the ordinary text between them (``token`` None).

    >>> split_text("a<s>b", re.compile("<s>"))
    [(0, 1, None), (1, 4, '<s>'), (4, 5, None)]
    """
    spans: list[tuple[int, int, str | None]] = []
    pos = 0
    for match in pattern.finditer(text):
        start, end = match.span()
        if start > pos:
            spans.append((pos, start, None))
        spans.append((start, end, match.group()))
        pos = end
    if pos < len(text):
        spans.append((pos, len(text), None))
    return spans


def encode_split(texts: list[str], pattern: re.Pattern, special_ids: dict[str, int],
                 encode_segments, add_bos: bool, add_eos: bool, offsets: bool) -> list:
    """``encode_batch`` of ``texts`` with the special tokens ``pattern`` matches.

    Each text is split at the tokens; ``encode_segments(segments)`` encodes all the
    ordinary segments at once (a list of id lists, or of ``(ids, offsets)`` when
    ``offsets``), and each text's ids are put back together, a token's offsets being
    its characters' span and a segment's shifted by where it starts.
    """
    plans = [split_text(text, pattern) for text in texts]
    segments = [text[a:b] for text, plan in zip(texts, plans) for a, b, t in plan if t is None]
    encoded = iter(encode_segments(segments))
    out = []
    for text, plan in zip(texts, plans):
        ids: list[int] = [1] if add_bos else []
        spans: list[np.ndarray] = [np.zeros((1, 2), np.int64)] if add_bos else []
        for start, end, token in plan:
            if token is not None:
                ids.append(special_ids[token])
                if offsets:
                    spans.append(np.array([[start, end]], np.int64))
            elif offsets:
                segment_ids, segment_spans = next(encoded)
                ids += segment_ids
                spans.append(segment_spans + start)
            else:
                ids += next(encoded)
        if add_eos:
            ids.append(2)
            spans.append(np.full((1, 2), len(text), np.int64))
        if offsets:
            out.append((ids, np.concatenate(spans) if spans else np.zeros((0, 2), np.int64)))
        else:
            out.append(ids)
    return out
