"""Measure BytePiece 0.6.3 (the original) inside its own virtual environment.

Run by ``_peers.py`` as ``REFERENCE_PYTHON -I _reference_worker.py REQUEST.json``
(``-I``: neither the working directory nor PYTHONPATH can shadow the installed
``bytepiece`` with ours). Standalone on purpose: it imports nothing from this
repository. The request names the model, the repeat count, the number of
processes and, per corpus, a JSON file holding the exact list of lines to encode;
the answer is one JSON object on stdout, with the ids of each corpus saved to
an ``.npz`` beside its lines file so the caller can compare them with ours.

The original encodes one text at a time and has no batch or thread option:
"single" is a loop of ``encode`` over the lines, "multi" is a
``multiprocessing.Pool`` of N processes that each load the model once (in the
pool's initializer, outside the timing) and encode contiguous chunks of lines.
"""

import gc
import json
import multiprocessing
import sys
import time

import numpy as np
from bytepiece import Tokenizer

_TOKENIZER = None


def _load(model):
    global _TOKENIZER
    _TOKENIZER = Tokenizer(model)


def _encode_chunk(lines):
    encode = _TOKENIZER.encode
    return [encode(line) for line in lines]


def _chunks(lines, n_chunks):
    """Contiguous runs of lines of about equal UTF-8 size, in order."""
    sizes = [len(line.encode("utf-8")) for line in lines]
    target = max(1, sum(sizes) // n_chunks)
    chunks, start, acc = [], 0, 0
    for i, size in enumerate(sizes):
        acc += size
        if acc >= target:
            chunks.append(lines[start:i + 1])
            start, acc = i + 1, 0
    if start < len(lines):
        chunks.append(lines[start:])
    return chunks


def _best_time(run, repeat):
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main(request_path):
    with open(request_path, encoding="utf-8") as f:
        request = json.load(f)
    model, repeat, processes = request["model"], request["repeat"], request["processes"]

    t0 = time.perf_counter()
    _load(model)
    load_seconds = time.perf_counter() - t0

    pool = None
    if processes > 1:
        pool = multiprocessing.get_context("fork").Pool(processes, _load, (model,))
        pool.map(len, [[]] * processes)  # wait until every worker is up

    answer = {"version": _version(), "load_seconds": load_seconds, "corpora": {}}
    for corpus in request["corpora"]:
        with open(corpus["lines"], encoding="utf-8") as f:
            lines = json.load(f)
        single, ids = _best_time(lambda: _encode_chunk(lines), repeat)
        result = {"single": single, "multi": None}
        if pool is not None:
            chunks = _chunks(lines, processes * 8)

            def run_multi():
                out = []
                for part in pool.imap(_encode_chunk, chunks):
                    out.extend(part)
                return out

            result["multi"], multi_ids = _best_time(run_multi, repeat)
            if multi_ids != ids:
                raise SystemExit("the pool's ids differ from the single process's ids")
        lengths = np.fromiter(map(len, ids), np.int64, len(ids))
        flat = np.fromiter((i for line in ids for i in line), np.int32, int(lengths.sum()))
        np.savez(corpus["ids"], ids=flat, lengths=lengths)
        answer["corpora"][corpus["name"]] = result
    if pool is not None:
        pool.close()
        pool.join()
    json.dump(answer, sys.stdout)


def _version():
    try:
        from importlib.metadata import version
        return version("bytepiece")
    except Exception:
        return "unknown"


if __name__ == "__main__":
    main(sys.argv[1])
