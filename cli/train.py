"""``bytepiece train``: train a BytePiece model on text files, streaming them twice."""

from __future__ import annotations

import os
import sys
import time

import click

from bytepiece.corpus import Corpus

from ._common import announce, check_output, compile_ahead

#: The summary measures compression on at most this much of the training text.
SUMMARY_SAMPLE_BYTES = 32 << 20


def _vocab_sizes(ctx, param, value: str) -> list[int]:
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of integers like 8000,16000") from None
    if not sizes:
        raise click.BadParameter("give at least one size")
    small = [s for s in sizes if s < 259]
    if small:
        raise click.BadParameter(f"{small[0]} is too small: a vocabulary holds the 3 special "
                                 f"tokens and the 256 bytes, so at least 259")
    if len(set(sizes)) != len(sizes):
        raise click.BadParameter(f"{value!r} repeats a size")
    return sizes


def _memory_size(ctx, param, value: str | None) -> int | None:
    from bytepiece.errors import InputError
    from bytepiece.memory import parse_size

    if value is None:
        return None
    try:
        size = parse_size(value)
    except InputError as e:
        raise click.BadParameter(str(e)) from None
    if size <= 0:
        raise click.BadParameter("give a size above 0, like 500M or 2G")
    return size


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("corpus", nargs=-1, required=True, metavar="CORPUS...")
@click.option("-o", "--output", required=True, metavar="MODEL",
              help="Model file to write; with several sizes, MODEL.<size> for each.")
@click.option("--vocab-size", required=True, callback=_vocab_sizes, metavar="N[,N...]",
              help="Vocabulary size(s), <pad>, <bos>, <eos> included (at least 259); "
                   "--special-tokens come on top.")
@click.option("--algorithm", type=click.Choice(["bytepiece", "unigram"]), default="bytepiece",
              show_default=True,
              help="bytepiece: BytePiece 0.6.3's frequency cut, exactly. unigram: EM and "
                   "pruning in rounds, higher compression and every size filled.")
@click.option("--order", type=click.IntRange(1, 7), default=6, show_default=True,
              help="Order of the byte n-gram model that proposes pieces.")
@click.option("--min-count", type=click.IntRange(min=1), default=2, show_default=True,
              help="Least count of an n-gram (order >= 2) and of a piece to be kept.")
@click.option("--max-piece-length", type=click.IntRange(min=1), default=36, show_default=True,
              help="Longest piece, in bytes.")
@click.option("--isolate-digits", is_flag=True,
              help="Cut the text around every digit: no piece holds a digit and anything else.")
@click.option("--ensure-unicode/--no-ensure-unicode", default=True, show_default=True,
              help="Never start a piece inside a UTF-8 character.")
@click.option("--docs", type=click.Choice(["lines", "file"]), default="lines", show_default=True,
              help="A document per line (newline kept) or per file.")
@click.option("--jsonl-field", metavar="NAME", default=None,
              help="Read JSON Lines (plain or compressed); every line's field NAME is a "
                   "document.")
@click.option("--text-column", metavar="NAME", default=None,
              help="Column of the texts in .parquet files (needs pyarrow); every row is a "
                   "document.")
@click.option("--errors", type=click.Choice(["strict", "replace", "ignore"]), default="strict",
              show_default=True, help="What to do with bytes that are not UTF-8.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Threads [default: every core]; the model does not depend on it.")
@click.option("--max-memory", metavar="SIZE", default=None, callback=_memory_size,
              help="Memory budget (like 500M or 2G; K, M, G are powers of 1024): counting "
                   "tables spill to sorted runs on disk rather than outgrow it, and the "
                   "model is the same [default: a quarter of the available memory].")
@click.option("--tmp-dir", metavar="DIR", default=None,
              type=click.Path(file_okay=False),
              help="Where spilled runs go [default: the system's temporary folder]. Removed "
                   "when done; a run killed outright resumes from it when started again "
                   "with the same command.")
@click.option("--cluster", metavar="URL", default=None,
              help="Train on a cluster: tcp://HOST:PORT or dask://HOST:PORT (a Dask "
                   "scheduler), ray://HOST:PORT (Ray Client) or ray:auto (the Ray cluster "
                   "of this machine). Every worker must read the CORPUS (a shared file "
                   "system, or fsspec URLs like s3://...); the model is the same. "
                   "--max-memory is then each task's budget.")
