"""Compression (bytes per token) against vocabulary size, on each corpus, for every trainer.

For each corpus (corpora/zh, en, code, mixed) and each vocabulary size (8000, 16000,
32000, 64000), bytepiece, SentencePiece unigram and BPE (lossless settings) and Hugging
Face tokenizers' byte-level BPE are trained on a part of the corpus (about --train-mb
MB) and measured on another, held-out part: UTF-8 bytes of the original text over the
number of tokens, and whether decoding gives the text back. Each system gets the same
text on a corpus; zh, at 1.8 MB, gives less than --train-mb. A few MB do not hold 64000
pieces worth keeping for every trainer: the table says which vocabulary each reached.

The split: the corpus is cut into blocks of whole lines of about 64 KB; every 10th block
(the 10th, 20th, ...) is held out. Training takes the other blocks at an even stride
through the corpus, about --train-mb MB of them; measuring takes the held-out blocks at
an even stride, about --test-mb MB. So both parts sample the whole corpus (all its
works or modules), and no held-out line is trained on.

BytePiece 0.6.3 is left out: it trains the same model as bytepiece (train.py checks
that, piece by piece), at a twentieth of the speed.

    python benchmarks/compression.py            # about 2 minutes on 2 cores
    python benchmarks/compression.py --train-mb 0.5 --vocab-sizes 2000,4000 --output /tmp/c.md

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
from _report import command_line, log, machine, publish, require_psutil
from encode import read_lines, table
from train import PEERS, bytes_per_token, measure_compression, train_all, warm_up_bytepiece

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ROOT / "corpora"
WORK = HERE / "work"
RESULTS = HERE / "results"
CORPUS_NAMES = ("zh", "en", "code", "mixed")
VOCAB_SIZES = (8000, 16000, 32000, 64000)
SYSTEMS = ("bytepiece", "sp-unigram", "sp-bpe", "hf-bpe")
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
    p.add_argument("--vocab-sizes", default=",".join(map(str, VOCAB_SIZES)),
                   help="comma-separated (default: %(default)s)")
    p.add_argument("--corpora", default=",".join(CORPUS_NAMES),
                   help="comma-separated names of corpora/NAME.txt (default: %(default)s)")
    p.add_argument("--skip", action="append", default=[], metavar="PEER",
                   help="leave out a trainer (shown as skipped): sp-unigram, sp-bpe, hf-bpe")
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
    if min(args.vocab_sizes, default=0) < 259 or args.train_mb <= 0 or args.test_mb <= 0:
        p.error("every vocabulary size must be at least 259; --train-mb and --test-mb positive")
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


# -- training and measuring ------------------------------------------------------

def run_one(args, corpus: str, vocab_size: int, train_file: Path, test_lines: list[str],
            folder: Path) -> dict[str, dict | Missing]:
    """Train every system at one vocabulary size on one corpus, measure it on the held-out
    lines; key -> result (with "compression", "vocab", "round_trip") or Missing."""
    models = folder / f"{corpus}-{vocab_size}"
    models.mkdir()
    options = SimpleNamespace(vocab_size=vocab_size, workers=args.workers,
                              skip=args.skip | {"reference"}, reference_python=None,
                              interval=0.05)
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


def results_table(runs: dict, corpora: list[str], vocab_sizes: list[int]) -> list[str]:
    """One row per corpus and system, one column per vocabulary size.

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
                         *(cell(runs[corpus, v][key], corpus, v) for v in vocab_sizes)])
    return table(header, rows)


def render(args, info: dict, runs: dict) -> str:
    vocab_sizes, corpora = args.vocab_sizes, args.corpora
    sizes = "; ".join(f"{c} {info['sizes'][c]['train'] / MB:.2f} MB trained on, "
                      f"{info['sizes'][c]['test'] / MB:.2f} MB measured" for c in corpora)
    lines = [
        "## Compression against vocabulary size",
        "",
        f"Bytes per token (UTF-8 bytes of the original text over tokens; higher is better) on "
        f"held-out text, for models trained on each corpus at each vocabulary size. Split: "
        f"corpora/NAME.txt cut into blocks of whole lines of about {BLOCK_BYTES // 1024} KB, "
        f"every {HOLDOUT_EVERY}th held out; training on the other blocks at an even stride "
        f"(about {args.train_mb:g} MB), measuring on the held-out blocks at an even stride "
        f"(about {args.test_mb:g} MB), each line encoded as one text, newline kept. {sizes}.",
        "",
    ]
    lines += results_table(runs, corpora, vocab_sizes)
    lines += ["", "(vocab N): the model has N pieces, more than 1% short of the column's target "
                  "(the trainer found no more pieces worth keeping in the text). Every model "
                  "decodes the held-out text back to its bytes unless marked (not lossless). "
                  "BytePiece 0.6.3 is left out: it trains the very model bytepiece trains "
                  "(train.md checks it piece by piece)."]
    notes = sorted({f"- {c}, {v}, {PEERS[k]}: {r.reason}" for (c, v), results in runs.items()
                    for k, r in results.items() if isinstance(r, Missing)})
    if notes:
        lines += ["", "No figure:", ""] + notes
    if info["plot"]:
        lines += ["", f"Plot: `{info['plot']}`."]
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
    WORK.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="compression-", dir=WORK))
    runs, sizes, settings = {}, {}, {}
    try:
        parts = {}
        for corpus in args.corpora:
            path = CORPORA / f"{corpus}.txt"
            if not path.is_file():
                raise SystemExit(f"no corpus {path}")
            train, test = split_corpus(read_lines(path), args.train_mb * MB, args.test_mb * MB)
            train_file = folder / f"{corpus}-train.txt"
            train_file.write_bytes("".join(train).encode("utf-8"))
            parts[corpus] = train_file, test
            sizes[corpus] = {"train": train_file.stat().st_size,
                             "test": len("".join(test).encode("utf-8"))}
        warm_up_bytepiece(args.workers)
        for corpus, (train_file, test) in parts.items():
            for vocab_size in args.vocab_sizes:
                log(f"{corpus}, vocabulary {vocab_size}:")
                runs[corpus, vocab_size] = run_one(args, corpus, vocab_size, train_file, test,
                                                   folder)
                for key, r in runs[corpus, vocab_size].items():
                    if isinstance(r, dict):
                        settings[r["label"]] = re.sub(r"\b" + str(vocab_size) + r"\b", "N",
                                                      r["settings"])
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    drawn = plot(runs, args.corpora, args.vocab_sizes, args.plot)
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
        "command": command_line("benchmarks/compression.py", argv),
        "setup": {
            **machine(cores),
            "bytepiece": getattr(bytepiece, "__version__", "?"),
            **{label: v for label, v in versions.items() if label != "bytepiece"},
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
