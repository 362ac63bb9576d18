"""Lines of decimal ids in and out, without a Python object per id.

``bytepiece encode`` writes a line of ids per input line and ``bytepiece
decode`` reads them back; at tens of millions of ids per second, formatting
and parsing in Python would cost more than the segmentation itself.
"""

import numpy as np

from ._jit import inner, kernel

_SPACE = 32
_NEWLINE = 10
_ZERO = 48


@inner
def _write_int(out, pos, value):
    """Write ``value`` (>= 0) in decimal at out[pos:], return the new position."""
    if value == 0:
        out[pos] = _ZERO
        return pos + 1
    n = 0
    v = value
    while v > 0:
        v //= 10
        n += 1
    end = pos + n
    v = value
    for k in range(end - 1, pos - 1, -1):
        out[k] = _ZERO + v % 10
        v //= 10
    return end


@kernel
def format_id_lines(ids, token_ends, bos, eos):
    """Render each text's ids as one line of space-separated decimals.

    ids: int32 ids of all texts; token_ends: int64 cumulative id counts per
    text; bos/eos: an id written first/last on every line, or -1 for none.
    Returns the uint8 bytes of all lines, each ending with a newline.
    """
    n_texts = token_ends.shape[0]
    out = np.empty(11 * ids.shape[0] + 24 * n_texts, np.uint8)
    pos = np.int64(0)  # int64 positions and values: one specialization of _write_int
    start = 0
    for t in range(n_texts):
        first = True
        if bos >= 0:
            pos = _write_int(out, pos, bos)
            first = False
        for k in range(start, token_ends[t]):
            if not first:
                out[pos] = _SPACE
                pos += 1
            pos = _write_int(out, pos, np.int64(ids[k]))
            first = False
        if eos >= 0:
            if not first:
                out[pos] = _SPACE
                pos += 1
            pos = _write_int(out, pos, eos)
        out[pos] = _NEWLINE
        pos += 1
        start = token_ends[t]
    return out[:pos]


@kernel
def parse_id_lines(buf, max_id):
    """Parse lines of decimal ids separated by spaces or tabs.

    Returns ``(ids, line_ends, bad)``: int64 ids, int64 cumulative id counts
    per line (a last line without a newline counts as a line), and the byte
    offset of the first invalid token (a non-digit, or an id above
    ``max_id``), or -1 when every token is a valid id.
    """
    n = buf.shape[0]
    ids = np.empty(n // 2 + 1, np.int64)
    line_ends = np.empty(n + 1, np.int64)
    n_ids = 0
    n_lines = 0
    i = 0
    while i < n:
        c = buf[i]
        if c == _NEWLINE:
            line_ends[n_lines] = n_ids
            n_lines += 1
            i += 1
        elif c == _SPACE or c == 9 or c == 13:
            i += 1
        elif _ZERO <= c <= _ZERO + 9:
            start = i
            value = 0
            while i < n and _ZERO <= buf[i] <= _ZERO + 9:
                if value <= max_id:
                    value = value * 10 + (buf[i] - _ZERO)
                i += 1
            if value > max_id or (i < n and buf[i] != _SPACE and buf[i] != 9
                                  and buf[i] != 13 and buf[i] != _NEWLINE):
                return ids[:n_ids], line_ends[:n_lines], start
            ids[n_ids] = value
            n_ids += 1
        else:
            return ids[:n_ids], line_ends[:n_lines], i
    if n > 0 and buf[n - 1] != _NEWLINE:
        line_ends[n_lines] = n_ids
        n_lines += 1
    return ids[:n_ids], line_ends[:n_lines], -1


@kernel
def gather_pieces(ids, data, offsets):
    """Concatenate the bytes of pieces: piece ``i`` is data[offsets[i]:offsets[i+1]].

    ids must already be checked to lie in 0..len(offsets)-2.
    """
    total = 0
    for k in range(ids.shape[0]):
        i = ids[k]
        total += offsets[i + 1] - offsets[i]
    out = np.empty(total, np.uint8)
    pos = 0
    for k in range(ids.shape[0]):
        i = ids[k]
        for j in range(offsets[i], offsets[i + 1]):
            out[pos] = data[j]
            pos += 1
    return out


@kernel
def char_to_byte_ends(buf, char_ends):
    """Byte offsets in UTF-8 ``buf`` of the character offsets ``char_ends`` (ascending).

    Lets many texts be joined and encoded to UTF-8 in one call, their
    boundaries found afterwards: a character starts at every byte that is not
    a continuation byte (0x80-0xBF).
    """
    out = np.empty(char_ends.shape[0], np.int64)
    chars = 0
    pos = 0
    n = buf.shape[0]
    for t in range(char_ends.shape[0]):
        target = char_ends[t]
        while chars < target:
            pos += 1
            while pos < n and (buf[pos] & 0xC0) == 0x80:
                pos += 1
            chars += 1
        out[t] = pos
    return out
