"""``bytepiece encode``: text to a line of ids (or pieces) per input line, streaming."""

from __future__ import annotations

import itertools
import os

import click

from ._common import (FINITE_FLOAT, LongLine, check_output, compile_ahead, decode_text,
                      input_size, load_tokenizer, long_line_ids, open_output, progress,
                      read_blocks)

_ESCAPES = {"\\": "\\\\", " ": "\\s", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
#: How --format pieces writes the special tokens (ids 0, 1, 2).
SPECIAL_PIECES = ("<pad>", "<bos>", "<eos>")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", required=True, metavar="MODEL", help="BytePiece model file (JSON).")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@click.option("--format", "fmt", type=click.Choice(["ids", "pieces", "jsonl", "bin", "npy"]),
              default="ids", show_default=True,
              help="ids: space-separated ids; pieces: escaped pieces; "
              'jsonl: {"ids": [...]} per line; bin, npy: one flat array of all the ids '
              "(uint16, or uint32 past 65536 ids), raw or as a NumPy .npy file.")
@click.option("--bos", is_flag=True, help="Start every line with <bos> (id 1).")
@click.option("--eos", is_flag=True, help="End every line with <eos> (id 2).")
@click.option("--alpha", type=FINITE_FLOAT, default=-1.0, show_default=True,
              help="Negative: best segmentation; >= 0: sample with probability ∝ p^alpha.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed for sampling (only with --alpha >= 0).")
@click.option("-o", "--output", metavar="FILE", default=None,
              help="Write here (atomically) instead of stdout.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads to encode with [default: every core].")
@click.option("--errors", type=click.Choice(["strict", "replace", "ignore"]), default="strict",
              show_default=True, help="What to do with bytes that are not UTF-8.")
@click.option("--jsonl-field", metavar="NAME", default=None,
              help="Read JSON Lines files (plain or compressed): every line's field NAME is "
                   "a document, encoded into one output line (or, in an array, one text "
                   "between --bos and --eos).")
@click.option("--offsets", is_flag=True,
              help='With --format jsonl: add "offsets", each token\'s [start, end] characters '
                   "in its line as read (before NFC).")
@click.option("--special", metavar="all|none|TOKEN,...", default="none", show_default=True,
              help="The model's special tokens read in the text: all, none (their text is "
                   "ordinary text, as in BytePiece), or a comma-separated list. An allowed "
                   "token's text is matched whole, the longest first. With it, a line is "
                   "read whole, as with --offsets.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr (--format bin, npy).")
@click.option("--cluster", metavar="URL", default=None,
              help="Encode on a Dask or Ray cluster (URLs as for train): with --format bin|npy "
                   "and -o OUT_DIR, the workers write one array per shard of the FILEs, "
                   "and OUT_DIR/index.tsv lists them (shard, documents, tokens, bytes).")