@click.option("--special-tokens", metavar="TOKEN,...", default=None,
              help="Special tokens (comma-separated), given the ids after the last piece, "
                   "on top of --vocab-size; their text is cut out of the corpus, so it never "
                   "becomes a piece. Encode reads them with --special.")
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
def command(corpus, output, vocab_size, order, min_count, max_piece_length, isolate_digits,
            ensure_unicode, docs, jsonl_field, text_column, errors, workers, max_memory, tmp_dir,
            cluster, special_tokens, quiet, algorithm):
    """Train a BytePiece model on the CORPUS: files, folders (every file in them,
    recursively, hidden ones skipped) or glob patterns (quoted: '*', '**', '?').

    Text, JSON Lines (--jsonl-field) or Parquet (--text-column) files, plain or
    compressed (.gz, .zst). By default the same algorithm and the same models as
    BytePiece 0.6.3's Trainer (--algorithm unigram: see docs/training.md); the files
    are read twice, never held in memory.

    \b
    Examples:
      bytepiece train corpora/en.txt -o en.json --vocab-size 8000
      bytepiece train corpora/en.txt -o en.json --vocab-size 32000 --algorithm unigram
      bytepiece train zh.txt -o zh.json --vocab-size 8000 --order 5 --min-count 4 \
          --max-piece-length 24
      bytepiece train src/ -o code.json --vocab-size 16000 --isolate-digits \
          --no-ensure-unicode --docs file
      bytepiece train scraped.txt -o m.json --vocab-size 8000 --errors replace -q
      bytepiece train a.txt b.txt.zst -o m.json --vocab-size 16000,32000 --workers 2
      bytepiece train data/ -o m.json --vocab-size 32000
      bytepiece train 'shards/**/*.jsonl.zst' --jsonl-field text -o m.json --vocab-size 32000
      bytepiece train wiki.parquet --text-column text -o m.json --vocab-size 32000
      bytepiece train big/ -o m.json --vocab-size 32000 --max-memory 1G --tmp-dir /scratch
      bytepiece train /shared/corpus/ -o m.json --vocab-size 32000 --cluster tcp://head:8786
      bytepiece train 's3://bucket/data/*.jsonl.zst' --jsonl-field text -o m.json \\
          --vocab-size 32000 --cluster ray:auto
      bytepiece train chats.txt -o chat.json --vocab-size 8000 \\
          --special-tokens '<|im_start|>,<|im_end|>,<|endoftext|>'
    """
    from bytepiece import BytePieceError, Trainer
    from bytepiece._kernels.precompile import TRAIN_KERNELS, UNIGRAM_KERNELS

    specials = special_tokens.split(",") if special_tokens is not None else []
    if "-" in corpus:
        raise click.ClickException("training reads the corpus twice: give files, not stdin")
    try:
        texts = Corpus(corpus, docs, jsonl_field, errors, isolate_digits, text_column)
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None
    if texts.size_bytes == 0:
        raise click.ClickException("the corpus is empty")
    outputs = [output] if len(vocab_size) == 1 else [f"{output}.{n}" for n in vocab_size]
    for path in outputs:  # before hours of training, not after
        check_output(path, texts.paths)

    sizes = vocab_size if len(vocab_size) > 1 else vocab_size[0]
    try:
        trainer = Trainer(order=order, max_vocab_size=sizes,
                          max_piece_length=max_piece_length, min_count=min_count,
                          isolate_digits=isolate_digits, ensure_unicode=ensure_unicode,
                          special_tokens=specials, algorithm=algorithm)
    except BytePieceError as e:
        raise click.BadParameter(str(e), param_hint="'--special-tokens'") from None
    start = time.perf_counter()
    announce("training")
    try:
        kernels = UNIGRAM_KERNELS if algorithm == "unigram" else TRAIN_KERNELS
        with compile_ahead(kernels if cluster is None else []):
            trainer.train(texts, workers=workers or os.cpu_count() or 1, max_memory=max_memory,
                          tmp_dir=tmp_dir, cluster=cluster)
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None
    if trainer.total_bytes == 0:
        raise click.ClickException("the corpus is empty: no text in " + ", ".join(corpus))
    from ._common import check_interrupted

    check_interrupted()  # a signal whose exception was swallowed still stops the run
    try:
        paths = trainer.save(output)
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from None
    for path, pieces, size in zip(paths, trainer.pieces, trainer.max_vocab_size):
        if len(pieces) + 3 < size:
            sys.stderr.write(f"bytepiece: warning: {path}: vocabulary of {len(pieces) + 3} "
                             f"ids, fewer than the {size} asked for (pieces that no "
                             f"segmentation uses are dropped; more text or a lower "
                             f"--min-count gives more)\n")
    if not quiet:
        _summary(trainer, paths, texts, time.perf_counter() - start, workers)


