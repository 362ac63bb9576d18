"""``bytepiece encode --cluster``: a corpus into token arrays, one per shard, on a cluster."""

from __future__ import annotations

import os
import sys
import time

import click


def encode_on_cluster(model: str, files: tuple[str, ...], fmt: str, output: str | None,
                      bos: bool, eos: bool, alpha: float, errors: str, cluster: str,
                      quiet: bool = False) -> None:
    """Check the options, run the tasks, print a summary on stderr."""
    from bytepiece import BytePieceError
    from bytepiece.corpus import Corpus
    from bytepiece.encode_shards import encode_on_cluster as run
    from bytepiece.executors import connect
    from bytepiece.model import Model

    from ._common import progress

    if fmt not in ("bin", "npy"):
        raise click.UsageError("--cluster writes token arrays: use --format bin or npy")
    if not output or output == "-":
        raise click.UsageError("--cluster needs -o OUT_DIR: the workers write a token array "
                               "per shard there (a folder they can all write)")
    if not files or "-" in files:
        raise click.UsageError("--cluster reads files (or URLs) every worker can read, "
                               "not stdin")
    if alpha >= 0:
        raise click.UsageError("--cluster encodes the best segmentation only: sampling "
                               "(--alpha >= 0) would depend on how the corpus is cut")
    if os.path.exists(output) and not os.path.isdir(output):
        raise click.ClickException(f"cannot write into {output}: it is a file, not a folder")
    started = time.perf_counter()
    try:
        corpus = Corpus(files, errors=errors)
        engine = connect(cluster)
        try:
            with progress(corpus.size_bytes, "encode") as bar:
                results = run(Model.load(model), corpus, output, fmt, engine, bos, eos,
                              progress=bar.update)
        finally:
            engine.close()
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None
    if quiet:
        return
    seconds = time.perf_counter() - started
    tokens = sum(r.tokens for r in results)
    n_bytes = sum(r.bytes for r in results)
    sys.stderr.write(
        f"bytepiece: encoded {n_bytes / 1e6:.1f} MB into {tokens:,} tokens in "
        f"{len(results)} shards in {output} (index: {os.path.join(output, 'index.tsv')}), "
        f"{n_bytes / max(tokens, 1):.3f} bytes/token, in {seconds:.2f} s\n")
