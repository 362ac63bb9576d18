"""What a model's vocabulary holds, as data (``bytepiece inspect``).

Sizes, a histogram of piece lengths, the longest and the most frequent
pieces, and how the pieces split by script. A BytePiece model file records
pieces and counts only, never the settings it was trained with; the report
says so and gives what the pieces themselves tell about those settings.

>>> from bytepiece.model import Model
>>> counts = {bytes([b]): 1 for b in range(256)}
>>> counts.update({b"ab": 9, "中文".encode(): 5, b"12": 4, b", ": 3, b"\\xe4\\xb8": 2})
>>> report = vocab_report(Model.from_counts(counts), top=2)
>>> report["vocab_size"], report["length_histogram"]
(264, {1: 256, 2: 4, 6: 1})
>>> [p["piece"] for p in report["most_frequent"]], report["longest"][0]["piece"]
(['ab', '中文'], '中文')
>>> report["scripts"]["CJK"]["pieces"], report["scripts"]["partial UTF-8"]["pieces"]
(1, 129)
"""

from __future__ import annotations

import unicodedata

import numpy as np

from .model import N_SPECIAL, Model

SCRIPTS = ("CJK", "Latin", "digits", "punctuation and space", "other or mixed",
           "partial UTF-8")
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
#: Code point ranges counted as CJK: Han ideographs (with extensions and
#: compatibility forms), kana, Hangul, bopomofo, and CJK radicals and strokes.
_CJK_RANGES = ((0x2E80, 0x2FDF), (0x3005, 0x3007), (0x3021, 0x3029), (0x3038, 0x303B),
               (0x3040, 0x30FF), (0x3100, 0x312F), (0x3130, 0x318F), (0x31A0, 0x31FF),
               (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
               (0xF900, 0xFAFF), (0xFF66, 0xFFDC), (0x1100, 0x11FF), (0x20000, 0x3FFFF))


def show_piece(piece: bytes) -> str:
    """A piece as text where it is UTF-8, bytes that are not as ``\\xHH``; backslash,
    newline, tab, CR and other unprintable characters escaped (spaces stay).

    >>> show_piece(" the".encode()), show_piece(b"\\xe4\\xb8"), show_piece("中\\n".encode())
    (' the', '\\\\xe4\\\\xb8', '中\\\\n')
    """
    out = []
    for c in piece.decode("utf-8", "surrogateescape"):
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif "\udc80" <= c <= "\udcff":
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif not c.isprintable() and c != " ":
            out.append(f"\\x{ord(c):02x}" if ord(c) < 256 else
                       f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return "".join(out)


def char_class(c: str) -> str | None:
    """The script class of one character: "CJK", "Latin", "digits", "punctuation and
    space", "other", or None for a combining mark (which belongs to its base).

    Digits are decimal digits of any script (category Nd); punctuation and space
    are punctuation, symbols, separators and whitespace (categories P*, S*, Z*,
    and tab, newline, CR); Latin is a letter whose Unicode name starts with LATIN.

    >>> [char_class(c) for c in "a中7, é\\u0301ж"]
    ['Latin', 'CJK', 'digits', 'punctuation and space', 'punctuation and space', \
'Latin', None, 'other']
    """
    code = ord(c)
    if any(lo <= code <= hi for lo, hi in _CJK_RANGES):
        return "CJK"
    category = unicodedata.category(c)
    if category == "Nd":
        return "digits"
    if category[0] in "PSZ" or c.isspace():
        return "punctuation and space"
    if category[0] == "M":
        return None
    if category[0] == "L" and unicodedata.name(c, "").startswith("LATIN"):
        return "Latin"
    return "other"


def piece_script(piece: bytes) -> str:
    """The script class of a piece, one of SCRIPTS.

    A piece that is not valid UTF-8 (a byte of a character, or a piece that starts
    or ends inside one) is "partial UTF-8". Otherwise its characters are classed
    by ``char_class``; punctuation and space (and combining marks) go with
    whatever else the piece holds, so " the" is Latin and "，" punctuation. The
    piece is CJK, Latin or digits when all its other characters are of that
    one class, punctuation and space when it holds nothing else, and "other or
    mixed" otherwise (other scripts, controls, or several classes).

    >>> [piece_script(p.encode()) for p in (" the", "中文。", "2024", ", ", "a1", "жы")]
    ['Latin', 'CJK', 'digits', 'punctuation and space', 'other or mixed', 'other or mixed']
    >>> piece_script(b"\\xe4")
    'partial UTF-8'
    """
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError:
        return "partial UTF-8"
    classes = {char_class(c) for c in text} - {None}
    letters = classes - {"punctuation and space"}
    if not letters:
        return "punctuation and space" if classes else "other or mixed"
    if len(letters) == 1 and letters <= {"CJK", "Latin", "digits"}:
        return letters.pop()
    return "other or mixed"


def vocab_report(model: Model, top: int = 20) -> dict:
    """The report of ``model`` as plain data (JSON-ready); see the module docstring.

    Keys: ``vocab_size`` (ids, every special token included), ``pieces``,
    ``format_version`` (2 with user special tokens), ``user_special_tokens`` ({text: id}),
    ``length_histogram`` ({bytes: pieces}), ``longest`` and ``most_frequent``
    (``top`` pieces each, as {"id", "piece", "hex", "bytes", "count"}), ``scripts``
    ({class: {"pieces", "count_share"}}, the share of all counts the class's
    pieces hold), ``training_settings`` (None: not recorded) and ``hints``.
    """
    pieces = model.pieces
    counts = model.counts
    lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
    histogram = {int(k): int(v) for k, v in zip(*np.unique(lengths, return_counts=True))}
    # longest: by length, then id; most frequent: by count, then id
    longest = sorted(range(len(pieces)), key=lambda i: (-lengths[i], i))[:top]
    frequent = np.lexsort((np.arange(len(pieces)), -counts))[:top].tolist()
    total = int(counts.sum(dtype=object)) or 1
    scripts = {name: {"pieces": 0, "count": 0} for name in SCRIPTS}
    for piece, count in zip(pieces, counts.tolist()):
        entry = scripts[piece_script(piece)]
        entry["pieces"] += 1
        entry["count"] += count
    multi = counts[lengths > 1]
    return {
        "source": model.source,
        "vocab_size": len(pieces) + N_SPECIAL + len(model.special_tokens),
        "pieces": len(pieces),
        "special_tokens": N_SPECIAL,
        "format_version": model.format_version,
        "user_special_tokens": {t: len(pieces) + N_SPECIAL + k
                                for k, t in enumerate(model.special_tokens)},
        "length_histogram": histogram,
        "longest": [_entry(model, i) for i in longest],
        "most_frequent": [_entry(model, i) for i in frequent],
        "scripts": {name: {"pieces": v["pieces"], "count_share": v["count"] / total}
                    for name, v in scripts.items()},
        "training_settings": None,
        "hints": {
            "longest_piece_bytes": int(lengths.max()) if len(pieces) else 0,
            "smallest_count_of_a_longer_piece": int(multi.min()) if multi.shape[0] else None,
            "longer_pieces_not_utf8": sum(1 for p in pieces if len(p) > 1 and not _utf8(p)),
        },
    }


def _entry(model: Model, i: int) -> dict:
    piece = model.pieces[i]
    return {"id": i + N_SPECIAL, "piece": show_piece(piece), "hex": piece.hex(),
            "bytes": len(piece), "count": int(model.counts[i])}


def _utf8(piece: bytes) -> bool:
    try:
        piece.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def foreign_report(vocab, top: int = 20) -> dict:
    """The report of another library's vocabulary (a ``foreign_vocab.Vocabulary``).

    The keys of ``vocab_report``, with ``kind`` and ``model_type`` added. Special,
    control, unknown and unused tokens count as special tokens. Unigram models rank
    pieces by probability (``"probability"`` in each entry, exp(score) over the sum of
    the pieces'; 0 for pieces without a score, which are not ranked), and a script's share is its share of that probability; files without
    scores (BPE, WordPiece) list no most frequent pieces, and their shares are None.

    >>> from bytepiece.foreign_vocab import Vocabulary
    >>> v = Vocabulary("sentencepiece", "unigram", [None, b" a", b"\\xe4", b"bc"],
    ...                [0.0, -1.0, None, -2.0], {"vocab_size": 4})
    >>> r = foreign_report(v, top=2)
    >>> r["vocab_size"], r["pieces"], r["special_tokens"], [e["piece"] for e in r["most_frequent"]]
    (4, 3, 1, [' a', 'bc'])
    >>> r["scripts"]["partial UTF-8"]["pieces"], r["training_settings"]
    (1, {'vocab_size': 4})
    """
    ids = [i for i, piece in enumerate(vocab.pieces) if piece is not None]
    pieces = [vocab.pieces[i] for i in ids]
    lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
    histogram = {int(k): int(v) for k, v in zip(*np.unique(lengths, return_counts=True))}
    longest = sorted(range(len(pieces)), key=lambda k: (-lengths[k], ids[k]))[:top]
    probability = None
    if vocab.scores is not None and pieces:
        # pieces without a score (byte fallback) get probability 0 and are not ranked
        scores = np.array([np.nan if vocab.scores[i] is None else vocab.scores[i]
                           for i in ids], np.float64)
        weights = np.nan_to_num(np.exp(scores - np.nanmax(scores)), nan=0.0)
        probability = weights / weights.sum()
    frequent = [] if probability is None else \
        [k for k in np.lexsort((np.array(ids), -probability)).tolist()
         if not np.isnan(scores[k])][:top]
    scripts = {name: {"pieces": 0, "share": 0.0} for name in SCRIPTS}
    for k, piece in enumerate(pieces):
        entry = scripts[piece_script(piece)]
        entry["pieces"] += 1
        if probability is not None:
            entry["share"] += float(probability[k])

    def entry(k: int) -> dict:
        e = {"id": ids[k], "piece": show_piece(pieces[k]), "hex": pieces[k].hex(),
             "bytes": len(pieces[k])}
        if probability is not None:
            e["probability"] = float(probability[k])
        return e

    return {
        "source": None,
        "kind": vocab.kind,
        "model_type": vocab.model_type,
        "vocab_size": len(vocab.pieces),
        "pieces": len(pieces),
        "special_tokens": len(vocab.pieces) - len(pieces),
        "length_histogram": histogram,
        "longest": [entry(k) for k in longest],
        "most_frequent": [entry(k) for k in frequent],
        "scripts": {name: {"pieces": v["pieces"],
                           "count_share": v["share"] if probability is not None else None}
                    for name, v in scripts.items()},
        "training_settings": vocab.settings,
        "hints": None,
    }
