"""Which choices of ``--algorithm unigram`` compress best: each variant of its knobs
(``bytepiece.training.unigram.Choices``) trained on the compression benchmark's split of
every corpus, at each vocabulary size, measured on the held-out text.

The variants: the defaults (prune by probability, shrink 0.5, one EM iteration per
round, 16 seeds per piece); pruning by likelihood loss as Kudo and SentencePiece do,
with and without a final cut by probability; a gentler shrink (0.75), with one or two
EM iterations; fewer seeds; and seeds limited to 6-byte n-grams.

    python benchmarks/unigram_choices.py --sizes 8000 16000 32000 64000   # 6 minutes
    python benchmarks/unigram_choices.py --corpora zh --sizes 8000 --output /tmp/u.md

Writes benchmarks/results/unigram-choices.md: bytes per token per cell, the average
gain over the defaults, and the training seconds (one process, 2 threads).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _report import command_line, footer, load_average, log, machine, publish
from compression import CORPORA, CORPUS_NAMES, RESULTS, split_corpus

VARIANTS: dict[str, dict] = {
    "defaults": {},
    "prune by loss": {"prune_by": "loss", "final_cut": "loss"},
    "prune by loss, final cut by probability": {"prune_by": "loss",
                                                "final_cut": "probability"},
    "shrink 0.75": {"shrink": 0.75},
    "shrink 0.75, 2 EM iterations": {"shrink": 0.75, "em_iterations": 2},
    "4 seeds per piece": {"seed_factor": 4},
    "8 seeds per piece": {"seed_factor": 8},
    "seeds: n-grams of up to 6 bytes": {"seed_length": 6},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", nargs="+", default=list(CORPUS_NAMES))
    parser.add_argument("--sizes", nargs="+", type=int, default=[8000, 32000])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        default=list(VARIANTS))
    parser.add_argument("--train-mb", type=float, default=4.0)
    parser.add_argument("--test-mb", type=float, default=0.5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS / "unigram-choices.md")
    return parser.parse_args(argv)


def measure(choices: dict, train: list[str], test: list[str], size: int,
            workers: int) -> tuple[float, int, float]:
    """(bytes per token on ``test``, vocabulary, training seconds) of one variant."""
    import functools

    from bytepiece import Tokenizer, Trainer
    from bytepiece.model import Model
    from bytepiece.training import unigram

    original = unigram.train_unigram
    unigram.train_unigram = functools.partial(original, choices=unigram.Choices(**choices))
    try:
        start = time.perf_counter()
        trainer = Trainer(max_vocab_size=size, algorithm="unigram")
        trainer.train(train, workers=workers)
        seconds = time.perf_counter() - start
    finally:
        unigram.train_unigram = original
    pieces = trainer.pieces[0]
    tokens = sum(map(len, Tokenizer(Model.from_counts(pieces)).encode_batch(test)))
    return sum(len(t.encode()) for t in test) / tokens, len(pieces) + 3, seconds


def render(args, results: dict, info: dict) -> str:
    """The report: bytes per token per variant and cell, the average against the defaults,
    the seconds."""
    cells = [(c, s) for c in args.corpora for s in args.sizes]
    head = "| variant | " + " | ".join(f"{c} {s // 1000}k" for c, s in cells) + \
        " | vs defaults | seconds |"
    lines = ["## Choices of the unigram algorithm", "",
             "Bytes per token on held-out text (higher is better), as in compression.md's "
             "split, for each variant of `--algorithm unigram` (one training per cell). "
             "\"vs defaults\": the mean ratio over the cells to the defaults' bytes per "
             "token. A cell whose vocabulary fell more than 1% short shows it.", "",
             head, "|" + "---|" * (len(cells) + 3)]
    base = results["defaults"]
    for name in args.variants:
        row = results[name]
        shown = []
        for cell in cells:
            bpt, vocab, _ = row[cell]
            short = f" (vocab {vocab})" if vocab < 0.99 * cell[1] else ""
            shown.append(f"{bpt:.3f}{short}")
        gain = sum(row[c][0] / base[c][0] for c in cells) / len(cells) - 1
        seconds = sum(row[c][2] for c in cells)
        lines.append(f"| {name} | " + " | ".join(shown) + f" | {100 * gain:+.1f}% | "
                     f"{seconds:.0f} |")
    return "\n".join(lines + footer(info, {k: str(v or "the defaults")
                                           for k, v in VARIANTS.items()
                                           if k in args.variants}))


def main(argv=None) -> None:
    started = time.perf_counter()
    args = parse_args(argv)
    if "defaults" not in args.variants:
        args.variants.insert(0, "defaults")
    load_start = os.getloadavg()[0]
    results: dict = {name: {} for name in args.variants}
    for corpus in args.corpora:
        lines = (CORPORA / f"{corpus}.txt").read_text(encoding="utf-8").splitlines(
            keepends=True)
        train, test = split_corpus(lines, args.train_mb * 1e6, args.test_mb * 1e6)
        for size in args.sizes:
            for name in args.variants:
                results[name][corpus, size] = measure(VARIANTS[name], train, test, size,
                                                      args.workers)
                log(f"{corpus} {size} {name}: {results[name][corpus, size][0]:.3f}")
    info = {"setup": {**machine(os.cpu_count() or 1),
                      "load average (1 min) at start, end": load_average(load_start)},
            "command": command_line("benchmarks/unigram_choices.py", argv),
            "elapsed": time.perf_counter() - started}
    publish(render(args, results, info), args.output)


if __name__ == "__main__":
    main()