def command(model, files, fmt, bos, eos, alpha, seed, output, threads, errors, jsonl_field,
            offsets, special, quiet, cluster):
    """Encode FILEs (or stdin) into one line of ids per input line.

    Every line keeps its newline, so decoding the output gives back the NFC
    text exactly, blank lines and a last line without a newline included.
    Files may be plain text, .gz or .zst; with --jsonl-field, JSON Lines.

    \b
    Examples:
      echo "Hello world" | bytepiece encode -m model.json
      bytepiece encode -m model.json --format pieces corpus.txt
      bytepiece encode -m model.json corpus.txt | bytepiece decode -m model.json
      bytepiece encode -m model.json --format npy --eos -o tokens.npy corpus.txt
      bytepiece encode -m model.json --format bin --bos --eos --threads 4 -q -o t.bin corpus.txt
      bytepiece encode -m model.json --alpha 0.1 --seed 7 corpus.txt     # sampled
      bytepiece encode -m model.json --errors replace scraped.txt
      bytepiece encode -m model.json --jsonl-field text --format npy --eos -o t.npy a.jsonl.zst
      bytepiece encode -m model.json --format npy -o tokens/ --cluster tcp://head:8786 data/
      bytepiece encode -m model.json --format jsonl --offsets corpus.txt
      bytepiece encode -m chat.json --special all --format npy -o chat.npy chat.txt
      bytepiece encode -m chat.json --special '<|im_start|>,<|im_end|>' chat.txt
    """
    if offsets and fmt != "jsonl":
        raise click.UsageError(f"--offsets goes with --format jsonl (offsets are written "
                               f"beside the ids), not --format {fmt}")
    if cluster is not None:
        from ._encode_cluster import encode_on_cluster

        if jsonl_field is not None:
            raise click.UsageError("--cluster encodes lines of text: --jsonl-field is not "
                                   "supported with it")
        if special != "none":
            raise click.UsageError("--cluster encodes without special tokens: --special is "
                                   "not supported with it")
        return encode_on_cluster(model, files, fmt, output, bos, eos, alpha, errors, cluster,
                                 quiet)
    if seed is not None and alpha < 0:
        raise click.UsageError("--seed goes with --alpha (sampling); without it the best "
                               "segmentation is taken and there is nothing to seed")
    documents = _documents(files, jsonl_field, errors) if jsonl_field is not None else None
    inputs = documents.paths if documents is not None else files
    check_output(output, [model, *inputs])
    if fmt == "ids" and alpha < 0 and not offsets and documents is None and special == "none":
        from ._encode_small import encode_small

        if encode_small(model, files, output, bos, eos, errors):
            return
    from bytepiece.small import SMALL_BUDGET

    size = documents.size_bytes if documents is not None else input_size(files)
    if size is not None and size > SMALL_BUDGET:  # it gets to the kernels: compile ahead
        kernels = _kernels(alpha >= 0, fmt, offsets or special != "none")
        # the segmentation is the slowest to compile, and needed right after the model's
        # automaton: compiled here at once, while the child compiles the automaton's
        # (before numpy is imported here: the child starts sooner)
        segment = "viterbi.segment" if alpha >= 0 else "best_path.segment_chunks"
        click.get_current_context().with_resource(compile_ahead(kernels, model, segment))
    import numpy as np

    from bytepiece.normalize import nfc
    tokenizer = load_tokenizer(model, seed, "encode")
    threads = threads or os.cpu_count() or 1
    allowed = _allowed_special(tokenizer, special)
    if allowed != "none":
        return _encode_with_special(tokenizer, files, documents, size, fmt, output, bos, eos,
                                    alpha, threads, errors, offsets, allowed, quiet)
    if fmt in ("bin", "npy"):
        from ._encode_array import encode_to_array

        return encode_to_array(tokenizer, files, fmt, output, bos, eos, alpha, threads, errors,
                               documents, quiet)
    pieces = _escaped_pieces(tokenizer) if fmt == "pieces" else None
    bos_id, eos_id = (1 if bos else -1), (2 if eos else -1)

    def write(data: bytes, ends) -> None:
        """Write the output lines of the texts of ``data`` (NFC UTF-8) ending at ``ends``."""
        buf = np.frombuffer(data, np.uint8)
        ids, token_ends = tokenizer.encode_buffer(buf, ends, alpha, num_threads=threads)
        lines = _format_id_lines(ids, token_ends, bos_id, eos_id)
        if fmt == "ids":
            out.write(lines)
        elif fmt == "jsonl":
            out.write(b"".join(b'{"ids": [' + line.replace(b" ", b", ") + b"]}\n"
                               for line in lines.tobytes().split(b"\n")[:-1]))
        else:
            out.write(_piece_lines(ids.tolist(), token_ends.tolist(), pieces, bos, eos))

    if offsets:
        with open_output(output) as out, progress(size, "encode") as bar:
            _write_with_offsets(out, bar, tokenizer, files, documents, bos, eos, alpha,
                                threads, errors)
        return
    with open_output(output) as out, progress(size, "encode") as bar:
        if documents is not None:
            for data, ends in document_batches(documents):
                write(data, ends)
                bar.update(documents.bytes_read - bar.n)
            return
        for name, offset, block in read_blocks(files, long_lines=True):
            if isinstance(block, LongLine):  # too long to hold: streamed, same ids
                _write_long_line(out, long_line_ids(tokenizer, block, errors, alpha), fmt,
                                 pieces, bos, eos)
                bar.update(block.length)
                continue
            data = nfc(decode_text(block, name, offset, errors)).encode()
            write(data, _line_ends(data))
            bar.update(len(block))


def _write_with_offsets(out, bar, tokenizer, files, documents, bos: bool, eos: bool,
                        alpha: float, threads: int, errors: str,
                        allowed_special="none") -> None:
    """``--format jsonl --offsets``: ``{"ids": [...], "offsets": [[s, e], ...]}`` per line
    (or document), the offsets in characters of the line as read, before NFC, as
    ``Tokenizer.encode_batch(..., offsets=True)`` gives them for the line's text. A line
    longer than a block is read whole (its text is needed to count its characters)."""
    import json

    for texts in text_batches(files, documents, errors, bar):
        results = tokenizer.encode_batch(texts, num_threads=threads, add_bos=bos,
                                         add_eos=eos, alpha=alpha, offsets=True,
                                         allowed_special=allowed_special)
        out.write("".join(json.dumps({"ids": ids, "offsets": spans.tolist()}) + "\n"
                          for ids, spans in results).encode())


