"""``bytepiece eval``: compression figures of models on corpora, as a table, JSON or Markdown."""

from __future__ import annotations

import gzip
import json
import os
import sys
import unicodedata
import zlib

import click

from ._common import BLOCK_BYTES, decode_text, progress, split_blocks

#: Columns of the table and Markdown outputs: header, right-aligned.
_COLUMNS = [("corpus", False), ("model", False), ("bytes/token", True), ("chars/token", True),
            ("tokens/line", True), ("fallback", True), ("pieces used", True), ("MB/s", True),
            ("round-trip", False)]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-m", "--model", "models", required=True, multiple=True, metavar="MODEL",
              help="Model to measure (repeat for several): a bytepiece JSON model, a "
                   "SentencePiece .model or a Hugging Face tokenizer.json (the last two need "
                   "the 'compare' extra).")
@click.argument("corpora", nargs=-1, required=True, metavar="CORPUS...")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list, one object per "
              "model and corpus, every count and ratio).")
@click.option("--markdown", is_flag=True, help="Print a Markdown table.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for bytepiece and SentencePiece [default: every core].")
@click.option("--errors", type=click.Choice(["strict", "replace", "ignore"]), default="strict",
              show_default=True, help="What to do with bytes that are not UTF-8.")
def command(models, corpora, as_json, markdown, threads, errors):
    """Measure MODELs on CORPUS files (plain text or .gz, '-' for stdin).

    For each model and corpus: UTF-8 bytes and characters of the original text
    per token (before any normalization the model does), tokens per line, the
    share of bytes that fell back to single-byte pieces (a byte >= 0x80 alone:
    part of a character spelled byte by byte), distinct pieces used out of the
    vocabulary, encode throughput (MB/s, one run, the library's batch encoder
    only) and whether decoding gives every line back (bytepiece: the NFC form
    of the line), with the number of unknown tokens (<unk>) if any. Each line
    is encoded with its newline.

    \b
    Examples:
      bytepiece eval -m en.json corpora/en.txt corpora/zh.txt
      bytepiece eval -m en.json -m sp.model -m tokenizer.json corpus.txt.gz --markdown
      bytepiece eval -m en.json corpus.txt --json > figures.json
      bytepiece eval -m en.json --threads 1 --errors replace scraped.txt
    """
    from bytepiece.errors import BytePieceError
    from bytepiece.evaluate import CorpusTally
    from bytepiece.evaluate_models import load_eval_model

    if as_json and markdown:
        raise click.UsageError("give at most one of --json and --markdown")
    if list(corpora).count("-") > 1:
        raise click.UsageError("stdin ('-') can be read only once")
    for path in corpora:
        _check_readable(path)
    try:
        loaded = [load_eval_model(path, threads) for path in models]
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None
    results = []
    with progress(_total_size(corpora), "eval") as bar:
        for corpus in corpora:
            tallies = [CorpusTally(m.vocab_size, m.fallback, m.reference, m.unknown)
                       for m in loaded]
            name = "<stdin>" if corpus == "-" else corpus
            for offset, block in _blocks(corpus):
                text = decode_text(block, name, offset, errors)
                data = block if errors == "strict" else text.encode()
                stable = block.isascii() or unicodedata.is_normalized("NFC", text)
                for model, tally in zip(loaded, tallies):
                    encoded = model.encode_block(text, data)
                    tally.add(text, encoded.ids, encoded.seconds, encoded.bad_lines,
                              n_bytes=len(data), nfc_stable=stable)
                bar.update(len(block))
            for path, model, tally in zip(models, loaded, tallies):
                results.append((corpus, path, model.kind, tally.figures()))
    if as_json:
        rows = [{"corpus": c, "model": m, "model_type": k, **f.as_dict()}
                for c, m, k, f in results]
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_table(results, markdown), nl=False)


def _blocks(path: str):
    """``(offset, block)``: the corpus in blocks of whole lines (decompressed for .gz)."""
    if path == "-":
        f = sys.stdin.buffer
        yield from split_blocks(_reads(f, "<stdin>"), "<stdin>", BLOCK_BYTES, False)
        return
    try:
        f = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")
    except OSError as e:
        raise click.ClickException(f"cannot read {path}: {e.strerror or e}") from None
    with f:
        yield from split_blocks(_reads(f, path), path, BLOCK_BYTES, False)


def _reads(f, name: str):
    while True:
        try:
            data = f.read(BLOCK_BYTES)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError
            raise click.ClickException(
                f"cannot read {name}: {getattr(e, 'strerror', None) or e}") from None
        if not data:
            return
        yield data


def _check_readable(path: str) -> None:
    """Fail before any work when a corpus cannot be opened."""
    if path == "-":
        return
    if os.path.isdir(path):
        raise click.ClickException(f"cannot read {path}: Is a directory")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise click.ClickException(f"cannot read {path}: {e.strerror or e}") from None


def _total_size(paths: tuple[str, ...]) -> int | None:
    if any(p == "-" or p.endswith(".gz") for p in paths):
        return None
    return sum(os.path.getsize(p) for p in paths)


def _cells(figures) -> list[str]:
    """The figures of one row as table cells."""
    def number(value, digits):
        return "-" if value is None else f"{value:,.{digits}f}"

    share = figures.fallback_share
    speed = figures.mb_per_second
    if figures.round_trips:
        round_trip = "yes" if figures.round_trip_reference == "text" else "NFC text"
    else:
        round_trip = f"no: {figures.lines_not_round_tripped:,}/{figures.lines:,} lines"
    if figures.unknown_tokens:
        round_trip += f", {figures.unknown_tokens:,} unknown"
    return [number(figures.bytes_per_token, 3), number(figures.characters_per_token, 3),
            number(figures.tokens_per_line, 2),
            "-" if share is None else f"{100 * share:.2f}%",
            f"{figures.distinct_pieces:,}/{figures.vocab_size:,}",
            "-" if speed is None else f"{speed:.1f}" if speed >= 10 else f"{speed:.2f}",
            round_trip]


def _table(results, markdown: bool) -> str:
    """The results as an aligned plain-text table or a Markdown table, with notes."""
    rows = [[corpus, model, *_cells(f)] for corpus, model, _, f in results]
    headers = [name for name, _ in _COLUMNS]
    right = [r for _, r in _COLUMNS]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---:" if r else "---" for r in right) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
    else:
        widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]

        def line(cells):
            return "  ".join(c.rjust(w) if r else c.ljust(w)
                             for c, w, r in zip(cells, widths, right)).rstrip()

        lines = [line(headers)] + [line(row) for row in rows]
    notes = []
    unstable = sorted({c for c, _, kind, f in results if not f.nfc_stable})
    if unstable:
        notes.append(f"not NFC: {', '.join(unstable)}; bytepiece models encode the NFC form, "
                     f"\"NFC text\" means they round-trip the NFC text.")
    if any(not f.round_trips for *_, f in results):
        notes.append("no: decode(encode(line)) differs from the line (normalization, "
                     "unknown pieces or dropped whitespace) on that many lines.")
    if any(f.unknown_tokens for *_, f in results):
        notes.append("unknown: tokens such as <unk> that replace text the model cannot "
                     "spell, one token however long the text: they flatter bytes/token.")
    if notes:
        lines.append("")
        lines += notes
    return "\n".join(lines) + "\n"