def _summary(trainer, paths, texts, elapsed, workers):
    """Time per phase, memory (budget, peak, spills, temporary disk), vocabulary size and
    compression on (the first SUMMARY_SAMPLE_BYTES of) the training text, on stderr."""
    import numpy as np

    from bytepiece.memory import format_size, peak_resident_bytes
    from bytepiece.normalize import nfc

    peak = peak_resident_bytes()
    t = time.perf_counter()
    tries = [_trie(p) for p in paths]
    threads = workers or os.cpu_count() or 1
    tokens = [0] * len(paths)
    n_bytes = 0
    for docs in _batches_of(texts):
        data = [nfc(d).encode() for d in docs]
        buf = np.frombuffer(b"".join(data), np.uint8)
        ends = np.cumsum([len(d) for d in data], dtype=np.int64)
        n_bytes += buf.shape[0]
        for k, trie in enumerate(tries):
            tokens[k] += _token_count(trie, buf, ends, threads)
        if n_bytes >= SUMMARY_SAMPLE_BYTES:
            break
    measure = time.perf_counter() - t
    phases = ", ".join(f"{name} {secs:.1f}s" for name, secs in trainer.timings.items())
    err = sys.stderr
    resumed = " (resumed from an unfinished run)" if trainer.resumed else ""
    err.write(f"trained on {trainer.total_bytes / 1e6:.1f} MB in {elapsed:.1f}s{resumed} "
              f"({phases})\n")
    stats = trainer.cluster_stats
    if stats is not None:
        err.write(f"on the cluster: {stats.shards} shards, {stats.parts} parts per merge, "
                  f"{stats.tasks} tasks; {format_size(stats.moved)} passed between tasks, "
                  f"{format_size(stats.shared)} shared with every worker (the n-gram model "
                  f"{format_size(stats.detail.get('kept n-grams', 0))}); peak memory here "
                  f"{format_size(peak)}; pruning: re-split tasks "
                  f"{stats.seconds.get('re-split tasks', 0):.1f}s, cut to sizes here "
                  f"{stats.seconds.get('cut to sizes', 0):.1f}s\n")
    elif trainer.algorithm == "unigram":
        spilled = trainer.spills.get("chunks", 0)
        where = (f"{spilled} batches of chunks spilled, {format_size(trainer.temp_disk)} of "
                 f"temporary disk at most") if spilled else "the chunks held in memory"
        err.write(f"memory budget {format_size(trainer.memory_budget)}, peak memory "
                  f"{format_size(peak)}, {where}\n")
    else:
        spills = trainer.spills.get("ngrams", 0) + trainer.spills.get("pieces", 0)
        disk = f", {format_size(trainer.temp_disk)} of temporary disk at most" if spills else ""
        err.write(f"memory budget {format_size(trainer.memory_budget)}, peak memory "
                  f"{format_size(peak)}, spilled {trainer.spills.get('ngrams', 0)} n-gram and "
                  f"{trainer.spills.get('pieces', 0)} piece runs{disk}\n")
    sample = "the training text" if n_bytes < SUMMARY_SAMPLE_BYTES else \
        f"the first {n_bytes / 1e6:.0f} MB of the training text"
    for path, pieces, n, size in zip(paths, trainer.pieces, tokens, trainer.max_vocab_size):
        ratio = n_bytes / n if n else float("nan")
        short = f" (asked for {size}: not reached)" if len(pieces) + 3 < size else ""
        extra = len(trainer.special_tokens)
        users = f", {extra} of yours" if extra else ""
        err.write(f"{path}: vocabulary of {len(pieces) + 3 + extra}{short} (3 special tokens"
                  f"{users} and {len(pieces)} pieces), {ratio:.3f} bytes/token on {sample}\n")
    err.write(f"(compression measured in {measure:.1f}s)\n")


def _trie(path: str):
    """The trie of a saved model, without the automaton: the summary counts tokens with the
    trie kernel that pruning compiled already, so training never compiles the encoder's
    (the best path is the same, ids and all: tests/test_automaton.py)."""
    import numpy as np

    from bytepiece.model import Model
    from bytepiece.trie import PieceTrie

    model = Model.load(path)
    ids = np.arange(3, len(model.pieces) + 3, dtype=np.int32)
    return PieceTrie.build(model.pieces, ids, model.log_probs(), automaton=False)


def _token_count(trie, buf, ends, threads: int) -> int:
    """Tokens of the best segmentation of the texts of ``buf`` ending at ``ends``, lines
    apart (as ``bytepiece encode``), on ``threads`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from bytepiece._kernels import read_only
    from bytepiece._kernels.viterbi import segment

    buf = read_only(buf)
    cuts = np.unique(np.searchsorted(ends, np.arange(1, threads) * buf.shape[0] // threads))
    bounds = list(zip([0, *cuts.tolist()], [*cuts.tolist(), ends.shape[0]]))

    def count(bound) -> int:
        lo, hi = bound
        if hi <= lo:
            return 0
        b0 = int(ends[lo - 1]) if lo else 0
        ids, _ = segment(buf[b0:int(ends[hi - 1])], ends[lo:hi] - b0, True, trie.nodes,
                         trie.value, trie.logp, trie.pair, -1.0, np.uint64(0), 0)
        return ids.shape[0]

    with ThreadPoolExecutor(len(bounds)) as pool:
        return sum(pool.map(count, bounds))


def _batches_of(texts, size=1 << 22):
    """The documents in lists of about ``size`` characters."""
    batch, n = [], 0
    for text in texts:
        batch.append(text)
        n += len(text)
        if n >= size:
            yield batch
            batch, n = [], 0
    if batch:
        yield batch
