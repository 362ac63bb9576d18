"""Text normalization shared by encoding and training: NFC and chunking.

BytePiece segments NFC text chunk by chunk, a chunk being a line with its run
of newlines (``.*\\n+|.+``). Encoding does the chunking inside the kernel, over
bytes; the regular expressions here are the reference for tests and training.
"""

import re
import unicodedata

#: The chunks a text is segmented in when encoding (as in BytePiece 0.6.3).
ENCODE_CHUNK = re.compile(r".*\n+|.+")


def nfc(text: str) -> str:
    """Return the NFC form of ``text`` (cheap when it is already NFC)."""
    return unicodedata.normalize("NFC", text)


def encode_chunks(text: str) -> list[str]:
    """Split NFC ``text`` into the chunks the encoder segments independently.

    >>> encode_chunks("ab\\n\\ncd")
    ['ab\\n\\n', 'cd']
    """
    return ENCODE_CHUNK.findall(text)
