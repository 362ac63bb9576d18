"""Compression (bytes per token) against vocabulary size, on each corpus, for every trainer.

For each corpus (corpora/zh, en, code, mixed) and each vocabulary size (8000, 16000,
32000, 64000), bytepiece (its default algorithm and --algorithm unigram), SentencePiece
unigram and BPE (lossless settings) and Hugging Face tokenizers' byte-level BPE are
trained on a part of the corpus (about --train-mb MB) and measured on another, held-out
part: UTF-8 bytes of the original text over the number of tokens, and whether decoding
gives the text back. Each system gets the same
text on a corpus; zh, at 1.8 MB, gives less than --train-mb. A few MB do not hold 64000
pieces worth keeping for every trainer: the table says which vocabulary each reached.

The split: the corpus is cut into blocks of whole lines of about 64 KB; every 10th block
(the 10th, 20th, ...) is held out. Training takes the other blocks at an even stride
through the corpus, about --train-mb MB of them; measuring takes the held-out blocks at
an even stride, about --test-mb MB. So both parts sample the whole corpus (all its
works or modules), and no held-out line is trained on.

Then the same at 32000 pieces on about 20 MB of the benchmark corpus
corpora/bench/mixed-32mb.txt (built when missing; --no-bench leaves it out). The report
checks bytepiece unigram against the targets of issue 14: bytes per token against the best
peer (SentencePiece unigram and BPE, tokenizers' BPE), the vocabulary reached, and its
training time against bytepiece's default algorithm, from each cell's own run.

BytePiece 0.6.3 is left out: it trains the same model as bytepiece (train.py checks
that, piece by piece), at a twentieth of the speed.

    python benchmarks/compression.py            # the grid and the 20 MB run
    python benchmarks/compression.py --corpora en --sizes 8000 --no-bench --output /tmp/c.md
    python benchmarks/compression.py --bench-only --output /tmp/bench.md

Writes benchmarks/results/compression.md and compression.png by default. A trainer
that is missing or fails (SentencePiece cannot make more pieces than the text allows)
is shown as such in the table, with the reason under it. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from _peers import Missing
from _report import command_line, load_average, log, machine, publish, require_psutil
from encode import read_lines, table
from scaling import bench_corpus
from train import PEERS, bytes_per_token, measure_compression, train_all, warm_up_bytepiece

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ROOT / "corpora"
WORK = HERE / "work"
RESULTS = HERE / "results"
CORPUS_NAMES = ("zh", "en", "code", "mixed")
VOCAB_SIZES = (8000, 16000, 32000, 64000)
SYSTEMS = ("bytepiece", "bytepiece-unigram", "sp-unigram", "sp-bpe", "hf-bpe")
UNIGRAM = "bytepiece-unigram"
#: the peers of issue 14's targets, and those of them that are BPE
PEER_KEYS = ("sp-unigram", "sp-bpe", "hf-bpe")
BPE_KEYS = ("sp-bpe", "hf-bpe")
SHORT = {"sp-unigram": "SP unigram", "sp-bpe": "SP BPE", "hf-bpe": "tokenizers BPE"}
MARGIN_TARGET = 5.0  # average % above the best peer
VOCAB_SHARE = 0.99  # of the requested size, where a BPE peer reached it
TIME_TARGET = 3.0  # times bytepiece's default algorithm
BENCH = "bench"  # the corpus name of the 20 MB run in the runs
BLOCK_BYTES = 64 * 1024
HOLDOUT_EVERY = 10
MB = 1_000_000


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-mb", type=float, default=4,
                   help="training text per corpus, MB (default: %(default)s; zh has only "
                        "1.6 MB outside its held-out blocks, and gives all of it)")
    p.add_argument("--test-mb", type=float, default=0.5,
                   help="held-out text measured per corpus, MB (default: %(default)s)")
    p.add_argument("--vocab-sizes", "--sizes", default=",".join(map(str, VOCAB_SIZES)),
                   help="comma-separated (default: %(default)s)")
    p.add_argument("--corpora", default=",".join(CORPUS_NAMES),
                   help="comma-separated names of corpora/NAME.txt (default: %(default)s)")
    p.add_argument("--skip", action="append", default=[], metavar="PEER",
                   help="leave out a trainer (shown as skipped): " + ", ".join(SYSTEMS[1:]))
    p.add_argument("--no-bench", action="store_true",
                   help="leave out the run on the benchmark corpus")
    p.add_argument("--bench-only", action="store_true",
                   help="only the run on the benchmark corpus (no grid)")
    p.add_argument("--bench-mb", type=float, default=20,
                   help="training text of that run, MB (default: %(default)s)")
    p.add_argument("--bench-vocab-size", type=int, default=32000,
                   help="vocabulary size of that run (default: %(default)s)")
    p.add_argument("--bench-corpus", type=Path, default=None,
                   help="its corpus (default: corpora/bench/mixed-32mb.txt, built when missing)")
    p.add_argument("--workers", type=int, default=2,
                   help="workers or threads of every trainer (default: %(default)s)")
    p.add_argument("--output", type=Path, default=None,
                   help="the report, FILE.md (default: benchmarks/results/compression.md)")
    p.add_argument("--plot", type=Path, default=None,
                   help="the plot, FILE.png (default: next to --output, same name)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also write every figure as JSON")
    p.add_argument("--keep", action="store_true",
                   help="keep the corpus parts and models (benchmarks/work/compression-*/)")
    args = p.parse_args(argv)
    args.vocab_sizes = [int(v) for v in args.vocab_sizes.split(",") if v.strip()]
    args.corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    args.skip = {s.strip() for item in args.skip for s in item.split(",") if s.strip()}
    if args.skip - set(SYSTEMS[1:]):
        p.error(f"--skip takes {', '.join(SYSTEMS[1:])}")
    if args.bench_only:
        args.corpora = []
    if args.no_bench and not args.corpora:
        p.error("nothing to run: --no-bench with no corpus (or with --bench-only)")
    if (min(args.vocab_sizes, default=0) < 259 or args.bench_vocab_size < 259
            or min(args.train_mb, args.test_mb, args.bench_mb) <= 0):
        p.error("every vocabulary size must be at least 259; --train-mb, --test-mb and "
                "--bench-mb positive")
    args.output = args.output or RESULTS / "compression.md"
    args.plot = args.plot or args.output.with_suffix(".png")
    return args


# -- the split -------------------------------------------------------------------

def blocks_of(lines: list[str], block_bytes: int) -> list[list[str]]:
    """Consecutive runs of whole lines of at least ``block_bytes`` UTF-8 bytes (the last
    may be shorter).

    >>> blocks_of(["ab\\n", "c\\n", "d\\n", "e\\n"], 4)
    [['ab\\n', 'c\\n'], ['d\\n', 'e\\n']]
    """
    blocks, current, size = [], [], 0
    for line in lines:
        current.append(line)
        size += len(line.encode("utf-8"))
        if size >= block_bytes:
            blocks.append(current)
            current, size = [], 0
    if current:
        blocks.append(current)
    return blocks


def evenly(blocks: list[list[str]], budget: float) -> list[list[str]]:
    """Blocks at an even stride through the list, in order, about ``budget`` bytes of
    them (at least one block; all of them when they hold less).

    >>> evenly([["a\\n"], ["b\\n"], ["c\\n"], ["d\\n"]], 4)
    [['a\\n'], ['c\\n']]
    """
    sizes = [sum(len(line.encode("utf-8")) for line in b) for b in blocks]
    if sum(sizes) <= budget:
        return blocks
    m = max(1, min(len(blocks), round(budget * len(blocks) / sum(sizes))))
    return [blocks[k * len(blocks) // m] for k in range(m)]


def split_corpus(lines: list[str], train_bytes: float, test_bytes: float,
                 block_bytes: int = BLOCK_BYTES,
                 holdout_every: int = HOLDOUT_EVERY) -> tuple[list[str], list[str]]:
    """(training lines, held-out lines): blocks of ``block_bytes``, every
    ``holdout_every``-th held out (the last block if there are fewer), each part then
    sampled at an even stride down to about its size in bytes.

    >>> train, test = split_corpus([f"{i}\\n" for i in range(10)], 100, 100, 2, 5)
    >>> "".join(train), "".join(test)
    ('0\\n1\\n2\\n3\\n5\\n6\\n7\\n8\\n', '4\\n9\\n')
    """
    blocks = blocks_of(lines, block_bytes)
    if len(blocks) < 2:
        raise ValueError(f"a corpus of {len(blocks)} block cannot be split: it needs at least "
                         f"2 blocks of {block_bytes} bytes")
    held = [i % holdout_every == holdout_every - 1 for i in range(len(blocks))]
    if not any(held):
        held[-1] = True
    train = evenly([b for b, h in zip(blocks, held) if not h], train_bytes)
    test = evenly([b for b, h in zip(blocks, held) if h], test_bytes)
    return [line for b in train for line in b], [line for b in test for line in b]


def write_split(path: Path, train_mb: float, test_mb: float, folder: Path,
                name: str) -> tuple[Path, list[str], dict[str, int]]:
    """Split a corpus (split_corpus), write its training part to folder/NAME-train.txt;
    (that file, the held-out lines, their sizes in bytes)."""
    train, test = split_corpus(read_lines(path), train_mb * MB, test_mb * MB)
    train_file = folder / f"{name}-train.txt"
    train_file.write_bytes("".join(train).encode("utf-8"))
    return train_file, test, {"train": train_file.stat().st_size,
                              "test": len("".join(test).encode("utf-8"))}


# -- training and measuring ------------------------------------------------------

def run_one(args, corpus: str, vocab_size: int, train_file: Path, test_lines: list[str],
            folder: Path) -> dict[str, dict | Missing]:
    """Train every system at one vocabulary size on one corpus, measure it on the held-out
    lines; key -> result (with "compression", "vocab", "round_trip") or Missing."""
    models = folder / f"{corpus}-{vocab_size}"
    models.mkdir()
    options = SimpleNamespace(vocab_size=vocab_size, workers=args.workers,
                              skip=args.skip | {"reference"}, reference_python=None,
                              interval=0.05, include={UNIGRAM})
    results = train_all(options, [train_file], models)
    results.pop("reference", None)  # same model as bytepiece's (see the docstring)
    measure_compression(results, {corpus: test_lines}, args.workers)
    if not args.keep:
        shutil.rmtree(models, ignore_errors=True)
    return results


# -- report ----------------------------------------------------------------------

def vocabulary_bound(reason: str) -> str | None:
    """The vocabulary bound SentencePiece gives in its error message, if any: the text
    allows at most N pieces, or its characters alone need N.

    >>> vocabulary_bound("Vocabulary size too high (64000). Please set it to a value <= 41234.")
    'at most 41234 pieces'
    >>> vocabulary_bound("Vocabulary size is smaller than required_chars. 8000 vs 9165.")
    'needs at least 9165 pieces'
    """
    if found := re.search(r"value <= (\d+)", reason):
        return f"at most {found.group(1)} pieces"
    if found := re.search(r"smaller than required_chars\. \d+ vs (\d+)", reason):
        return f"needs at least {found.group(1)} pieces"
    return None


def cell(result: dict | Missing, corpus: str, target: int) -> str:
    """A table cell: bytes/token on the held-out text; the vocabulary reached when it is
    more than 1% short of the target; a mark when decoding does not give the text back;
    why there is no figure.

    >>> r = {"vocab": 7000, "compression": {"en": {"bytes": 10, "tokens": 4}},
    ...      "round_trip": {"en": True}}
    >>> cell(r, "en", 8000), cell(r, "en", 7000)
    ('2.500 (vocab 7000)', '2.500')
    >>> cell(Missing("... Please set it to a value <= 41234.", "failed"), "en", 64000)
    'failed: at most 41234 pieces'
    """
    if isinstance(result, Missing):
        bound = vocabulary_bound(result.reason)
        return f"{result.label}: {bound}" if bound else result.label
    text = bytes_per_token(result, corpus)
    if result["vocab"] < 0.99 * target:
        text += f" (vocab {result['vocab']})"
    if not result["round_trip"][corpus]:
        text += " (not lossless)"
    return text


def seconds(result: dict | Missing, corpus: str, target: int) -> str:
    """A cell of the training-time table: wall seconds, or why there is none.

    >>> seconds({"wall_seconds": 2.345}, "en", 8000), seconds(Missing("x", "failed"), "en", 8000)
    ('2.3', 'failed')
    """
    return result.label if isinstance(result, Missing) else f"{result['wall_seconds']:.1f}"


def results_table(runs: dict, corpora: list[str], vocab_sizes: list[int],
                  show=cell) -> list[str]:
    """One row per corpus and system, one column per vocabulary size; ``show`` makes a cell.

    >>> runs = {("en", 8000): {"bytepiece": {"vocab": 7990, "round_trip": {"en": True},
    ...     "compression": {"en": {"bytes": 9, "tokens": 2}}}, "hf-bpe": Missing("x")}}
    >>> results_table(runs, ["en"], [8000])[2:]
    ['| en | bytepiece | 4.500 |', '| en | tokenizers byte-level BPE | missing |']
    """
    header = ["corpus", "system", *map(str, vocab_sizes)]
    rows = []
    for corpus in corpora:
        systems = [k for k in SYSTEMS if any(k in runs[corpus, v] for v in vocab_sizes)]
        for key in systems:
            rows.append([corpus, PEERS[key],
                         *(show(runs[corpus, v][key], corpus, v) for v in vocab_sizes)])
    return table(header, rows)


# -- the targets of issue 14 -----------------------------------------------------

def value(result: dict | Missing | None, corpus: str) -> float | None:
    """Bytes per token of a result on a corpus, or None when it has none.

    >>> value({"compression": {"en": {"bytes": 9, "tokens": 2}}}, "en"), value(None, "en")
    (4.5, None)
    """
    if not isinstance(result, dict) or not result["compression"][corpus]["tokens"]:
        return None
    part = result["compression"][corpus]
    return part["bytes"] / part["tokens"]


def best_peer(results: dict, corpus: str) -> tuple[str, float] | None:
    """The peer (of PEER_KEYS) with the most bytes per token, and that figure; None if no
    peer has one.

    >>> r = lambda b: {"compression": {"en": {"bytes": b, "tokens": 10}}}
    >>> best_peer({"bytepiece": r(50), "sp-bpe": r(30), "hf-bpe": r(40)}, "en")
    ('hf-bpe', 4.0)
    """
    figures = [(v, k) for k in PEER_KEYS if (v := value(results.get(k), corpus)) is not None]
    return (max(figures)[1], max(figures)[0]) if figures else None


def margin(ours: float, theirs: float) -> float:
    """How far ``ours`` is above ``theirs``, in %.

    >>> round(margin(4.2, 4.0), 6), round(margin(3.8, 4.0), 6)
    (5.0, -5.0)
    """
    return 100 * (ours / theirs - 1)


def compression_target(results: dict, corpus: str) -> dict:
    """Bytes per token of bytepiece unigram against the best peer's in one cell; "met" is
    None when either figure is missing."""
    best, ours = best_peer(results, corpus), value(results.get(UNIGRAM), corpus)
    out = {"peer": best and best[0], "peer_value": best and best[1], "ours": ours,
           "margin": None, "met": None}
    if best and ours is not None:
        out["margin"] = margin(ours, best[1])
        out["met"] = ours >= best[1]
    elif best:
        out["met"] = False  # bytepiece unigram failed where a peer has a figure
    return out


def reached(result: dict | Missing | None, size: int) -> bool:
    """Whether a model has the requested size, within 1%."""
    return isinstance(result, dict) and result["vocab"] >= VOCAB_SHARE * size


def vocab_target(results: dict, size: int) -> dict:
    """bytepiece unigram's vocabulary against 99% of ``size``, required only where a BPE peer
    reached the size (within 1%); "met" is None where it is not required."""
    bpe = [k for k in BPE_KEYS if reached(results.get(k), size)]
    ours = results.get(UNIGRAM)
    return {"ours": ours["vocab"] if isinstance(ours, dict) else None, "bpe": bpe,
            "needed": VOCAB_SHARE * size, "met": reached(ours, size) if bpe else None}


def time_target(results: dict) -> dict:
    """bytepiece unigram's training time over bytepiece's (default algorithm) in one cell."""
    ours, base = results.get(UNIGRAM), results.get("bytepiece")
    if not (isinstance(ours, dict) and isinstance(base, dict)):
        return {"ours": None, "base": None, "ratio": None, "met": None}
    ratio = ours["wall_seconds"] / base["wall_seconds"]
    return {"ours": ours["wall_seconds"], "base": base["wall_seconds"], "ratio": ratio,
            "met": ratio <= TIME_TARGET}


def average_margin(cells: list[dict]) -> float | None:
    """The mean margin over the cells that have one (compression_target's), or None.

    >>> average_margin([{"margin": 4.0}, {"margin": None}, {"margin": 8.0}])
    6.0
    """
    margins = [c["margin"] for c in cells if c["margin"] is not None]
    return sum(margins) / len(margins) if margins else None


def time_ratios(runs: dict, corpora: list[str], vocab_sizes: list[int]) -> dict[str, float]:
    """Per corpus, and "total": bytepiece unigram's summed training time over bytepiece's,
    over the cells where both trained."""
    sums = {}
    for corpus in corpora:
        pairs = [(t["ours"], t["base"]) for v in vocab_sizes
                 if (t := time_target(runs[corpus, v]))["ratio"] is not None]
        if pairs:
            sums[corpus] = (sum(a for a, _ in pairs), sum(b for _, b in pairs))
    out = {c: a / b for c, (a, b) in sums.items()}
    if sums:
        out["total"] = sum(a for a, _ in sums.values()) / sum(b for _, b in sums.values())
    return out


def cells(n: int) -> str:
    """``n`` cell or cells.

    >>> cells(1), cells(4)
    ('1 cell', '4 cells')
    """
    return f"{n} cell" + "s" * (n != 1)


def mark(met: bool | None) -> str:
    """A cell's verdict: yes, no, or – when it is not measured or not required."""
    return "–" if met is None else "yes" if met else "no"


def verdict(met: bool | None) -> str:
    return "**met**" if met else "not met" if met is not None else "not measured"


def targets_tables(runs: dict, corpora: list[str], vocab_sizes: list[int]) -> list[str]:
    """Per cell: compression against the best peer, vocabulary, training time."""
    fmt = lambda x, f: "–" if x is None else f.format(x)  # noqa: E731
    rows, cells = [], [(c, v) for c in corpora for v in vocab_sizes]
    for corpus, size in cells:
        c, w, t = (compression_target(runs[corpus, size], corpus),
                   vocab_target(runs[corpus, size], size), time_target(runs[corpus, size]))
        rows.append([corpus, str(size), SHORT[c["peer"]] if c["peer"] else "none",
                     fmt(c["peer_value"], "{:.3f}"), fmt(c["ours"], "{:.3f}"),
                     fmt(c["margin"], "{:+.1f}%"), mark(c["met"]),
                     fmt(w["ours"], "{}"),
                     ", ".join(SHORT[k] for k in w["bpe"]) or "none",
                     mark(w["met"]), fmt(t["ours"], "{:.1f}"), fmt(t["base"], "{:.1f}"),
                     fmt(t["ratio"], "{:.2f}x"), mark(t["met"])])
    header = ["corpus", "size", "best peer", "its bytes/token", "bytepiece unigram",
              "margin", "≥ best peer", "unigram vocab", "BPE peers at the size",
              f"vocab ≥ {VOCAB_SHARE:.0%}", "unigram s", "bytepiece s", "time ratio",
              f"≤ {TIME_TARGET:g}x"]
    return table(header, rows)


def targets_summary(runs: dict, corpora: list[str], vocab_sizes: list[int]) -> list[str]:
    """The issue's targets over all the cells given, each with its figure and verdict."""
    keys = [(c, v) for c in corpora for v in vocab_sizes]
    comp = [compression_target(runs[k], k[0]) for k in keys]
    judged = [x for x in comp if x["met"] is not None]
    avg = average_margin(comp)
    vocab = [x for k in keys if (x := vocab_target(runs[k], k[1]))["met"] is not None]
    timed = [x for k in keys if (x := time_target(runs[k]))["met"] is not None]
    ratios = time_ratios(runs, corpora, vocab_sizes)
    per_corpus = ", ".join(f"{c} {r:.2f}x" for c, r in ratios.items())
    worst = max((x["ratio"] for x in timed), default=None)
    lines = [
        f"- bytes/token at least the best peer's in every cell: "
        f"{sum(x['met'] for x in judged)} of {cells(len(judged))}"
        + (f" ({len(keys) - len(judged)} without a peer's figure)" if len(judged) < len(keys)
           else "") + ": " + verdict(all(x["met"] for x in judged) if judged else None),
        f"- on average at least {MARGIN_TARGET:g}% above the best peer: "
        + (f"{avg:+.1f}% over {cells(sum(x['margin'] is not None for x in comp))}: "
           + verdict(avg >= MARGIN_TARGET) if avg is not None else verdict(None)),
        f"- vocabulary at least {VOCAB_SHARE:.0%} of the size where a BPE peer reached it: "
        f"{sum(x['met'] for x in vocab)} of {cells(len(vocab))}: "
        + verdict(all(x["met"] for x in vocab) if vocab else None),
        f"- training time at most {TIME_TARGET:g}x bytepiece's (default algorithm): "
        + (f"{sum(x['met'] for x in timed)} of {cells(len(timed))}, at most {worst:.2f}x; "
           f"summed over the sizes: {per_corpus}: "
           + verdict(all(x["met"] for x in timed)) if timed else verdict(None)),
    ]
    return lines


def bench_table(results: dict, corpus: str, size: int) -> list[str]:
    """One row per system: vocabulary, bytes/token, training time and its ratio to bytepiece's.

    >>> r = lambda s: {"vocab": 32000, "wall_seconds": s, "round_trip": {"b": True},
    ...                "compression": {"b": {"bytes": 9, "tokens": 2}}}
    >>> bench_table({"bytepiece": r(2.0), "bytepiece-unigram": r(5.0)}, "b", 32000)[3]
    '| bytepiece unigram | 32000 | 4.500 | 5.0 | 2.50x |'
    """
    base = results.get("bytepiece")
    rows = []
    for key in (k for k in SYSTEMS if k in results):
        r = results[key]
        if isinstance(r, Missing):
            rows.append([PEERS[key], "–", cell(r, corpus, size), r.label, "–"])
            continue
        rows.append([PEERS[key], str(r["vocab"]), cell(r, corpus, size), seconds(r, corpus, size),
                     f"{r['wall_seconds'] / base['wall_seconds']:.2f}x"
                     if isinstance(base, dict) else "–"])
    return table(["system", "vocab", "bytes/token", "training s", "time vs bytepiece"], rows)


def targets_section(runs: dict, corpora: list[str], vocab_sizes: list[int]) -> list[str]:
    """The targets table, the rules it applies, and the verdicts over its cells."""
    return [
        f"Best peer: the most bytes/token among "
        f"{', '.join(f'{PEERS[k]} ({SHORT[k]})' for k in PEER_KEYS)} "
        f"(bytepiece's default algorithm is not a peer). Margin: bytepiece unigram's "
        f"bytes/token over the best peer's, minus 1. Vocabulary: at least {VOCAB_SHARE:.0%} of "
        f"the size is required only where a BPE peer ({', '.join(SHORT[k] for k in BPE_KEYS)}) "
        f"reached the size within 1% (– otherwise). Time: bytepiece unigram's training wall "
        f"time over bytepiece's (`--algorithm bytepiece`) in the same cell, both with the same "
        f"text, size and workers (the default algorithm may stop short of the size, and then "
        f"trains a smaller vocabulary).",
        "", *targets_tables(runs, corpora, vocab_sizes), "",
        *targets_summary(runs, corpora, vocab_sizes),
    ]


def render(args, info: dict, runs: dict) -> str:
    vocab_sizes, corpora = args.vocab_sizes, args.corpora
    lines = []
    if corpora:
        sizes = "; ".join(f"{c} {info['sizes'][c]['train'] / MB:.2f} MB trained on, "
                          f"{info['sizes'][c]['test'] / MB:.2f} MB measured" for c in corpora)
        lines += [
            "## Compression against vocabulary size",
            "",
            f"Bytes per token (UTF-8 bytes of the original text over tokens; higher is better) "
            f"on held-out text, for models trained on each corpus at each vocabulary size. "
            f"Split: corpora/NAME.txt cut into blocks of whole lines of about "
            f"{BLOCK_BYTES // 1024} KB, every {HOLDOUT_EVERY}th held out; training on the other "
            f"blocks at an even stride (about {args.train_mb:g} MB), measuring on the held-out "
            f"blocks at an even stride (about {args.test_mb:g} MB), each line encoded as one "
            f"text, newline kept. {sizes}.",
            "",
        ]
        lines += results_table(runs, corpora, vocab_sizes)
        lines += ["", "(vocab N): the model has N pieces, more than 1% short of the column's "
                      "target (the trainer found no more pieces worth keeping in the text). Every "
                      "model decodes the held-out text back to its bytes unless marked (not "
                      "lossless). BytePiece 0.6.3 is left out: it trains the very model "
                      "bytepiece trains (train.md checks it piece by piece)."]
        if info["plot"]:
            lines += ["", f"Plot: `{info['plot']}`."]
        lines += ["", "### Training time", "",
                  "Wall seconds of each trainer's process, one trainer after the other, each "
                  "vocabulary size trained on its own (as in train.md: start-up and imports "
                  "included; bytepiece's kernels come from numba's cache).", ""]
        lines += results_table(runs, corpora, vocab_sizes, show=seconds)
        lines += ["", "### bytepiece unigram against the targets of issue 14", ""]
        lines += targets_section(runs, corpora, vocab_sizes)
    if (BENCH, args.bench_vocab_size) in runs:
        size, part = args.bench_vocab_size, info["sizes"][BENCH]
        lines += [""] * bool(lines) + [f"## The benchmark corpus at {size} pieces", "",
                  f"`{info['bench_corpus']}` (see corpora/README.md), split as the corpora "
                  f"are (blocks of about {BLOCK_BYTES // 1024} KB, every {HOLDOUT_EVERY}th held "
                  f"out): {part['train'] / MB:.2f} MB trained on (about {args.bench_mb:g} MB "
                  f"asked), {part['test'] / MB:.2f} MB of held-out blocks measured; {size} "
                  f"pieces; bytes per token on the held-out text, wall seconds of each "
                  f"trainer's process.", ""]
        lines += bench_table(runs[BENCH, size], BENCH, size)
        lines += ["", *targets_section(runs, [BENCH], [size])]
    notes = sorted({f"- {c}, {v}, {PEERS[k]}: {r.reason}" for (c, v), results in runs.items()
                    for k, r in results.items() if isinstance(r, Missing)})
    if notes:
        lines += ["", "No figure:", ""] + notes
    lines += ["", "Bytes per token is not the whole story for a language model: see "
                  "docs/benchmarks.md and `bytepiece eval` (tokens per line, pieces used)."]
    lines += ["", "### Setup", ""]
    lines += [f"- {key}: {value}" for key, value in info["setup"].items()]
    lines += ["", "Settings (as in train.md; `--vocab-size` set per column):", ""]
    lines += [f"- {label}: {settings}" for label, settings in info["settings"].items()]
    lines += ["", f"Command: `{info['command']}`; whole run {info['elapsed']:.0f} s.", ""]
    return "\n".join(lines)


def plot(runs: dict, corpora: list[str], vocab_sizes: list[int], path: Path) -> str | Missing:
    """One panel per corpus: bytes/token against the vocabulary reached, a line per system."""
    import _plot

    plt = _plot.pyplot()
    if isinstance(plt, Missing):
        return plt
    cols = min(2, len(corpora))
    rows = -(-len(corpora) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False,
                             constrained_layout=True)
    for ax, corpus in zip(axes.flat, corpora):
        for key in SYSTEMS:
            points = [(r["vocab"], float(bytes_per_token(r, corpus)))
                      for v in vocab_sizes
                      if isinstance(r := runs[corpus, v].get(key), dict)]
            if points:
                ax.plot(*zip(*points), label=PEERS[key], **_plot.STYLE[key])
        ax.set_xscale("log", base=2)
        ax.set_xticks(vocab_sizes, [f"{v // 1000}k" if v >= 1000 else str(v)
                                    for v in vocab_sizes])
        ax.minorticks_off()
        ax.set_title(corpus)
        ax.set_xlabel("vocabulary size (pieces in the model)")
        ax.set_ylabel("bytes per token (held out)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(corpora):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Compression on held-out text (higher is better)")
    _plot.save(fig, path)
    return str(path)


# -- main ------------------------------------------------------------------------

def main(argv=None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    require_psutil()
    load_start = os.getloadavg()[0]
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="compression-", dir=WORK))
    runs, sizes, settings = {}, {}, {}
    bench = None if args.no_bench else bench_corpus(args.bench_corpus)
    try:
        parts, cells = {}, []
        for corpus in args.corpora:
            path = CORPORA / f"{corpus}.txt"
            if not path.is_file():
                raise SystemExit(f"no corpus {path}")
            parts[corpus] = write_split(path, args.train_mb, args.test_mb, folder, corpus)
            cells += [(corpus, v) for v in args.vocab_sizes]
        if bench:
            parts[BENCH] = write_split(bench, args.bench_mb, args.test_mb, folder, BENCH)
            cells.append((BENCH, args.bench_vocab_size))
        sizes = {name: size for name, (_, _, size) in parts.items()}
        warm_up_bytepiece(args.workers)
        if UNIGRAM not in args.skip:
            warm_up_bytepiece(args.workers, "unigram")
        for corpus, vocab_size in cells:
            train_file, test, _ = parts[corpus]
            log(f"{corpus}, vocabulary {vocab_size}:")
            runs[corpus, vocab_size] = run_one(args, corpus, vocab_size, train_file, test, folder)
            for key, r in runs[corpus, vocab_size].items():
                if isinstance(r, dict):
                    settings[r["label"]] = re.sub(r"\b" + str(vocab_size) + r"\b", "N",
                                                  r["settings"])
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    drawn = (plot(runs, args.corpora, args.vocab_sizes, args.plot) if args.corpora
             else Missing("no corpus of the grid was run", "skipped"))
    if isinstance(drawn, Missing):
        log(f"no plot: {drawn.reason}")
    import bytepiece

    versions = {PEERS[k]: r["version"] for results in runs.values() for k, r in results.items()
                if isinstance(r, dict)}
    cores = os.cpu_count() or 1
    info = {
        "sizes": sizes,
        "plot": None if isinstance(drawn, Missing) else os.path.relpath(drawn, args.output.parent),
        "settings": settings,
        "bench_corpus": os.path.relpath(bench, ROOT) if bench else None,
        "command": command_line("benchmarks/compression.py", argv),
        "setup": {
            **machine(cores),
            "load average (1 min) at start, end": load_average(load_start) + " (other work on "
                                                  "the machine slows every trainer, and moves "
                                                  "the time ratios)",
            "bytepiece": getattr(bytepiece, "__version__", "?"),
            **{label: v for label, v in versions.items() if not label.startswith("bytepiece")},
        },
    }
    if isinstance(drawn, Missing):
        info["setup"]["plot"] = f"not drawn: {drawn.reason}"
    info["elapsed"] = time.perf_counter() - started
    report = render(args, info, runs)
    publish(report, args.output, None if isinstance(drawn, Missing) else drawn)
    if args.json:
        data = {"info": info, "runs": [
            {"corpus": c, "vocab_size": v,
             "results": {k: ({"missing": r.label, "reason": r.reason}
                             if isinstance(r, Missing) else r) for k, r in results.items()}}
            for (c, v), results in runs.items()]}
        args.json.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