def text_batches(files, documents, errors: str, bar):
    """Lists of texts to encode one by one: the documents (``--jsonl-field``), or the
    lines of FILEs, each with its newline and read whole; ``bar`` follows the input."""
    if documents is not None:
        batch: list[str] = []
        n = 0
        for text in documents:
            batch.append(text)
            n += len(text)
            if n >= 1 << 22:
                yield batch
                bar.update(documents.bytes_read - bar.n)
                batch, n = [], 0
        yield batch
        bar.update(documents.bytes_read - bar.n)
        return
    for name, offset, block in read_blocks(files):
        parts = decode_text(block, name, offset, errors).split("\n")
        lines = [part + "\n" for part in parts[:-1]]
        if parts[-1]:
            lines.append(parts[-1])
        yield lines
        bar.update(len(block))


def _allowed_special(tokenizer, special: str):
    """``--special`` as ``allowed_special``: "all", "none" or a set of the model's tokens."""
    from bytepiece.errors import InputError

    allowed = special if special in ("all", "none") else set(special.split(","))
    try:
        tokenizer.encode("", allowed_special=allowed)  # checks the tokens
    except InputError as e:
        raise click.BadParameter(str(e), param_hint="'--special'") from None
    return allowed


def _encode_with_special(tokenizer, files, documents, size: int | None, fmt: str, output,
                         bos: bool, eos: bool, alpha: float, threads: int, errors: str,
                         offsets: bool, allowed, quiet: bool) -> None:
    """``encode --special``: every format, the texts encoded by ``Tokenizer.encode_batch``
    with ``allowed_special`` (lines read whole: a token may fall anywhere in one); ``size``:
    the input's bytes for the progress bar."""
    if fmt in ("bin", "npy"):
        from ._encode_array import encode_texts_to_array

        return encode_texts_to_array(
            tokenizer, lambda bar: text_batches(files, documents, errors, bar), fmt, output,
            bos, eos, alpha, threads, allowed, size, quiet)
    with open_output(output) as out, progress(size, "encode") as bar:
        if offsets:
            return _write_with_offsets(out, bar, tokenizer, files, documents, bos, eos, alpha,
                                       threads, errors, allowed)
        pieces = _escaped_pieces(tokenizer) if fmt == "pieces" else None
        for texts in text_batches(files, documents, errors, bar):
            results = tokenizer.encode_batch(texts, num_threads=threads, add_bos=bos,
                                             add_eos=eos, alpha=alpha, allowed_special=allowed)
            if fmt == "pieces":
                lines = [" ".join(pieces[i] for i in ids) for ids in results]
            elif fmt == "jsonl":
                lines = ['{"ids": [' + ", ".join(map(str, ids)) + "]}" for ids in results]
            else:
                lines = [" ".join(map(str, ids)) for ids in results]
            out.write("".join(line + "\n" for line in lines).encode())


def _kernels(sampling: bool, fmt: str, offsets: bool) -> list[str]:
    """The kernels this encoding reaches, in order (for ``compile_ahead``)."""
    from bytepiece._kernels.precompile import ENCODE_KERNELS

    kernels = list(ENCODE_KERNELS)
    if sampling:
        kernels.remove("best_path.chunk_bounds")
        kernels[kernels.index("best_path.segment_chunks")] = "viterbi.segment"
    if fmt not in ("ids", "jsonl") or offsets:
        kernels.remove("text_io.format_id_lines")
    return kernels


def _line_ends(data: bytes):
    """int64 ends of the lines of ``data``, each with its newline."""
    import numpy as np

    from bytepiece.token_array import line_ends

    return line_ends(np.frombuffer(data, np.uint8))


def _documents(files: tuple[str, ...], field: str, errors: str):
    """The documents of JSON Lines FILEs: the library's training corpus reader."""
    from bytepiece.corpus import Corpus
    from bytepiece.errors import BytePieceError

    if not files or "-" in files:
        raise click.UsageError("--jsonl-field reads files (plain, .gz or .zst), not stdin")
    try:
        return Corpus(files, jsonl_field=field, errors=errors)
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None


def document_batches(documents, batch_bytes: int = 1 << 22):
    """``(data, ends)``: the documents in batches of about ``batch_bytes``, as the NFC
    UTF-8 bytes of each batch and the int64 end of each document in them."""
    import numpy as np

    from bytepiece.normalize import nfc

    batch: list[bytes] = []
    n = 0
    for text in documents:
        data = nfc(text).encode()
        batch.append(data)
        n += len(data)
        if n >= batch_bytes:
            yield b"".join(batch), np.cumsum([len(d) for d in batch], dtype=np.int64)
            batch, n = [], 0
    if batch:
        yield b"".join(batch), np.cumsum([len(d) for d in batch], dtype=np.int64)


def _format_id_lines(ids, token_ends, bos_id: int, eos_id: int):
    """Lines of decimal ids: a kernel for large blocks, Python for small ones, which then
    run without importing numba (``echo hello | bytepiece encode`` starts faster)."""
    import numpy as np

    from bytepiece.small import SMALL_INPUT

    if ids.shape[0] > SMALL_INPUT:
        from bytepiece._kernels.text_io import format_id_lines

        return format_id_lines(ids, token_ends, bos_id, eos_id)
    flat = [str(i) for i in ids.tolist()]
    head = [str(bos_id)] if bos_id >= 0 else []
    tail = [str(eos_id)] if eos_id >= 0 else []
    start = 0
    lines = []
    for end in token_ends.tolist():
        lines.append(" ".join(head + flat[start:end] + tail) + "\n")
        start = end
    return np.frombuffer("".join(lines).encode(), np.uint8)


def _write_long_line(out, parts, fmt: str, pieces: list[str] | None, bos: bool,
                     eos: bool) -> None:
    """Write the output line of a line too long to hold, from its ids in ``parts``
    (int32 arrays): the same bytes as for the line encoded whole."""
    import numpy as np

    separator = b", " if fmt == "jsonl" else b" "
    out.write(b'{"ids": [' if fmt == "jsonl" else b"")
    first = True

    def words(ids) -> bytes:
        if fmt == "pieces":
            return " ".join(pieces[i] for i in ids.tolist()).encode()
        text = _format_id_lines(ids, np.array([ids.shape[0]], np.int64), -1, -1).tobytes()
        return text[:-1].replace(b" ", separator)

    head = [np.array([1], np.int32)] if bos else []
    tail = [np.array([2], np.int32)] if eos else []
    for ids in itertools.chain(head, parts, tail):  # lazily: parts come as they are decided
        if ids.shape[0]:
            if not first:
                out.write(separator)
            out.write(words(ids))
            first = False
    out.write(b"]}\n" if fmt == "jsonl" else b"\n")


def _escaped_pieces(tokenizer) -> list[str]:
    """Each id's piece as text with no space or newline in it (for --format pieces).

    Backslash, space, newline, tab and CR become \\\\, \\s, \\n, \\t, \\r; bytes that
    are not UTF-8 and unprintable characters become \\xHH, \\uHHHH or \\UHHHHHHHH.
    """
    table = list(SPECIAL_PIECES)
    for i in range(3, tokenizer.vocab_size):
        piece = tokenizer.id_to_piece(i)
        if isinstance(piece, str):  # a special token: its text
            table.append("".join(map(_escape_char, piece)))
            continue
        text = piece.decode("utf-8", errors="surrogateescape")
        escaped = "".join(map(_escape_char, text))
        if escaped in SPECIAL_PIECES:  # the text "<bos>" is a piece, not the token <bos>
            escaped = "\\x3c" + escaped[1:]
        table.append(escaped)
    return table


def _escape_char(c: str) -> str:
    if c in _ESCAPES:
        return _ESCAPES[c]
    if "\udc80" <= c <= "\udcff":
        return f"\\x{ord(c) - 0xDC00:02x}"
    if not c.isprintable():
        if ord(c) < 128:  # \xHH is a byte: above 0x7f, the byte of a piece that is not UTF-8
            return f"\\x{ord(c):02x}"
        return f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
    return c


def _piece_lines(ids: list[int], token_ends: list[int], pieces: list[str], bos: bool,
                 eos: bool) -> bytes:
    lines = []
    start = 0
    for end in token_ends:
        words = [pieces[i] for i in ids[start:end]]
        if bos:
            words.insert(0, pieces[1])
        if eos:
            words.append(pieces[2])
        lines.append(" ".join(words))
        start = end
    return ("\n".join(lines) + "\n").encode() if lines else b""
